//! `spawn` on Windows: `CreateProcess` of this executable (through `std::process::Command`), with
//! the preparation data written to the child's stdin.
//!
//! CPython hands a spawned Windows child a pipe handle on its command line
//! (`--multiprocessing-fork parent_pid=... pipe_handle=...`) and the child duplicates it out of
//! its parent. Here the pipe is the child's standard input instead: the parent writes one frame
//! and closes its end, so after its preparation data the child reads end-of-file, as a CPython
//! child reads from the `os.devnull` that replaces its `sys.stdin`. std creates every handle
//! non-inheritable, so the child inherits nothing but its three standard handles.
//!
//! The sentinel is the process handle, which becomes signaled when the child ends
//! (CPython's `Popen._handle`).

use std::process::{Command, Stdio};

use super::Prepared;
use crate::bootstrap;
use crate::error::{Error, Result};
use crate::popen::Popen;
use crate::wire;

/// Spawns a child and hands it its preparation data.
pub(crate) fn start(prepared: &Prepared) -> Result<Popen> {
    let exe = std::env::current_exe().map_err(|e| Error::os("current_exe", e))?;
    let entry = bootstrap::entry_for_children();
    let mut child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(bootstrap::ENV, bootstrap::spawn_value(entry, 0))
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| Error::os("CreateProcess", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A child that died before reading shows up in its exit code; the write error adds
        // nothing. Dropping `stdin` closes the pipe: the child reads end-of-file after the frame.
        let _ = wire::write_frame_to(&mut stdin, &prepared.bytes);
    }
    Ok(Popen::new(child))
}
