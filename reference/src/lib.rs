//! Python's `multiprocessing` process model, in Rust.
//!
//! Processes behave like `multiprocessing.Process`, observable fact for observable fact, under
//! the three start methods (`spawn`, `fork`, `forkserver`): the same names (`Process-1`,
//! `Process-1:1`), the same exit codes (`0`, `1` for a panic, `-15` after `terminate`), the same
//! misuse errors, the same main-guard rules. Where CPython and this crate differ on purpose,
//! `conformance/SPEC.md` says so and why.
//!
//! ```no_run
//! use multiprocessing::{current_process, Process};
//!
//! #[multiprocessing::target]
//! fn worker() {
//!     println!("Process: {}", current_process().name);
//! }
//!
//! fn main() -> multiprocessing::Result<()> {
//!     multiprocessing::main_guard(); // Python's `if __name__ == '__main__':`
//!     let workers: Vec<Process> = (0..4)
//!         .map(|i| Process::new(worker, ()).with_name(format!("Worker-{i}")))
//!         .collect();
//!     for p in &workers {
//!         p.start()?;
//!     }
//!     for p in &workers {
//!         p.join()?;
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Adding the crate
//!
//! The name `multiprocessing` on crates.io belongs to an unrelated crate: `cargo add
//! multiprocessing` gets *that one*. This package is `multiprocessing-rs` (a name free on
//! crates.io; it is not published yet): depend on this repository's `reference` directory by
//! path, or by `git` URL, with that `package`. The library keeps Python's name, so it is
//! `multiprocessing` in code either way:
//!
//! ```toml
//! [dependencies]
//! multiprocessing = { path = "../reference", package = "multiprocessing-rs" }
//! serde = { version = "1", features = ["derive"] } # arguments and results cross through serde
//! ```
//!
//! Call [`main_guard`] first thing in `main` (Python's `if __name__ == '__main__':`): a `spawn`
//! or `forkserver` child re-runs `main` up to there, then becomes the child. In tests, call it
//! first in each test that starts processes, and give each test its own context
//! ([`get_context`]) rather than [`set_start_method`], which may be called once per program.
//! A test that forgets the guard (in a binary where no test called it) gets
//! [`Error::MainGuardMissing`] from a `spawn` or `forkserver` start, naming the fix, and no child
//! re-runs the test harness.
//!
//! # Coming from Python
//!
//! | Python | here |
//! | --- | --- |
//! | `if __name__ == '__main__':` | [`main_guard()`] first in `main` |
//! | `Process(target=f, args=(a,))` | [`Process::new(f, (a,))`](Process::new); `f` is `#[multiprocessing::target]` for `spawn`/`forkserver` |
//! | `p.start()`, `p.join(timeout)`, `p.exitcode`, `p.terminate()` | [`Process::start`], [`Process::join`]/[`Process::join_timeout`], [`Process::exitcode`], [`Process::terminate`] |
//! | `get_context('spawn')`, `set_start_method('fork')` | [`get_context`], [`set_start_method`] |
//! | `Pipe()`, `connection.wait([conn, p.sentinel, q._reader])` | [`connection::pipe`], [`connection::wait`] (connections, sentinels and queues, mixed as `&dyn Waitable`) |
//! | `Queue`, `SimpleQueue`, `JoinableQueue` | `queue::Queue`, `queue::SimpleQueue`, `queue::JoinableQueue` (Unix) |
//! | `Value`, `Array`, `shared_memory.SharedMemory` | `shared::Value`, `shared::Array`, `shared::SharedMemory` (Unix) |
//! | `Lock`, `RLock`, `Semaphore`, `Condition`, `Event`, `Barrier` | `sync::*` (Unix) |
//! | `with Pool(4) as pool: pool.map(f, xs)` | `pool::Pool::new(Some(4))?.map(f, xs, None)` (Unix; dropping the pool terminates it) |
//! | `pool.imap_unordered`, `apply_async(...).get(timeout)` | `Pool::imap_unordered`, `Pool::apply_async` → `AsyncResult::get` |
//! | `ProcessPoolExecutor().submit(f, x).result()` | `executor::Executor::new(None)?.submit(f, (x,))?.result(None)`; also `.await` (Unix) |
//! | an exception in a child or a task | a panic: exit code 1, or [`Error::TaskFailed`] with the message and location |
//! | pickle | serde: an argument that cannot be serialized is [`Error::Serialization`] before anything starts |
//! | `Manager`, `Listener`/`Client`, `Pool(callback=)`, `Pool.imap` of a lazy iterable | not here (an iterable is collected when the call is made) |
//!
//! The pieces, one module per concept: [`process`] (the `Process` handle, this process's
//! identity), [`context`] (start methods and the default per platform), `bootstrap` (the main
//! guard), `spawn`, `fork` and `forkserver` (the start methods), [`connection`] (pipes, and
//! waiting on connections and sentinels), `queue`, `shared` and `sync` (the other IPC objects),
//! `pool` and `executor` (worker pools), and [`Error`].
//!
//! Platforms: everything on Linux (tested) and macOS; on Windows the process model with `spawn`,
//! and [`connection::wait`] on sentinels. `fork`, `forkserver`, the IPC objects and the pools are
//! Unix-only.

#![warn(missing_docs)]

// The process model exists on every platform; `fork`, `forkserver` and the IPC objects on Unix.
// Where a concept has a Windows implementation of its own, it lives in `<module>/windows.rs`.
mod bootstrap;
#[cfg_attr(windows, path = "connection/windows.rs")]
pub mod connection;
pub mod context;
mod error;
#[cfg(unix)]
pub mod executor;
mod exit;
// Test-only fault points: public, and not part of the API, with the `fault-injection` feature;
// nothing without it.
#[cfg(all(unix, feature = "fault-injection"))]
#[doc(hidden)]
pub mod fault;
#[cfg(all(unix, not(feature = "fault-injection")))]
mod fault;
// Test-only fuzz targets (the `fuzzing` feature).
#[cfg(unix)]
mod fork;
#[cfg(unix)]
mod forkserver;
#[cfg(all(unix, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzz;
#[cfg(unix)]
pub mod pool;
#[cfg_attr(windows, path = "popen/windows.rs")]
mod popen;
pub mod process;
#[cfg(unix)]
pub mod queue;
#[cfg(unix)]
mod resource_tracker;
#[cfg(unix)]
pub mod shared;
mod spawn;
#[cfg(unix)]
pub mod sync;
#[cfg(unix)]
mod sys;
mod target;
mod wire;

pub use bootstrap::main_guard;
pub use context::{
    get_all_start_methods, get_context, get_start_method, set_start_method, Context, Platform,
    StartMethod,
};
pub use error::{Error, Result};
pub use exit::exit;
pub use multiprocessing_macros::target;
pub use process::{
    active_children, cpu_count, current_process, parent_process, CurrentProcess, ParentProcess,
    Process, Sentinel,
};
#[cfg(unix)]
pub use sync::Event;
pub use target::{Target, TargetResult, Task};

/// What the code generated by `#[target]` refers to. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::target::{
        run_registered, Probe, RunAsTarget, RunAsTargetFallback, RunAsTask, RunAsTaskFallback,
        TargetEntry, TARGETS,
    };
    pub use linkme;
}

/// The warning `fork` prints when other threads are alive (CPython 3.12+'s wording), for a given
/// pid. Exposed so tests and tools can match it exactly. Unix only, as `fork` is.
///
/// ```
/// assert_eq!(
///     multiprocessing::fork_warning(42),
///     "DeprecationWarning: This process (pid=42) is multi-threaded, use of fork() may lead to \
///      deadlocks in the child."
/// );
/// ```
#[cfg(unix)]
pub fn fork_warning(pid: u32) -> String {
    fork::multithreaded_warning(pid)
}
