//! Fault points: named places in the IPC code where a test can make this process die, to prove
//! that a process killed at that instruction leaves the shared state usable.
//!
//! Without the `fault-injection` cargo feature (which only this crate's tests enable) a point
//! compiles to nothing. With it, [`kill_at`] arms a countdown: the `n`th point this process
//! reaches from then on kills it with `SIGKILL`, exactly as `kill -9` from outside would at that
//! instruction. A test arms 1, 2, 3, ... in fresh children until one finishes the operation
//! alive: that visits every point the operation passes, in order, deterministically.
//!
//! ```
//! # #[cfg(feature = "fault-injection")]
//! # {
//! multiprocessing::fault::kill_at(0); // disarmed: no point kills
//! assert_eq!(multiprocessing::fault::passed(), multiprocessing::fault::passed());
//! # }
//! ```

#[cfg(feature = "fault-injection")]
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Points still to pass before the one that kills; 0: disarmed.
#[cfg(feature = "fault-injection")]
static COUNTDOWN: AtomicU64 = AtomicU64::new(0);

/// Points passed by this process.
#[cfg(feature = "fault-injection")]
static PASSED: AtomicU64 = AtomicU64::new(0);

/// A fault point. `name` says where it is, for the reader of the code.
#[inline(always)]
pub(crate) fn point(name: &'static str) {
    let _ = name;
    #[cfg(feature = "fault-injection")]
    {
        PASSED.fetch_add(1, Relaxed);
        match COUNTDOWN.load(Relaxed) {
            0 => {}
            1 => {
                // SAFETY: raising a signal at ourselves; SIGKILL ends the process here.
                unsafe { libc::raise(libc::SIGKILL) };
            }
            n => COUNTDOWN.store(n - 1, Relaxed),
        }
    }
}

/// Arms the countdown: the `n`th fault point this process reaches from now on kills it with
/// `SIGKILL`; `0` disarms.
///
/// ```
/// multiprocessing::fault::kill_at(0);
/// ```
#[cfg(feature = "fault-injection")]
pub fn kill_at(n: u64) {
    COUNTDOWN.store(n, Relaxed);
}

/// How many fault points this process has passed (a test counts the points of an operation).
///
/// ```
/// let before = multiprocessing::fault::passed();
/// assert!(multiprocessing::fault::passed() >= before);
/// ```
#[cfg(feature = "fault-injection")]
pub fn passed() -> u64 {
    PASSED.load(Relaxed)
}
