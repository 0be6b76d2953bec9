//! Waiting on several processes at once, on Windows (CPython's `multiprocessing.connection.wait`
//! on sentinels).
//!
//! Pipes, queues and the other IPC objects of this crate are Unix-only (README, "What is verified
//! where"); on Windows this module has [`wait`] over process sentinels, so code that waits for
//! the first of several children reads the same on every platform.

use std::io;
use std::time::Duration;

use windows_sys::Win32::Foundation::{WAIT_ABANDONED_0, WAIT_OBJECT_0, WAIT_TIMEOUT};
use windows_sys::Win32::System::Threading::WaitForMultipleObjects;

use crate::error::{Error, Result};
use crate::popen::wait_millis;
use crate::process::Sentinel;

/// How many handles one `WaitForMultipleObjects` call takes (Windows' `MAXIMUM_WAIT_OBJECTS`).
const MAXIMUM_WAIT_OBJECTS: usize = 64;

/// Waits until at least one of `sentinels` is signaled (its process has ended), at most
/// `timeout` (`None`: forever), and returns all that are, in their order in `sentinels`; empty
/// after a timeout.
///
/// ```no_run
/// # fn main() -> multiprocessing::Result<()> {
/// # let (a, b) = (multiprocessing::Process::new(|| (), ()), multiprocessing::Process::new(|| (), ()));
/// let ended = multiprocessing::connection::wait(&[a.sentinel()?, b.sentinel()?], None)?;
/// assert!(!ended.is_empty());
/// # Ok(())
/// # }
/// ```
pub fn wait(sentinels: &[Sentinel], timeout: Option<Duration>) -> Result<Vec<Sentinel>> {
    if sentinels.len() > MAXIMUM_WAIT_OBJECTS {
        return Err(Error::os(
            "WaitForMultipleObjects",
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} sentinels given, but Windows waits on at most {MAXIMUM_WAIT_OBJECTS} at \
                     once: wait on them in groups",
                    sentinels.len()
                ),
            ),
        ));
    }
    // CPython's `_exhaustive_wait`: after the first signaled handle, look again without waiting
    // at the ones after it, so every ended process is returned, not only the first.
    let mut ready = Vec::new();
    let mut rest = sentinels;
    let mut millis = wait_millis(timeout);
    while !rest.is_empty() {
        // SAFETY: `rest` holds `rest.len()` (at most MAXIMUM_WAIT_OBJECTS) handles, which the
        // caller's processes keep open for the call.
        let result =
            unsafe { WaitForMultipleObjects(rest.len() as u32, rest.as_ptr().cast(), 0, millis) };
        let index = match result {
            WAIT_TIMEOUT => break,
            r if (WAIT_OBJECT_0..WAIT_OBJECT_0 + rest.len() as u32).contains(&r) => {
                r - WAIT_OBJECT_0
            }
            r if (WAIT_ABANDONED_0..WAIT_ABANDONED_0 + rest.len() as u32).contains(&r) => {
                r - WAIT_ABANDONED_0
            }
            _ => {
                return Err(Error::os(
                    "WaitForMultipleObjects",
                    io::Error::last_os_error(),
                ))
            }
        } as usize;
        ready.push(rest[index]);
        rest = &rest[index + 1..];
        millis = 0;
    }
    Ok(ready)
}
