//! Processes (CPython's `multiprocessing.process`): the [`Process`] handle, this process's own
//! identity ([`current_process`], [`parent_process`]) and its table of children
//! ([`active_children`]).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::context::{self, Context, Platform, StartMethod};
use crate::error::{Error, Result};
use crate::popen::Popen;
use crate::target::{Bound, BoundTarget, Target};
use crate::{bootstrap, exit, spawn};
#[cfg(unix)]
use crate::{fork, forkserver};

/// What [`Process::sentinel`] returns (CPython's `sentinel`): a descriptor that becomes readable
/// when the process ends on Unix, the process handle (signaled when it ends) on Windows.
#[cfg(unix)]
pub type Sentinel = std::os::fd::RawFd;
/// What [`Process::sentinel`] returns (CPython's `sentinel`): a descriptor that becomes readable
/// when the process ends on Unix, the process handle (signaled when it ends) on Windows.
#[cfg(windows)]
pub type Sentinel = std::os::windows::io::RawHandle;

/// This process as `multiprocessing` sees it (CPython's `_current_process` and module globals).
///
/// One lock guards all of it, and `fork` holds that lock across the `fork()` call, so a child
/// never inherits it locked by another thread.
pub(crate) struct ThisProcess {
    pub(crate) name: String,
    /// `[]` in the main process, `[1]` in `Process-1`, `[1, 2]` in `Process-1:2`.
    pub(crate) identity: Vec<u32>,
    pub(crate) daemon: bool,
    pub(crate) parent: Option<ParentProcess>,
    /// The number the next `Process::new` takes (CPython's `_process_counter`).
    pub(crate) next_child: u32,
    /// Children started here and not yet known to have ended (CPython's `_children`).
    pub(crate) children: Vec<Process>,
}

impl ThisProcess {
    const fn main() -> ThisProcess {
        ThisProcess {
            name: String::new(),
            identity: Vec::new(),
            daemon: false,
            parent: None,
            next_child: 1,
            children: Vec::new(),
        }
    }

    /// What a child started from `process` will be, built here so the `fork` child only has to
    /// move it into place.
    #[cfg(unix)]
    pub(crate) fn for_child(
        &self,
        process: &ProcessShared,
        name: String,
        daemon: bool,
    ) -> ThisProcess {
        ThisProcess {
            name,
            identity: process.identity.clone(),
            daemon,
            parent: Some(ParentProcess {
                name: self.display_name().to_owned(),
                pid: std::process::id() as i32,
            }),
            next_child: 1,
            children: Vec::new(),
        }
    }

    pub(crate) fn display_name(&self) -> &str {
        if self.identity.is_empty() && self.name.is_empty() {
            "MainProcess"
        } else {
            &self.name
        }
    }
}

static THIS: Mutex<ThisProcess> = Mutex::new(ThisProcess::main());

/// Locks this process's state (poison is ignored: the state stays consistent).
pub(crate) fn this() -> MutexGuard<'static, ThisProcess> {
    THIS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// This process's name if it is a child (for the panic hook).
pub(crate) fn child_name() -> Option<String> {
    let this = this();
    this.parent.is_some().then(|| this.name.clone())
}

/// The parent of the current process, as [`parent_process`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParentProcess {
    /// The parent's name (`MainProcess` for the main process).
    pub name: String,
    /// The parent's pid. Under `forkserver` this is the process that called `start`, not the
    /// OS-level parent (which is the server).
    pub pid: i32,
}

/// The current process, as [`current_process`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentProcess {
    /// `MainProcess` in the main process; the child's name in a child.
    pub name: String,
    /// This process's pid.
    pub pid: i32,
    /// Whether this process is daemonic.
    pub daemon: bool,
    /// `[]` in the main process, `[1, 2]` in `Process-1:2` (CPython's `_identity`).
    pub identity: Vec<u32>,
}

/// The current process (CPython's `current_process()`).
///
/// ```
/// assert_eq!(multiprocessing::current_process().name, "MainProcess");
/// ```
pub fn current_process() -> CurrentProcess {
    let this = this();
    CurrentProcess {
        name: this.display_name().to_owned(),
        pid: std::process::id() as i32,
        daemon: this.daemon,
        identity: this.identity.clone(),
    }
}

/// The process that started this one, `None` in the main process (CPython's
/// `parent_process()`).
///
/// ```
/// assert_eq!(multiprocessing::parent_process(), None);
/// ```
pub fn parent_process() -> Option<ParentProcess> {
    this().parent.clone()
}

/// The children of this process that are still running; ended ones are reaped on the way
/// (CPython's `active_children()`).
///
/// ```
/// assert!(multiprocessing::active_children().is_empty());
/// ```
pub fn active_children() -> Vec<Process> {
    let children = std::mem::take(&mut this().children);
    let (alive, ended): (Vec<Process>, Vec<Process>) =
        children.into_iter().partition(|child| child.poll_running());
    drop(ended);
    let mut this = this();
    // Keep children another thread started meanwhile.
    this.children.splice(0..0, alive.iter().cloned());
    alive
}

/// The number of CPUs in the system (CPython's `cpu_count()`, i.e. `os.cpu_count()`).
///
/// ```
/// assert!(multiprocessing::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no memory-safety preconditions.
        let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        if n > 0 {
            return n as usize;
        }
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A process: created with a target and its arguments, then started, joined, signalled.
///
/// `Process` is a handle: clones refer to the same process, as Python references do, so a
/// process can be joined from one thread and terminated from another.
///
/// ```no_run
/// use multiprocessing::Process;
///
/// #[multiprocessing::target]
/// fn worker(name: String) {
///     println!("Worker {name} starting");
/// }
///
/// fn main() -> multiprocessing::Result<()> {
///     multiprocessing::main_guard(); // Python's `if __name__ == '__main__':`
///     let p = Process::new(worker, ("A".to_string(),));
///     p.start()?;
///     p.join()?;
///     assert_eq!(p.exitcode()?, Some(0));
///     Ok(())
/// }
/// ```
#[derive(Clone)]
pub struct Process {
    shared: Arc<ProcessShared>,
}

pub(crate) struct ProcessShared {
    pub(crate) identity: Vec<u32>,
    /// The pid of the process that created this object (CPython's `_parent_pid`): only it may
    /// join or test it. A `fork` child inherits copies of its parent's objects, not the children.
    creator: u32,
    context: Option<Context>,
    state: Mutex<State>,
}

struct State {
    name: String,
    daemon: bool,
    phase: Phase,
}

enum Phase {
    Created(Box<dyn BoundTarget>),
    /// Between taking the target and knowing the outcome of `start`.
    Starting,
    Started(Arc<Popen>),
    Closed,
}

impl std::fmt::Debug for Process {
    /// Like CPython's `repr`: `<Process name='Process-1' pid=123 parent=100 started>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state();
        let status = match &state.phase {
            Phase::Created(_) | Phase::Starting => "initial".to_owned(),
            Phase::Closed => "closed".to_owned(),
            Phase::Started(popen) => match popen.poll() {
                Ok(Some(code)) => format!("stopped exitcode={code}"),
                _ => format!("started pid={}", popen.pid()),
            },
        };
        let daemon = if state.daemon { " daemon" } else { "" };
        write!(f, "<Process name='{}' {status}{daemon}>", state.name)
    }
}

impl Process {
    /// A new process that will run `target(args...)` in a child, with the default context.
    ///
    /// `args` is a tuple, as Python's `args=(..,)`. Creating a process takes the next number for
    /// its name (`Process-1`, `Process-2`, ...), as CPython's constructor does, started or not.
    pub fn new<A, T>(target: T, args: A) -> Process
    where
        T: Target<A>,
        A: serde::Serialize + Send + 'static,
    {
        Process::with_context(None, target, args)
    }

    pub(crate) fn with_context<A, T>(context: Option<Context>, target: T, args: A) -> Process
    where
        T: Target<A>,
        A: serde::Serialize + Send + 'static,
    {
        let identity = {
            let mut this = this();
            let number = this.next_child;
            this.next_child += 1;
            let mut identity = this.identity.clone();
            identity.push(number);
            identity
        };
        // CPython names a process after its class: `Process-1` from `multiprocessing.Process`,
        // `SpawnProcess-1` from `get_context('spawn').Process`.
        let class = match context.map(|c| c.start_method()) {
            None => "Process",
            Some(StartMethod::Fork) => "ForkProcess",
            Some(StartMethod::Spawn) => "SpawnProcess",
            Some(StartMethod::Forkserver) => "ForkServerProcess",
        };
        let name = format!(
            "{class}-{}",
            identity
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(":")
        );
        // CPython: `self.daemon` defaults to the creating process's daemon flag.
        let daemon = this().daemon;
        Process {
            shared: Arc::new(ProcessShared {
                identity,
                creator: std::process::id(),
                context,
                state: Mutex::new(State {
                    name,
                    daemon,
                    phase: Phase::Created(Box::new(Bound { target, args })),
                }),
            }),
        }
    }

    /// Sets the process's name (Python's `name=`).
    ///
    /// ```
    /// let p = multiprocessing::Process::new(|| {}, ()).with_name("Worker-0");
    /// assert_eq!(p.name(), "Worker-0");
    /// ```
    pub fn with_name(self, name: impl Into<String>) -> Process {
        self.state().name = name.into();
        self
    }

    /// Sets the daemon flag (Python's `daemon=`): a daemonic process is terminated when its
    /// parent exits, and may not start children of its own.
    ///
    /// ```
    /// let p = multiprocessing::Process::new(|| {}, ()).with_daemon(true);
    /// assert!(p.daemon());
    /// ```
    pub fn with_daemon(self, daemon: bool) -> Process {
        self.state().daemon = daemon;
        self
    }

    /// Changes the daemon flag; an error once the process has started (CPython:
    /// `AssertionError: process has already started`).
    pub fn set_daemon(&self, daemon: bool) -> Result<()> {
        let mut state = self.state();
        match state.phase {
            Phase::Created(_) => {
                state.daemon = daemon;
                Ok(())
            }
            Phase::Closed => Err(Error::Closed),
            _ => Err(Error::AlreadyRunning { setting: "daemon" }),
        }
    }

    /// The process's name.
    pub fn name(&self) -> String {
        self.state().name.clone()
    }

    /// The daemon flag.
    pub fn daemon(&self) -> bool {
        self.state().daemon
    }

    /// The start method this process uses (or will use, if it is not started yet).
    pub fn start_method(&self) -> StartMethod {
        match self.shared.context {
            Some(context) => context.start_method(),
            None => context::current_default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn popen(&self, operation: &'static str) -> Result<Arc<Popen>> {
        match &self.state().phase {
            Phase::Started(popen) => Ok(popen.clone()),
            Phase::Closed => Err(Error::Closed),
            Phase::Created(_) | Phase::Starting => Err(Error::NotStarted { operation }),
        }
    }

    /// Starts the process (CPython's `start()`).
    ///
    /// Errors, in CPython's order: a closed process ([`Error::Closed`]), a second start
    /// ([`Error::AlreadyStarted`]), a daemonic current process ([`Error::DaemonicChildren`]), a
    /// spawned child still bootstrapping ([`Error::Bootstrapping`]), and under `spawn` and
    /// `forkserver` a target or argument that cannot be serialized ([`Error::Serialization`]).
    /// On every error no process has been created.
    pub fn start(&self) -> Result<()> {
        let (bound, name, daemon) = {
            let mut state = self.state();
            match state.phase {
                Phase::Created(_) => {}
                Phase::Closed => return Err(Error::Closed),
                _ => return Err(Error::AlreadyStarted),
            }
            if this().daemon {
                return Err(Error::DaemonicChildren);
            }
            let Phase::Created(bound) = std::mem::replace(&mut state.phase, Phase::Starting) else {
                unreachable!("checked above")
            };
            (bound, state.name.clone(), state.daemon)
        };
        let method = match self.shared.context {
            Some(context) => context.start_method(),
            None => context::resolve_default(),
        };
        bootstrap::install_panic_hook();
        let started = self.launch(method, bound, name, daemon);
        let mut state = self.state();
        match started {
            Ok(popen) => {
                state.phase = Phase::Started(Arc::new(popen));
                drop(state);
                exit::register();
                this().children.push(self.clone());
                Ok(())
            }
            Err((bound, err)) => {
                state.phase = Phase::Created(bound);
                Err(err)
            }
        }
    }

    /// Creates the child. On failure the target comes back so the process can be started again.
    fn launch(
        &self,
        method: StartMethod,
        bound: Box<dyn BoundTarget>,
        name: String,
        daemon: bool,
    ) -> std::result::Result<Popen, (Box<dyn BoundTarget>, Error)> {
        // A context is checked when it is made; this catches a method the platform lacks however
        // it got here (on Windows only `spawn` passes).
        match Platform::current().check(method) {
            Err(err) => Err((bound, err)),
            #[cfg(unix)]
            Ok(StartMethod::Fork) => fork::start(&self.shared, bound, name, daemon),
            Ok(method) => {
                let prepared = bootstrap::check_not_bootstrapping(method)
                    .and_then(|()| bootstrap::check_guard_called(method))
                    .and_then(|()| {
                        spawn::Preparation::prepare(&self.shared, &*bound, name, daemon, method)
                    });
                let prepared = match prepared {
                    Ok(prepared) => prepared,
                    Err(err) => return Err((bound, err)),
                };
                // What the parent printed comes before what the child prints, under every method
                // (CPython flushes stdout and stderr before every start; `fork::start` does too).
                crate::exit::flush_std_streams();
                let started = match method {
                    #[cfg(unix)]
                    StartMethod::Forkserver => forkserver::start(&prepared),
                    _ => spawn::start(&prepared),
                };
                started.map_err(|err| (bound, err))
            }
        }
    }

    /// CPython's `_check_closed()`, then its `assert self._parent_pid == os.getpid()`: only the
    /// process that created a `Process` may join or test it.
    fn check_child(&self, operation: &'static str) -> Result<()> {
        if matches!(self.state().phase, Phase::Closed) {
            return Err(Error::Closed);
        }
        if self.shared.creator != std::process::id() {
            return Err(Error::NotAChild { operation });
        }
        Ok(())
    }

    /// Waits until the process ends (CPython's `join()`).
    ///
    /// Only the process that created this `Process` may join it: elsewhere (a `fork` child that
    /// inherited the object, say) it is [`Error::NotAChild`], as CPython's `AssertionError: can
    /// only join a child process`.
    pub fn join(&self) -> Result<()> {
        self.check_child("join")?;
        self.popen("join")?.wait(None)?;
        self.forget_if_ended();
        Ok(())
    }

    /// Waits at most `timeout`; returns whether the process has ended. Like CPython's
    /// `join(timeout)`, a timeout is not an error: check [`exitcode`](Self::exitcode).
    /// [`Error::NotAChild`] as [`join`](Self::join).
    pub fn join_timeout(&self, timeout: Duration) -> Result<bool> {
        self.check_child("join")?;
        let ended = self.popen("join")?.wait(Some(timeout))?.is_some();
        if ended {
            self.forget_if_ended();
        }
        Ok(ended)
    }

    /// Whether the process has started and not yet ended. Only the process that created this
    /// `Process` may test it: elsewhere it is [`Error::NotAChild`] (CPython: `AssertionError:
    /// can only test a child process`).
    pub fn is_alive(&self) -> Result<bool> {
        self.check_child("test")?;
        match &self.state().phase {
            Phase::Started(popen) => Ok(popen.poll()?.is_none()),
            Phase::Closed => Err(Error::Closed),
            Phase::Created(_) | Phase::Starting => Ok(false),
        }
    }

    fn poll_running(&self) -> bool {
        matches!(self.is_alive(), Ok(true))
    }

    fn forget_if_ended(&self) {
        this()
            .children
            .retain(|child| !Arc::ptr_eq(&child.shared, &self.shared));
    }

    /// The process's pid once started (CPython's `pid`/`ident`).
    pub fn pid(&self) -> Result<Option<i32>> {
        match &self.state().phase {
            Phase::Started(popen) => Ok(Some(popen.pid())),
            Phase::Closed => Err(Error::Closed),
            Phase::Created(_) | Phase::Starting => Ok(None),
        }
    }

    /// The exit code: `None` while running or before start; `0` when the target returned, `1`
    /// when it panicked, `n` after [`crate::exit`]`(n)`, `-N` when killed by signal `N`.
    pub fn exitcode(&self) -> Result<Option<i32>> {
        match &self.state().phase {
            Phase::Started(popen) => popen.poll(),
            Phase::Closed => Err(Error::Closed),
            Phase::Created(_) | Phase::Starting => Ok(None),
        }
    }

    /// A descriptor (a handle on Windows) that becomes ready when the process ends, for waiting
    /// on several at once with [`crate::connection::wait`] (CPython's `sentinel`). Valid until
    /// `close`.
    pub fn sentinel(&self) -> Result<Sentinel> {
        Ok(self.popen("get the sentinel of")?.sentinel())
    }

    /// Sends `SIGINT` (CPython 3.14's `interrupt()`). The child ends as a CPython child ends on
    /// `KeyboardInterrupt`: `Process <name>:` and `KeyboardInterrupt` on its stderr, exit code
    /// `1`. That holds when the child's `SIGINT` disposition was the default when it started
    /// (its target may install a handler of its own; one it inherited ignoring `SIGINT` keeps
    /// ignoring it). Unlike CPython's, the child ends at once, from the signal handler: its own
    /// children are not joined (nor daemonic ones terminated) and text it wrote to stdout
    /// without a newline or flush is lost. On Windows, which cannot send `SIGINT` to another
    /// process, it is [`Error::InvalidOperation`] (CPython's Windows processes have no
    /// `interrupt()`).
    ///
    /// A `fork` child ends so even when interrupted as soon as `start` returns (the signal
    /// waits for its handler); a `spawn` or `forkserver` child only once it runs (before,
    /// `SIGINT` ends it with `-2`, as it ends a CPython child that is still starting): wait for
    /// a sign of life first, as here.
    ///
    /// ```no_run
    /// use multiprocessing::{get_context, Event};
    ///
    /// #[multiprocessing::target]
    /// fn work(running: Event) {
    ///     running.set().unwrap();
    ///     std::thread::sleep(std::time::Duration::from_secs(60));
    /// }
    ///
    /// multiprocessing::main_guard();
    /// let running = Event::new()?;
    /// let p = get_context(Some("spawn"))?.process(work, (running.clone(),));
    /// p.start()?;
    /// running.wait(None)?;
    /// p.interrupt()?;
    /// p.join()?;
    /// assert_eq!(p.exitcode()?, Some(1));
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn interrupt(&self) -> Result<()> {
        self.popen("interrupt")?.interrupt()
    }

    /// Sends `SIGTERM` (exit code `-15`); on Windows, `TerminateProcess` (exit code `-15`, as
    /// CPython reports it there).
    pub fn terminate(&self) -> Result<()> {
        self.popen("terminate")?.terminate()
    }

    /// Sends `SIGKILL` (exit code `-9`); on Windows the same as [`terminate`](Self::terminate),
    /// as in CPython.
    pub fn kill(&self) -> Result<()> {
        self.popen("kill")?.kill()
    }

    /// Releases the process's resources; any later use is [`Error::Closed`]. An error while it
    /// is still running (CPython's `close()`).
    pub fn close(&self) -> Result<()> {
        let mut state = self.state();
        if let Phase::Started(popen) = &state.phase {
            if popen.poll()?.is_none() {
                return Err(Error::StillRunning);
            }
        }
        state.phase = Phase::Closed;
        drop(state);
        self.forget_if_ended();
        Ok(())
    }
}
