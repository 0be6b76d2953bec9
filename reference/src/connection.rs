//! Connections between processes (CPython's `multiprocessing.connection`). For now: [`wait`].

use std::os::fd::{BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::error::{Error, Result};

/// Waits until at least one of `fds` is ready (readable, or its peer closed) and returns the ready
/// ones, in the order given; with a timeout, an empty list when it passes first (CPython's
/// `multiprocessing.connection.wait`). Sentinels of processes are such descriptors.
///
/// ```no_run
/// # fn main() -> multiprocessing::Result<()> {
/// # let (a, b) = (multiprocessing::Process::new(|| {}, ()), multiprocessing::Process::new(|| {}, ()));
/// let ended = multiprocessing::connection::wait(&[a.sentinel()?, b.sentinel()?], None)?;
/// # Ok(()) }
/// ```
pub fn wait(fds: &[RawFd], timeout: Option<Duration>) -> Result<Vec<RawFd>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        // SAFETY: the caller passes descriptors it keeps open for the duration of the call.
        let borrowed: Vec<BorrowedFd<'_>> = fds
            .iter()
            .map(|&fd| unsafe { BorrowedFd::borrow_raw(fd) })
            .collect();
        let mut polls: Vec<PollFd<'_>> = borrowed
            .iter()
            .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
            .collect();
        let wait = match deadline {
            None => PollTimeout::NONE,
            Some(deadline) => {
                let ms = deadline
                    .saturating_duration_since(Instant::now())
                    .as_micros()
                    .div_ceil(1000);
                PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        match nix::poll::poll(&mut polls, wait) {
            Ok(0) if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(Vec::new()),
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {
                return Ok(fds
                    .iter()
                    .zip(&polls)
                    .filter(|(_, poll)| poll.revents().is_some_and(|r| !r.is_empty()))
                    .map(|(&fd, _)| fd)
                    .collect())
            }
            Err(errno) => return Err(Error::os("poll", errno)),
        }
    }
}
