//! The crate's error type: one enum whose variants carry the meaning of the Python exception
//! `multiprocessing` raises in the same situation.

use std::io;

/// Everything that can go wrong in this crate.
///
/// Each variant names the Python equivalent in its documentation; the messages follow CPython's
/// wording where CPython has one and then say how to fix the problem.
///
/// ```
/// use multiprocessing::Error;
/// let err = multiprocessing::get_context(Some("thread")).unwrap_err();
/// assert!(matches!(err, Error::UnknownContext(_)));
/// assert_eq!(err.to_string(), "cannot find context for 'thread'");
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A spawned child tried to start a process while it was still re-running `main` before the
    /// guard (CPython: `RuntimeError` from `spawn._check_not_importing_main`).
    #[error(
        "An attempt has been made to start a new process before the current process has finished \
         its bootstrapping phase. This probably means that you are not using the main guard: {} \
         runs main() from its start, and it reached Process::start() before reaching multiprocessing::main_guard(). Fix: call multiprocessing::main_guard() \
         first thing in main(), before any code that starts a process (Python's \
         `if __name__ == '__main__':` idiom).",
        if *method == "forkserver" { "the forkserver" } else { "a spawn child" }
    )]
    Bootstrapping {
        /// The start method that created this process (`spawn`, or `forkserver` for the
        /// forkserver itself).
        method: &'static str,
    },

    /// A `spawn` or `forkserver` start from a thread other than the main thread, in a process
    /// that never called [`main_guard`](crate::main_guard): under `cargo test`, a test that forgot
    /// the guard, whose child would re-run the test harness instead of its target. Its kind is
    /// `Bootstrapping` (the same mistake, caught in the parent).
    #[error(
        "multiprocessing::main_guard() was never called in this process, and Process::start() \
         ran on a thread other than main's: under `cargo test` this is a test that starts a \
         {method} process without the guard, and the child would re-run the test harness \
         instead of its target. Fix: call multiprocessing::main_guard() first thing in each \
         test that starts processes (its children then take over before the harness's main); \
         in a program, call it first thing in main(). No process was started."
    )]
    MainGuardMissing {
        /// The start method asked for (`spawn` or `forkserver`).
        method: &'static str,
    },

    /// `join` or `is_alive` of a process object this process did not create, e.g. a sibling
    /// inherited under `fork` (CPython: `AssertionError: can only join a child process`, `...
    /// can only test a child process`).
    #[error(
        "can only {operation} a child process: this Process object was created by another \
         process (only its creator may join or test it)"
    )]
    NotAChild {
        /// `join` or `test` (`is_alive`), CPython's words.
        operation: &'static str,
    },

    /// The forkserver ended before it could start the child: it runs `main` up to
    /// [`main_guard`](crate::main_guard) once before serving, and a program that starts a
    /// `spawn` or `forkserver` process before the guard fails there (CPython 3.14:
    /// `ConnectionResetError` from `start()`; 3.13.8+: `EOFError`). No child exists.
    #[error(
        "the forkserver exited ({status}) before it started the child: it runs main() up to \
         multiprocessing::main_guard() once before serving, and its stderr says what failed \
         there. A program that starts a process before main_guard() fails so: call \
         multiprocessing::main_guard() first thing in main()."
    )]
    ForkServerFailed {
        /// How it ended, e.g. `exit status 1`.
        status: String,
    },

    /// A target or an argument cannot be serialized to cross a process boundary (CPython:
    /// `pickle.PicklingError`, `TypeError: cannot pickle ...`, `AttributeError: Can't pickle local
    /// object`). Returned by `start` in the parent before any process is created.
    #[error("cannot serialize {what}: {reason}")]
    Serialization {
        /// What could not be serialized, e.g. `the argument of target 'app::work'`.
        what: String,
        /// Why, including how to fix it where we know.
        reason: String,
    },

    /// A value received from another process could not be deserialized (CPython: an
    /// `UnpicklingError` in the receiver).
    #[error("cannot deserialize {what}: {reason}")]
    Deserialization {
        /// What was being deserialized, naming the expected type.
        what: String,
        /// Why.
        reason: String,
    },

    /// `start` on a process that was already started (CPython: `AssertionError: cannot start a
    /// process twice`).
    #[error("cannot start a process twice")]
    AlreadyStarted,

    /// `join`, `terminate` or `kill` on a process that was never started (CPython:
    /// `AssertionError: can only join a started process`).
    #[error("can only {operation} a started process: call start() first")]
    NotStarted {
        /// The operation that was attempted.
        operation: &'static str,
    },

    /// Changing a setting of a process after `start` (CPython: `AssertionError: process has
    /// already started`).
    #[error("process has already started: set {setting} before calling start()")]
    AlreadyRunning {
        /// The setting that was changed too late.
        setting: &'static str,
    },

    /// Any use of a closed process (CPython: `ValueError: process object is closed`).
    #[error("process object is closed")]
    Closed,

    /// `close` on a process that is still running (CPython: `ValueError`).
    #[error(
        "Cannot close a process while it is still running. You should first call join() or \
         terminate()."
    )]
    StillRunning,

    /// A daemonic process tried to start a child (CPython: `AssertionError`).
    #[error(
        "daemonic processes are not allowed to have children: start this process with \
         daemon=false if it needs children of its own"
    )]
    DaemonicChildren,

    /// `get_context`/`set_start_method` with a name that is no start method (CPython:
    /// `ValueError: cannot find context for 'x'`).
    #[error("cannot find context for '{0}'")]
    UnknownContext(String),

    /// A start method this platform does not have, such as `fork` on Windows (CPython:
    /// `ValueError: cannot find context for 'fork'`).
    #[error(
        "cannot find context for '{method}': the {method} start method is not available on \
         {platform}; use one of: {available}"
    )]
    UnsupportedStartMethod {
        /// The start method asked for.
        method: &'static str,
        /// This platform's name.
        platform: &'static str,
        /// The start methods this platform has, comma-separated.
        available: String,
    },

    /// `set_start_method` a second time without `force` (CPython: `RuntimeError: context has
    /// already been set`).
    #[error(
        "context has already been set: set_start_method() may be called once, before any process \
         starts; pass force=true to change it, or use get_context() for a second method"
    )]
    ContextAlreadySet,

    /// `recv` on a connection whose other end is closed, every message read (CPython:
    /// `EOFError`).
    #[error("end of file: the other end of the connection is closed and every message was read")]
    Eof,

    /// A non-blocking or timed `get` found nothing (CPython: `queue.Empty`).
    #[error("the queue is empty")]
    Empty,

    /// A non-blocking or timed `put` found a bounded queue full (CPython: `queue.Full`).
    #[error("the queue is full (maxsize {maxsize})")]
    Full {
        /// The queue's bound.
        maxsize: usize,
    },

    /// A shared-memory segment (or other named resource) does not exist (CPython:
    /// `FileNotFoundError`).
    #[error("no shared memory segment named '{name}': it was never created, or already unlinked")]
    NotFound {
        /// The name looked up.
        name: String,
    },

    /// Creating a named resource that exists already (CPython: `FileExistsError`).
    #[error("a shared memory segment named '{name}' exists already: attach to it with create=false, or pick another name")]
    AlreadyExists {
        /// The name.
        name: String,
    },

    /// An operation the object does not allow, such as sending on the receiving end of a one-way
    /// pipe, or using a closed connection (CPython: `OSError`/`ValueError`).
    #[error("{0}")]
    InvalidOperation(String),

    /// A message or frame that cannot be valid (a corrupt or truncated stream).
    #[error("corrupt data: {0}")]
    Corrupt(String),

    /// The process that held a lock died while holding it; the lock is now held by the caller,
    /// and the state it protects may be inconsistent.
    #[error("the previous owner of the lock died while holding it: the caller now holds it; check the protected state")]
    OwnerDied,

    /// A barrier was broken, reset, or timed out (CPython: `threading.BrokenBarrierError`).
    #[error("the barrier is broken")]
    BrokenBarrier,

    /// A pool or executor task panicked in its worker (CPython re-raises the task's exception in
    /// the caller, with the remote traceback). The message and location are the worker's panic.
    #[error("task failed in {process}{}: {message}", location.as_ref().map(|l| format!(" at {l}")).unwrap_or_default())]
    TaskFailed {
        /// The worker process's name.
        process: String,
        /// The panic message.
        message: String,
        /// Where the task panicked (`file:line:column`), when known.
        location: Option<String>,
    },

    /// The pool worker running a task died before returning its result (killed, or it called
    /// `exit`). The pool replaced the worker; other tasks go on. (CPython's `Pool` waits for
    /// ever here; see `conformance/SPEC.md` section 12.)
    #[error("the pool worker {process} (pid {pid}) died{} while running this task; the pool replaced it, and the other tasks go on", exitcode.map(|c| format!(" with exit code {c}")).unwrap_or_default())]
    WorkerLost {
        /// The worker's name.
        process: String,
        /// The worker's pid.
        pid: i32,
        /// Its exit code (`-9` when killed by `SIGKILL`), when known.
        exitcode: Option<i32>,
    },

    /// A worker of an executor died abruptly, so the executor is broken: every pending future
    /// fails with this, and so does every later `submit` (CPython:
    /// `concurrent.futures.process.BrokenProcessPool`).
    #[error("{0}")]
    BrokenProcessPool(String),

    /// A result was not ready within the timeout (CPython: `multiprocessing.TimeoutError`,
    /// `TimeoutError` from `Future.result`).
    #[error("the result is not ready within the timeout")]
    Timeout,

    /// The future was cancelled before it ran (CPython: `concurrent.futures.CancelledError`).
    #[error("the future was cancelled before it ran")]
    Cancelled,

    /// An error of the program using this crate, made with [`Error::other`] or converted from a
    /// [`std::io::Error`] (`?` on an I/O call in a function returning this crate's `Result`).
    #[error("{0}")]
    Other(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),

    /// An operating-system call failed.
    #[error("{operation} failed: {source}")]
    Os {
        /// What the crate was doing.
        operation: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// `kind: message`, so that `unwrap()` and `fn main() -> Result<..>` show the message, which says
/// how to fix the problem.
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {self}", self.kind())
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The error's kind in the conformance spec's vocabulary (`conformance/SPEC.md`, 0.2): the
    /// variant's name, and `Os` for an operating-system failure.
    ///
    /// ```
    /// let err = multiprocessing::set_start_method(Some("nope"), true).unwrap_err();
    /// assert_eq!(err.kind(), "UnknownContext");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Bootstrapping { .. } | Error::MainGuardMissing { .. } => "Bootstrapping",
            Error::Serialization { .. } => "Serialization",
            Error::Deserialization { .. } => "Deserialization",
            Error::AlreadyStarted => "AlreadyStarted",
            Error::NotStarted { .. } => "NotStarted",
            Error::AlreadyRunning { .. } => "AlreadyRunning",
            Error::Closed => "Closed",
            Error::StillRunning => "StillRunning",
            Error::DaemonicChildren => "DaemonicChildren",
            Error::UnknownContext(_) => "UnknownContext",
            Error::UnsupportedStartMethod { .. } => "UnknownContext",
            Error::ContextAlreadySet => "ContextAlreadySet",
            Error::Eof => "Eof",
            Error::Empty => "Empty",
            Error::Full { .. } => "Full",
            Error::NotFound { .. } => "NotFound",
            Error::AlreadyExists { .. } => "AlreadyExists",
            Error::InvalidOperation(_) => "InvalidOperation",
            Error::Corrupt(_) => "Corrupt",
            Error::OwnerDied => "OwnerDied",
            Error::BrokenBarrier => "BrokenBarrier",
            Error::Os { .. } => "Os",
            Error::ForkServerFailed { .. } => "ForkServerFailed",
            Error::NotAChild { .. } => "NotAChild",
            Error::TaskFailed { .. } => "TaskFailed",
            Error::WorkerLost { .. } => "WorkerLost",
            Error::BrokenProcessPool(_) => "BrokenProcessPool",
            Error::Timeout => "Timeout",
            Error::Cancelled => "Cancelled",
            Error::Other(_) => "Other",
        }
    }

    /// An error of the program using this crate, from a message or any error value, so that a
    /// target or a task can return this crate's [`Result`].
    ///
    /// ```
    /// let err = multiprocessing::Error::other("no such file: a.txt");
    /// assert_eq!(err.to_string(), "no such file: a.txt");
    /// assert_eq!(err.kind(), "Other");
    /// ```
    pub fn other(error: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Self {
        Error::Other(error.into())
    }

    pub(crate) fn os(operation: &'static str, source: impl Into<io::Error>) -> Self {
        Error::Os {
            operation,
            source: source.into(),
        }
    }
}

/// `?` on an I/O call in a function that returns this crate's [`Result`].
///
/// ```
/// fn size(path: &str) -> multiprocessing::Result<u64> {
///     Ok(std::fs::metadata(path)?.len())
/// }
/// let err = size("/no/such/file").unwrap_err();
/// assert_eq!(err.kind(), "Other");
/// ```
impl From<io::Error> for Error {
    fn from(error: io::Error) -> Self {
        Error::Other(Box::new(error))
    }
}
