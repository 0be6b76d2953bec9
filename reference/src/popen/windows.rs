//! A started child as its parent sees it, on Windows (CPython's `popen_spawn_win32.Popen`): the
//! process handle is both how to learn the exit code and the sentinel.
//!
//! Exit codes follow CPython's Windows rules: `terminate()` is `TerminateProcess` with the exit
//! code `0x10000`, reported as `-15` (`-SIGTERM`); `kill()` is the same call, as CPython's
//! `kill = terminate`; any other code is the process's exit code. Exit codes are `i32` here, so a
//! status above `i32::MAX` reads back negative (`exit(-3)` as `-3`), where CPython shows the
//! unsigned `DWORD` (`4294967293`).

use std::io;
use std::os::windows::io::{AsRawHandle, RawHandle};
use std::process::Child;
use std::sync::Mutex;
use std::time::Duration;

use windows_sys::Win32::Foundation::{STILL_ACTIVE, WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, TerminateProcess, WaitForSingleObject, INFINITE,
};

use crate::error::{Error, Result};

/// The exit code `terminate()` gives (CPython's `popen_spawn_win32.TERMINATE`).
const TERMINATE: u32 = 0x10000;

/// CPython's exit code for a Windows exit status.
fn exit_code(status: u32) -> i32 {
    if status == TERMINATE {
        -15
    } else {
        status as i32
    }
}

/// Milliseconds to wait for `timeout` (CPython: `int(timeout * 1000 + 0.5)`); `INFINITE` for
/// none. A timeout too long to express waits for as long as Windows can without `INFINITE`.
pub(crate) fn wait_millis(timeout: Option<Duration>) -> u32 {
    match timeout {
        None => INFINITE,
        Some(timeout) => {
            let millis = (timeout.as_micros() + 500) / 1000;
            u32::try_from(millis).map_or(INFINITE - 1, |m| m.min(INFINITE - 1))
        }
    }
}

#[derive(Debug)]
pub(crate) struct Popen {
    /// Owns the process handle (closed on drop). Never waited through std: the handle is waited
    /// on directly, with a timeout, by any number of threads.
    child: Child,
    returncode: Mutex<Option<i32>>,
}

impl Popen {
    pub(crate) fn new(child: Child) -> Popen {
        Popen {
            child,
            returncode: Mutex::new(None),
        }
    }

    /// The child's process id (CPython's `Popen.pid`).
    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The process handle: signaled once the child has ended.
    pub(crate) fn sentinel(&self) -> RawHandle {
        self.child.as_raw_handle()
    }

    fn known(&self) -> Option<i32> {
        *self.returncode.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, code: i32) -> i32 {
        *self.returncode.lock().unwrap_or_else(|p| p.into_inner()) = Some(code);
        code
    }

    /// The exit code if the child has ended, without blocking (CPython's `Popen.poll()`).
    pub(crate) fn poll(&self) -> Result<Option<i32>> {
        self.wait(Some(Duration::ZERO))
    }

    /// Waits for the child to end, at most `timeout` (CPython's `Popen.wait()`).
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<Option<i32>> {
        if let Some(code) = self.known() {
            return Ok(Some(code));
        }
        // SAFETY: the handle is owned by `self.child`, open for as long as `self` lives.
        match unsafe { WaitForSingleObject(self.sentinel(), wait_millis(timeout)) } {
            WAIT_OBJECT_0 => {}
            WAIT_TIMEOUT => return Ok(None),
            _ => {
                return Err(Error::os(
                    "waiting for a child's process handle",
                    io::Error::last_os_error(),
                ))
            }
        }
        match self.exit_status()? {
            Some(status) => Ok(Some(self.record(exit_code(status)))),
            None => Ok(None),
        }
    }

    /// The raw exit status, `None` while the process runs.
    fn exit_status(&self) -> Result<Option<u32>> {
        let mut status = 0u32;
        // SAFETY: the handle is open (see `wait`); `status` is a valid place for the result.
        if unsafe { GetExitCodeProcess(self.sentinel(), &mut status) } == 0 {
            return Err(Error::os("GetExitCodeProcess", io::Error::last_os_error()));
        }
        Ok((status != STILL_ACTIVE as u32).then_some(status))
    }

    /// `TerminateProcess` with CPython's exit code (CPython's `Popen.terminate()`): exit code
    /// `-15`, recorded at once, as CPython does. Nothing happens to a child known to have ended.
    pub(crate) fn terminate(&self) -> Result<()> {
        if self.known().is_some() {
            return Ok(());
        }
        // SAFETY: the handle is open (see `wait`); TerminateProcess has no memory arguments.
        if unsafe { TerminateProcess(self.sentinel(), TERMINATE) } != 0 {
            self.record(exit_code(TERMINATE));
            return Ok(());
        }
        let err = io::Error::last_os_error();
        // Access is denied once the process has ended: then its exit code is the answer.
        match self.exit_status()? {
            Some(status) => {
                self.record(exit_code(status));
                Ok(())
            }
            None => Err(Error::os("TerminateProcess", err)),
        }
    }

    /// Windows cannot send `SIGINT` to another process, and CPython's Windows `Popen` has no
    /// `interrupt()` (an `AttributeError`).
    pub(crate) fn interrupt(&self) -> Result<()> {
        Err(Error::InvalidOperation(
            "interrupt() sends SIGINT, which Windows cannot send to another process (CPython's \
             Windows processes have no interrupt() either): use terminate()"
                .to_owned(),
        ))
    }

    /// The same as [`terminate`](Self::terminate), as in CPython (`kill = terminate`).
    pub(crate) fn kill(&self) -> Result<()> {
        self.terminate()
    }
}
