//! A started child as its parent sees it (CPython's `Popen` objects): its pid, its sentinel, and
//! how to learn its exit code.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::forkserver::Status;
use crate::sys;

/// How the exit status reaches the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reaper {
    /// The child is ours (`fork`, `spawn`): `waitpid` it.
    Parent,
    /// The forkserver is the OS-level parent: it writes the exit code (an `i32`, little-endian)
    /// to the sentinel socket when the child ends.
    Forkserver,
}

#[derive(Debug)]
pub(crate) struct Popen {
    pub(crate) pid: Pid,
    /// Readable once the child has ended (a pipe or socket whose other end only the child holds,
    /// or the forkserver's status pipe).
    sentinel: OwnedFd,
    reaper: Reaper,
    returncode: Mutex<Option<i32>>,
    /// Held while blocking to reap, so two joiners never both `waitpid` the same pid.
    reaping: Mutex<()>,
}

/// CPython's exit code for a wait status: the exit status, or `-N` for signal `N`.
pub(crate) fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(-(signal as i32)),
        _ => None,
    }
}

impl Popen {
    pub(crate) fn new(pid: Pid, sentinel: OwnedFd, reaper: Reaper) -> Popen {
        Popen {
            pid,
            sentinel,
            reaper,
            returncode: Mutex::new(None),
            reaping: Mutex::new(()),
        }
    }

    pub(crate) fn sentinel(&self) -> RawFd {
        self.sentinel.as_raw_fd()
    }

    fn known(&self) -> Option<i32> {
        *self.returncode.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn record(&self, code: i32) -> i32 {
        *self.returncode.lock().unwrap_or_else(|p| p.into_inner()) = Some(code);
        code
    }

    /// The exit code if the child has ended, without blocking (CPython's `Popen.poll()`).
    pub(crate) fn poll(&self) -> Result<Option<i32>> {
        if let Some(code) = self.known() {
            return Ok(Some(code));
        }
        // Someone else is blocked reaping this child: it is still running as far as we know.
        let Ok(_reaping) = self.reaping.try_lock() else {
            return Ok(None);
        };
        if let Some(code) = self.known() {
            return Ok(Some(code));
        }
        self.reap(false)
    }

    /// Waits for the child to end, at most `timeout` (CPython's `Popen.wait()`).
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<Option<i32>> {
        if let Some(code) = self.known() {
            return Ok(Some(code));
        }
        // A child that ends at once (as most joined right after a quick task do) is joined
        // without sleeping; see `sys::SPIN`.
        if timeout.is_none_or(|t| t >= sys::SPIN) {
            sys::spin_readable(self.sentinel.as_fd());
        }
        if let Some(timeout) = timeout {
            let ready = sys::wait_readable(self.sentinel.as_fd(), Some(timeout))
                .map_err(|e| Error::os("waiting for a child's sentinel", e))?;
            if !ready {
                return Ok(None);
            }
        }
        let _reaping = self.reaping.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(code) = self.known() {
            return Ok(Some(code));
        }
        self.reap(true)
    }

    /// Collects the exit status; the caller holds `reaping`.
    fn reap(&self, block: bool) -> Result<Option<i32>> {
        match self.reaper {
            Reaper::Parent => {
                let flags = (!block).then_some(WaitPidFlag::WNOHANG);
                loop {
                    match waitpid(self.pid, flags) {
                        Ok(WaitStatus::StillAlive) => return Ok(None),
                        // Not a child of this process (a `fork` child polling a sibling's
                        // object): nothing to know here, as CPython's `poll()` answers `None`.
                        Err(nix::errno::Errno::ECHILD) if !block => return Ok(None),
                        Ok(status) => match exit_code(status) {
                            Some(code) => return Ok(Some(self.record(code))),
                            None => continue,
                        },
                        Err(nix::errno::Errno::EINTR) => continue,
                        Err(errno) => return Err(Error::os("waitpid", errno)),
                    }
                }
            }
            Reaper::Forkserver => {
                if !block
                    && !sys::wait_readable(self.sentinel.as_fd(), Some(Duration::ZERO))
                        .map_err(|e| Error::os("polling a forkserver child", e))?
                {
                    return Ok(None);
                }
                loop {
                    match Status::read(self.sentinel.as_fd()) {
                        Ok(Some(Status::Exited(code))) => return Ok(Some(self.record(code))),
                        Ok(Some(_)) => continue,
                        // The server died without reporting: the status is unknowable. CPython's
                        // forkserver Popen reports 255 in this case.
                        Ok(None) | Err(_) => return Ok(Some(self.record(255))),
                    }
                }
            }
        }
    }

    /// The child's pid (CPython's `Popen.pid`).
    pub(crate) fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// `SIGINT` (CPython 3.14's `Popen.interrupt()`): exit code `1`, see
    /// [`KeyboardInterrupt`](crate::exit::KeyboardInterrupt).
    pub(crate) fn interrupt(&self) -> Result<()> {
        self.send_signal(Signal::SIGINT)
    }

    /// `SIGTERM` (CPython's `Popen.terminate()`): exit code `-15`.
    pub(crate) fn terminate(&self) -> Result<()> {
        self.send_signal(Signal::SIGTERM)
    }

    /// `SIGKILL` (CPython's `Popen.kill()`): exit code `-9`.
    pub(crate) fn kill(&self) -> Result<()> {
        self.send_signal(Signal::SIGKILL)
    }

    /// Sends `signal` unless the child is known to have ended (CPython's `_send_signal`).
    pub(crate) fn send_signal(&self, signal: Signal) -> Result<()> {
        if self.poll()?.is_some() {
            return Ok(());
        }
        match kill(self.pid, signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(errno) => Err(Error::os("kill", io::Error::from(errno))),
        }
    }
}
