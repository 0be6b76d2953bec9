//! The `fork` start method: the child is a copy of the parent at `start`, and runs the target
//! it already has in memory. Nothing is serialized, so a closure is a fine target (CPython does
//! not pickle a `fork` child's target either).
//!
//! The hazard: `fork()` copies only the calling thread. A lock another thread held at that moment
//! stays locked forever in the child, and the child may then deadlock, typically inside `malloc`.
//! So, as CPython 3.12+ does, `start` warns when other threads are alive, and this module keeps
//! the crate's own code between `fork()` and the target async-signal-safe (see [`start`]).

use std::os::fd::IntoRawFd;

use nix::unistd::{fork, ForkResult};

use crate::error::Error;
use crate::popen::{Popen, Reaper};
use crate::process::{self, ProcessShared};
use crate::target::BoundTarget;
use crate::{bootstrap, context, exit, forkserver, resource_tracker, sys};

/// CPython 3.12's wording (`DeprecationWarning` from `os.fork()`).
pub(crate) fn multithreaded_warning(pid: u32) -> String {
    format!(
        "DeprecationWarning: This process (pid={pid}) is multi-threaded, use of fork() may lead \
         to deadlocks in the child."
    )
}

fn warn_if_multithreaded() {
    if sys::thread_count().is_some_and(|n| n > 1) {
        eprintln!("{}", multithreaded_warning(std::process::id()));
    }
}

/// Forks a child that runs `bound`. On failure the target comes back to the caller.
pub(crate) fn start(
    shared: &ProcessShared,
    bound: Box<dyn BoundTarget>,
    name: String,
    daemon: bool,
) -> Result<Popen, (Box<dyn BoundTarget>, Error)> {
    warn_if_multithreaded();
    // The program's resource tracker, started now if need be, so the child shares it.
    if let Err(err) = resource_tracker::ensure_running() {
        return Err((bound, err));
    }
    let (sentinel_r, sentinel_w) = match sys::pipe(false) {
        Ok(pair) => pair,
        Err(err) => return Err((bound, Error::os("pipe", err))),
    };
    sys::flush_std_streams();
    // The child's stdin, opened here: an `open` in the child costs it far more (see `stdin_from`).
    let dev_null = sys::open_dev_null();

    // The crate's locks, taken in a fixed order and held across fork(), so the child gets them
    // unlocked and consistent however busy the parent's other threads are.
    let mut this = process::this();
    // A fork child's default becomes `fork`, as CPython's `_bootstrap` forces it.
    let mut default = context::lock_for_fork();
    let mut server = forkserver::lock_for_fork();
    let tracker = resource_tracker::lock_for_fork();
    // Everything the child will need is allocated now, before fork().
    let child_state = this.for_child(shared, name, daemon);
    // Blocks SIGINT until the child has its handler (and, in the parent, until it is dropped).
    let interrupt = exit::KeyboardInterrupt::for_child(&child_state.name);

    // SAFETY: fork() itself is sound; what the child does before running the target is limited
    // to async-signal-safe operations, as documented at the `Child` arm below.
    match unsafe { fork() } {
        Err(errno) => Err((bound, Error::os("fork", errno))),
        Ok(ForkResult::Parent { child }) => {
            drop((tracker, server, default, this));
            drop((sentinel_w, dev_null));
            Ok(Popen::new(child, sentinel_r, Reaper::Parent))
        }
        Ok(ForkResult::Child) => {
            // Async-signal-safety in the child, until the target runs: only close(), dup2(),
            // sigaction(), pthread_sigmask(), atomic loads and stores, and the unlock of locks this thread holds (an
            // atomic store and at most a futex wake). No allocation and no free: the new state
            // and the SIGINT message were built before fork() and the old ones are forgotten, not
            // dropped. No other lock is taken.
            drop(sentinel_r); // close()
            let _ = sentinel_w.into_raw_fd(); // kept open until exit: the parent's sentinel
            sys::stdin_from(dev_null); // dup2() and close()
            forkserver::forget_in_fork_child(&mut server); // close() of the parent's control fd
            std::mem::forget(std::mem::replace(&mut *this, child_state));
            *default = Some(context::StartMethod::Fork); // a plain store
            drop((tracker, server, default, this));
            bootstrap::mark_started_by_fork();
            interrupt.install(); // SIGINT ends the child as KeyboardInterrupt: exit code 1

            // From here on the user's target runs. It is not bound by async-signal-safety: that
            // is exactly the hazard the multi-threaded warning names.
            let code = bootstrap::run_target(|| bound.run());
            exit::exit_child(code)
        }
    }
}
