//! Running one scenario against one implementation with one start method, and judging it.
//!
//! A run (SPEC.md 0.1):
//! 1. is skipped when the scenario does not apply (start method not listed, platform, profile)
//!    or the adapter lacks the start method;
//! 2. spawns the adapter's command in a new session (`setsid`), in a fresh empty temporary
//!    directory, with stdin `/dev/null` and stdout/stderr captured, and, where Linux allows it,
//!    with a `/dev/shm` of its own (a private mount namespace, [`crate::leak::ShmNamespace`]);
//! 3. on timeout, ends the run: SIGTERM to its process group and its other processes (so an
//!    implementation can remove its named semaphores), then SIGKILL to whatever is left after
//!    [`RunOptions::term_grace`]: outcome `timeout`, saying which signal ended it;
//! 4. checks for leaks: processes of the run still alive once they have all been idle for
//!    [`RunOptions::leak_grace`] (helper processes such as a forkserver exit just after the main
//!    program; one that is runnable or using CPU is waited for, up to [`RunOptions::leak_bound`],
//!    so a loaded machine does not turn it into a leak), processes outside the run still
//!    holding the output pipes, and `/dev/shm` entries the run left (see [`crate::leak`]). All
//!    are killed or removed: outcome `leak`;
//! 5. compares the exit status, the normalized trace and `stderr_contains` with the expected
//!    outcome: `pass` or `fail`, turned into `xfail`/`xpass` by a deviation of the adapter;
//! 6. checks the identity the run's processes reported ([`Adapter::check_identity`]): a run that
//!    does not prove which implementation ran is an `error`, whatever else it did.

use std::fmt;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::adapter::Adapter;
use crate::catalog::Scenario;
use crate::leak::{self, RunProcesses, ShmIsolation, ShmNamespace, ShmSnapshot, StrayProcess};
use crate::method::{Platform, StartMethod};
use crate::trace::{normalize, Expected};

/// The judgement of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Exit status, trace and stderr as expected.
    Pass,
    /// Something differs from the expected outcome.
    Fail,
    /// It fails (or times out) and the adapter lists it as a deviation.
    Xfail,
    /// It passes although the adapter lists it as a deviation: remove the deviation.
    Xpass,
    /// It does not apply (start method, platform, profile, or the adapter lacks the method).
    Skip,
    /// It did not end within its timeout; its session was killed.
    Timeout,
    /// It left processes or `/dev/shm` entries behind (they were killed or removed).
    Leak,
    /// It could not be run or judged (the program did not start, no expected outcome file, ...).
    Error,
}

impl Outcome {
    /// Whether this outcome is acceptable: `pass`, `xfail` or `skip`.
    pub fn is_ok(self) -> bool {
        matches!(self, Outcome::Pass | Outcome::Xfail | Outcome::Skip)
    }

    /// Its lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Xfail => "xfail",
            Outcome::Xpass => "xpass",
            Outcome::Skip => "skip",
            Outcome::Timeout => "timeout",
            Outcome::Leak => "leak",
            Outcome::Error => "error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The record of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    /// The scenario id.
    pub scenario: String,
    /// The adapter's name.
    pub implementation: String,
    /// The start method.
    pub start_method: StartMethod,
    /// The expected-outcome variant it was judged against (`[[scenario.variant]]`, chosen by
    /// the implementation's profile), or `None` for the main expected outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The judgement.
    pub outcome: Outcome,
    /// Wall time of the run, in seconds (0 when skipped).
    pub seconds: f64,
    /// The expected outcome, when one was read.
    pub expected: Option<Expected>,
    /// What the program did (exit status and normalized trace), when it ended by itself.
    pub actual: Option<Expected>,
    /// Which implementation the run's processes reported (`main multiprocessing, children
    /// multiprocessing`), when they proved it (see [`Adapter::check_identity`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Why, for anything but `pass`: the skip reason, or the differences with both normalized
    /// traces, and the end of stderr.
    pub message: String,
    /// How `/dev/shm` entries were attributed to this run.
    pub shm_isolation: ShmIsolation,
    /// The `/dev/shm` entries the run left (removed), as the run saw them.
    pub stray_shm: Vec<PathBuf>,
    /// For a timeout: the signal that ended the run (`SIGTERM` when that was enough, else
    /// `SIGKILL`).
    pub ended_by: Option<String>,
}

/// Knobs of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// How to find the `/dev/shm` entries a run leaves (see [`crate::leak`]):
    /// [`ShmIsolation::Namespace`] (the default) gives each run its own `/dev/shm` where Linux
    /// allows it and falls back to a snapshot elsewhere; [`ShmIsolation::Snapshot`] compares
    /// listings of the machine's; [`ShmIsolation::WholeRun`] and [`ShmIsolation::Off`] check
    /// nothing per run.
    pub shm_isolation: ShmIsolation,
    /// The machine's shared-memory directory, for snapshots.
    pub shm_dir: PathBuf,
    /// How long the run's remaining processes must all have been idle (asleep, using no CPU)
    /// after the main program has ended before they count as leaked.
    pub leak_grace: Duration,
    /// How long, at most, to wait for busy processes to end after the main program has.
    pub leak_bound: Duration,
    /// On timeout, how long after SIGTERM the processes still running get SIGKILL.
    pub term_grace: Duration,
    /// Multiply every scenario's timeout, and the bounds above, by this (for slow machines).
    pub timeout_factor: f64,
    /// Set to end the run at once (Ctrl-C): its processes are ended as on timeout and the
    /// outcome is `error`.
    pub cancel: Option<Cancel>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            shm_isolation: ShmIsolation::Namespace,
            shm_dir: PathBuf::from("/dev/shm"),
            leak_grace: Duration::from_secs(2),
            leak_bound: Duration::from_secs(30),
            term_grace: Duration::from_secs(5),
            timeout_factor: 1.0,
            cancel: None,
        }
    }
}

impl RunOptions {
    /// `d` times [`RunOptions::timeout_factor`] (a factor that is not a positive number counts
    /// as 1).
    pub fn scaled(&self, d: Duration) -> Duration {
        let f = self.timeout_factor;
        if f.is_finite() && f > 0.0 {
            d.mul_f64(f)
        } else {
            d
        }
    }
}

/// A flag that ends runs in progress (see [`RunOptions::cancel`]); clones share it.
///
/// ```
/// let cancel = conformance::run::Cancel::default();
/// let options = conformance::RunOptions { cancel: Some(cancel.clone()), ..Default::default() };
/// cancel.cancel();
/// assert!(options.cancel.unwrap().is_cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// Raise the flag.
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether it is raised.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl PartialEq for Cancel {
    fn eq(&self, other: &Cancel) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Runs scenarios: knows where the scenario programs and the expected outcomes are.
///
/// ```no_run
/// use conformance::{Adapter, Catalog, Runner, StartMethod};
/// let catalog = Catalog::load("scenarios/catalog.toml").unwrap();
/// let runner = Runner::new("scenarios", "scenarios/expected");
/// let adapter = Adapter::cpython("python3").unwrap();
/// let result = runner.run(&adapter, catalog.get("exit-code").unwrap(), StartMethod::Spawn);
/// println!("{}: {}", result.outcome, result.message);
/// ```
#[derive(Debug, Clone)]
pub struct Runner {
    /// The scenarios directory (`{scenarios}` in adapter commands).
    pub scenarios_dir: PathBuf,
    /// The directory of the `.snap` expected outcomes.
    pub expected_dir: PathBuf,
    /// Run options.
    pub options: RunOptions,
}

/// How many bytes of each output stream are kept.
const CAPTURE_LIMIT: usize = 8 << 20;
/// How many lines of stderr a message quotes.
const STDERR_TAIL: usize = 20;

impl Runner {
    /// A runner with default options. Relative directories are made absolute, since programs
    /// run in a temporary directory.
    pub fn new(scenarios_dir: impl AsRef<Path>, expected_dir: impl AsRef<Path>) -> Runner {
        Runner {
            scenarios_dir: absolute(scenarios_dir.as_ref()),
            expected_dir: absolute(expected_dir.as_ref()),
            options: RunOptions::default(),
        }
    }

    /// Replace the options.
    pub fn with_options(mut self, options: RunOptions) -> Runner {
        self.options = options;
        self
    }

    /// The main expected-outcome file of `scenario` under `method`.
    pub fn expected_path(&self, scenario: &Scenario, method: StartMethod) -> PathBuf {
        self.expected_dir.join(scenario.expected_file_name(method))
    }

    /// The expected-outcome file of `scenario` under `method` for an implementation claiming
    /// `profile`: a variant's where one matches, else the main one.
    pub fn expected_path_for(
        &self,
        scenario: &Scenario,
        method: StartMethod,
        profile: &crate::profile::Version,
    ) -> PathBuf {
        let variant = scenario.variant_for(method, profile);
        self.expected_dir
            .join(scenario.expected_file_name_for(method, variant))
    }

    /// Run `scenario` with `method` against `adapter` and judge it. Never panics: every problem
    /// becomes an outcome with a message.
    pub fn run(&self, adapter: &Adapter, scenario: &Scenario, method: StartMethod) -> RunResult {
        let mut result = RunResult {
            scenario: scenario.id.clone(),
            implementation: adapter.name.clone(),
            start_method: method,
            variant: scenario
                .variant_for(method, &adapter.profile)
                .map(|v| v.name.clone()),
            outcome: Outcome::Skip,
            seconds: 0.0,
            expected: None,
            actual: None,
            identity: None,
            message: String::new(),
            shm_isolation: ShmIsolation::Off,
            stray_shm: Vec::new(),
            ended_by: None,
        };
        if let Some(reason) = skip_reason(adapter, scenario, method) {
            result.message = reason;
            return result;
        }
        let argv = match adapter.argv(&scenario.id, method, &self.scenarios_dir) {
            Ok(argv) => argv,
            Err(e) => {
                result.outcome = Outcome::Error;
                result.message = e.to_string();
                return result;
            }
        };
        let timeout = self.options.scaled(scenario.timeout);
        // The identity report (and the Python shim) live outside the program's working
        // directory, which stays empty.
        let identity = match Identity::prepare(self, adapter, &scenario.id, method) {
            Ok(identity) => identity,
            Err(message) => {
                result.outcome = Outcome::Error;
                result.message = message;
                return result;
            }
        };
        let started = Instant::now();
        let exec = execute(&argv, &identity.env, timeout, &self.options);
        result.seconds = started.elapsed().as_secs_f64();
        let exec = match exec {
            Ok(exec) => exec,
            Err(message) => {
                result.outcome = Outcome::Error;
                result.message = message;
                return result;
            }
        };
        let timed_out = exec.status.is_none();
        judge(
            &mut result,
            self,
            adapter,
            scenario,
            method,
            &argv,
            timeout,
            exec,
        );
        identity.judge(&mut result, adapter, timed_out);
        result
    }
}

/// A run's identity report: where the program writes it, and the environment that says so.
struct Identity {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Identity {
    fn prepare(
        runner: &Runner,
        adapter: &Adapter,
        id: &str,
        method: StartMethod,
    ) -> Result<Identity, String> {
        let dir = tempfile::Builder::new()
            .prefix("conformance-identity-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        if adapter.python_shim {
            std::fs::write(
                dir.path().join("sitecustomize.py"),
                crate::adapter::PYTHON_SHIM,
            )
            .map_err(|e| format!("cannot write the Python shim: {e}"))?;
        }
        let env = adapter
            .environment(
                id,
                method,
                &runner.scenarios_dir,
                &dir.path().join("identity"),
                dir.path(),
            )
            .map_err(|e| e.to_string())?;
        Ok(Identity { dir, env })
    }

    /// A run that does not prove which implementation ran is an `error`, whatever else it
    /// did; a run that timed out before reporting keeps its `timeout`.
    fn judge(&self, result: &mut RunResult, adapter: &Adapter, timed_out: bool) {
        let report = std::fs::read_to_string(self.dir.path().join("identity")).ok();
        match adapter.check_identity(report.as_deref()) {
            Ok(summary) => result.identity = Some(summary),
            Err(_) if timed_out && report.is_none() => {}
            Err(why) => {
                result.outcome = Outcome::Error;
                result.message = if result.message.is_empty() {
                    why
                } else {
                    format!("{why}\n{}", result.message)
                };
            }
        }
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Why this run does not apply, if it does not.
pub fn skip_reason(adapter: &Adapter, scenario: &Scenario, method: StartMethod) -> Option<String> {
    if !scenario.methods.contains(&method) {
        return Some(format!(
            "the scenario does not apply to start method {method}"
        ));
    }
    match Platform::current() {
        None => {
            return Some(format!(
                "the platform `{}` is none of linux, macos, windows",
                std::env::consts::OS
            ))
        }
        Some(p) if !scenario.platforms.contains(&p) => {
            return Some(format!("the scenario does not apply to platform {p}"))
        }
        Some(p) if !p.has_method(method) => {
            return Some(format!("start method {method} does not exist on {p}"))
        }
        Some(_) => {}
    }
    if !scenario.profiles.matches(&adapter.profile) {
        return Some(format!(
            "the scenario describes Python {}; {} claims profile {}",
            scenario.profiles, adapter.name, adapter.profile
        ));
    }
    if !adapter.has_method(method) {
        return Some(format!("{} lacks start method {method}", adapter.name));
    }
    if let Some(api) = scenario.needs.iter().find(|n| adapter.lacks.contains(n)) {
        return Some(format!(
            "{} lacks {api}, which the scenario needs (`lacks` in its manifest)",
            adapter.name
        ));
    }
    if let Some(d) = adapter
        .deviation(&scenario.id, method)
        .filter(|d| d.kind == crate::deviation::DeviationKind::NotApplicable)
    {
        return Some(format!(
            "not applicable to {} ({}): {}",
            adapter.name, d.clause, d.reason
        ));
    }
    None
}

/// What happened when the program ran.
struct Execution {
    /// The exit status, unless it timed out.
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
    /// Processes of the run found idle after the main program ended (killed), and whether each
    /// was in the session (else only in the run's namespace).
    stray: Vec<(StrayProcess, bool)>,
    /// Processes outside the run holding the output pipes (killed).
    pipe_holders: Vec<StrayProcess>,
    /// `/dev/shm` entries the run left (removed).
    shm: Vec<PathBuf>,
    /// How those were found.
    isolation: ShmIsolation,
    /// On timeout: how the run was ended.
    termination: Option<leak::Termination>,
    /// The output pipes were still open when the run gave up on them.
    pipes_open: bool,
    /// Remarks on how the run was made (no private /dev/shm, say).
    notes: Vec<String>,
}

/// A captured output stream, filled by a reader thread.
struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Receiver<()>,
    inode: Option<u64>,
}

impl Capture {
    fn start(
        mut stream: impl Read + std::os::fd::AsRawFd + Send + 'static,
    ) -> std::io::Result<Capture> {
        let inode = leak::fd_inode(stream.as_raw_fd());
        let buf = Arc::new(Mutex::new(Vec::new()));
        let (tx, done) = mpsc::channel();
        let sink = Arc::clone(&buf);
        thread::Builder::new()
            .name("capture".into())
            .spawn(move || {
                let mut chunk = [0u8; 8192];
                loop {
                    match stream.read(&mut chunk) {
                        Ok(0) => break,
                        Ok(n) => {
                            let mut b = sink.lock().unwrap_or_else(|p| p.into_inner());
                            let room = CAPTURE_LIMIT.saturating_sub(b.len());
                            b.extend_from_slice(&chunk[..n.min(room)]);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                let _ = tx.send(());
            })?;
        Ok(Capture { buf, done, inode })
    }

    /// Wait until the stream is closed, at most until `deadline`.
    fn wait(&self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        !matches!(
            self.done.recv_timeout(left),
            Err(mpsc::RecvTimeoutError::Timeout)
        )
    }

    fn text(&self) -> String {
        let b = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&b).into_owned()
    }
}

fn execute(
    argv: &[String],
    env: &[(String, String)],
    timeout: Duration,
    options: &RunOptions,
) -> Result<Execution, String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("the adapter's command is empty".into());
    };
    let cwd = tempfile::Builder::new()
        .prefix("conformance-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    // A /dev/shm of its own where Linux allows it, else a snapshot of the machine's.
    let mut notes = Vec::new();
    let namespace = match options.shm_isolation {
        ShmIsolation::Namespace => match ShmNamespace::new() {
            Ok(ns) => Some(ns),
            Err(e) => {
                notes.push(format!(
                    "no private /dev/shm ({e}): the machine's was compared before and after"
                ));
                None
            }
        },
        _ => None,
    };
    let isolation = match (options.shm_isolation, &namespace) {
        (_, Some(_)) => ShmIsolation::Namespace,
        (ShmIsolation::Namespace, None) => ShmIsolation::Snapshot,
        (other, None) => other,
    };
    let shm_before =
        (isolation == ShmIsolation::Snapshot).then(|| ShmSnapshot::take(&options.shm_dir));
    let ns_fds = namespace.as_ref().map(ShmNamespace::fds);
    // Joining a mount namespace moves the process to its root: it goes back to its directory.
    let cwd_c = std::ffi::CString::new(cwd.path().as_os_str().as_encoded_bytes())
        .map_err(|_| format!("the temporary directory {} has a NUL", cwd.path().display()))?;

    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(cwd.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        // Scenarios such as flush-before-start observe Python's default buffering: a
        // PYTHONUNBUFFERED in the runner's own environment would blind them.
        .env_remove("PYTHONUNBUFFERED")
        .envs(env.iter().map(|(k, v)| (k, v)));
    // SAFETY: setns, chdir, setsid and sigaction are async-signal-safe and touch no memory of
    // the parent; they are all the closure does between fork and exec (the namespace's
    // descriptors and the directory's C string were made before the fork).
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fds) = ns_fds {
                leak::join(fds)?;
                if nix::libc::chdir(cwd_c.as_ptr()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            // SIGINT as a program started from a terminal has it (SPEC.md 0.1), even when the
            // runner itself was started ignoring it, as a shell starts a background command.
            nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGINT,
                nix::sys::signal::SigHandler::SigDfl,
            )
            .map(|_| ())
            .map_err(std::io::Error::from)
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{program}`: {e}: check the adapter's command"))?;
    // The child called setsid, so its pid is its session id and process-group id.
    let run = RunProcesses {
        sid: child.id() as i32,
        namespace: namespace.as_ref(),
    };
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        run.kill();
        let _ = child.wait();
        return Err("the program's output pipes were not set up".into());
    };
    let no_thread = |e: std::io::Error| {
        run.kill();
        format!("cannot start a thread to watch the program: {e}")
    };
    let (stdout, stderr) = match (Capture::start(out), Capture::start(err)) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => {
            let message = no_thread(e);
            let _ = child.wait();
            return Err(message);
        }
    };

    let (tx, rx) = mpsc::channel();
    let (child_tx, child_rx) = mpsc::channel::<std::process::Child>();
    let waiter = thread::Builder::new().name("wait".into()).spawn(move || {
        // The child comes through a channel so that, if this thread cannot start, the caller
        // still has it to reap.
        if let Ok(mut child) = child_rx.recv() {
            let _ = tx.send(child.wait());
        }
    });
    if let Err(e) = waiter {
        let message = no_thread(e);
        let _ = child.wait();
        return Err(message);
    }
    let _ = child_tx.send(child);
    let deadline = Instant::now() + timeout;
    let mut interrupted = false;
    let status = loop {
        // Short slices, to notice a cancellation.
        let slice = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(50));
        match rx.recv_timeout(slice) {
            Ok(Ok(status)) => break Some(status),
            Ok(Err(e)) => {
                run.kill();
                return Err(format!("cannot wait for the program: {e}"));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                run.kill();
                return Err("the thread waiting for the program ended".into());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if options.cancel.as_ref().is_some_and(Cancel::is_cancelled) {
                    interrupted = true;
                    break None;
                }
                if Instant::now() >= deadline {
                    break None;
                }
            }
        }
    };

    // Leak check 1: once the main program has ended, the run's other processes get to finish
    // exiting; those that have all gone idle are leaked.
    let mut stray = Vec::new();
    let mut termination = None;
    if status.is_some() {
        let left = run.settle(options.leak_grace, options.scaled(options.leak_bound));
        if !left.is_empty() {
            let session: Vec<i32> = leak::session_members(run.sid)
                .iter()
                .map(|p| p.pid)
                .collect();
            stray = run
                .kill()
                .into_iter()
                .map(|p| {
                    let inside = session.contains(&p.pid);
                    (p, inside)
                })
                .collect();
        }
    } else {
        let grace = if interrupted {
            Duration::from_secs(1)
        } else {
            options.scaled(options.term_grace)
        };
        termination = Some(run.terminate(grace));
        // Reap it (SIGKILL ends it unless it is stuck in the kernel).
        let _ = rx.recv_timeout(Duration::from_secs(5));
    }

    // Leak check 2: with the run's processes gone, the pipes close at once unless a process
    // that left the session (a double-forked daemon) still holds them.
    let mut pipe_holders = Vec::new();
    let soon = Instant::now() + Duration::from_millis(500);
    if !(stdout.wait(soon) && stderr.wait(soon)) {
        for inode in [stdout.inode, stderr.inode].into_iter().flatten() {
            for p in leak::pipe_holders(inode) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                if !pipe_holders.iter().any(|h: &StrayProcess| h.pid == p.pid) {
                    pipe_holders.push(p);
                }
            }
        }
    }
    let later = Instant::now() + Duration::from_secs(2);
    let pipes_open = !(stdout.wait(later) && stderr.wait(later));

    // Leak check 3: /dev/shm entries, once every process of the run is gone.
    let shm = match (&namespace, shm_before) {
        (Some(ns), _) => ns.remove_entries(),
        (None, Some(before)) => before.remove_new_entries(),
        (None, None) => Vec::new(),
    };
    drop(namespace);
    drop(cwd);
    if interrupted {
        return Err("interrupted: the run was ended (SIGTERM, then SIGKILL) before its end".into());
    }

    Ok(Execution {
        status,
        stdout: stdout.text(),
        stderr: stderr.text(),
        stray,
        pipe_holders,
        shm,
        isolation,
        termination,
        pipes_open,
        notes,
    })
}

/// The exit status as SPEC.md 0.4 writes it: the code, or minus the signal number.
fn exit_value(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| -s))
        .unwrap_or(i32::MIN)
}

#[allow(clippy::too_many_arguments)]
fn judge(
    result: &mut RunResult,
    runner: &Runner,
    adapter: &Adapter,
    scenario: &Scenario,
    method: StartMethod,
    argv: &[String],
    timeout: Duration,
    exec: Execution,
) {
    let lines = normalize(&exec.stdout, scenario.unordered);
    let trace = lines.clone();
    let mut notes: Vec<String> = Vec::new();
    let mut outcome;

    // The comparison with the expected outcome.
    let expected_path = runner.expected_path_for(scenario, method, &adapter.profile);
    let expected = if expected_path.exists() {
        Expected::load(&expected_path).map_err(|e| e.to_string())
    } else {
        Err(format!(
            "no expected outcome: write {} (SPEC.md 0.4; from CPython's behaviour)",
            expected_path.display()
        ))
    };
    match exec.status {
        None => {
            outcome = Outcome::Timeout;
            let ending = match &exec.termination {
                Some(t) if !t.killed.is_empty() => {
                    result.ended_by = Some("SIGKILL".into());
                    format!(
                        "SIGTERM to its {} processes, then SIGKILL after {:.1}s to {}",
                        t.termed.len(),
                        runner
                            .options
                            .scaled(runner.options.term_grace)
                            .as_secs_f64(),
                        processes(&t.killed)
                    )
                }
                Some(t) => {
                    result.ended_by = Some("SIGTERM".into());
                    format!("SIGTERM to its {} processes ended them", t.termed.len())
                }
                None => "its processes were killed".into(),
            };
            notes.push(format!(
                "did not end within its timeout of {}s: {ending}",
                fmt_secs(timeout)
            ));
            if !lines.is_empty() {
                notes.push(format!("trace so far:\n{}", indent(&lines.join("\n"))));
            }
            result.expected = expected.ok();
        }
        Some(status) => {
            let actual = Expected {
                exit: exit_value(status),
                lines,
            };
            match expected {
                Err(message) => {
                    outcome = Outcome::Error;
                    notes.push(message);
                    notes.push(format!("actual:\n{}", indent(&actual.render())));
                }
                Ok(expected) => {
                    let diffs = compare(&expected, &actual, scenario, &exec.stderr);
                    if diffs.is_empty() {
                        outcome = Outcome::Pass;
                    } else {
                        outcome = Outcome::Fail;
                        notes.extend(diffs);
                    }
                    result.expected = Some(expected);
                }
            }
            result.actual = Some(actual);
        }
    }

    // Leaks trump a pass or a fail: what was left behind was killed or removed.
    let mut leaks = Vec::new();
    for (p, in_session) in &exec.stray {
        leaks.push(format!(
            "process {} ({}) {}, idle for {:.1}s after the program ended: killed",
            p.pid,
            p.comm,
            if *in_session {
                "was still running in the scenario's session"
            } else {
                "left the scenario's session but was still running in its namespace"
            },
            runner.options.leak_grace.as_secs_f64()
        ));
    }
    for p in &exec.pipe_holders {
        leaks.push(format!(
            "process {} ({}) left the scenario's session but kept its output open: killed",
            p.pid, p.comm
        ));
    }
    if exec.pipes_open {
        leaks.push("the program's output was still held open by an unknown process".into());
    }
    for path in &exec.shm {
        leaks.push(format!("{} was left behind: removed", path.display()));
    }
    if !leaks.is_empty() && outcome != Outcome::Timeout {
        if outcome == Outcome::Fail {
            notes.insert(0, "besides the leak, the outcome differs:".into());
        }
        outcome = Outcome::Leak;
    }
    result.shm_isolation = exec.isolation;
    result.stray_shm = exec.shm.clone();
    let mut message = leaks;
    message.extend(notes);

    // Deviations turn what they declare into xfail, and a pass into xpass (crate::deviation).
    if let Some(d) = adapter.deviation(&scenario.id, method) {
        let exit = result.actual.as_ref().map(|a| a.exit);
        let (judged, note) = crate::deviation::judge(d, &adapter.name, outcome, exit, &trace);
        outcome = judged;
        if !note.is_empty() {
            message.insert(0, note);
        }
    }
    if outcome != Outcome::Pass {
        message.extend(exec.notes.iter().cloned());
        message.push(format!("command: {}", argv.join(" ")));
        let tail = stderr_tail(&exec.stderr);
        if !tail.is_empty() {
            message.push(format!(
                "stderr (last {STDERR_TAIL} lines):\n{}",
                indent(&tail)
            ));
        }
    }
    result.outcome = outcome;
    result.message = message.join("\n");
}

/// The differences between expected and actual, each a paragraph; empty when they agree.
fn compare(
    expected: &Expected,
    actual: &Expected,
    scenario: &Scenario,
    stderr: &str,
) -> Vec<String> {
    let mut diffs = Vec::new();
    if expected.exit != actual.exit {
        diffs.push(format!(
            "exit status: expected {}, got {}",
            expected.exit, actual.exit
        ));
    }
    // Unordered traces are compared as multisets: the numbering was fixed by the masked sort,
    // so the order of the expected file's lines does not matter.
    let (exp_lines, act_lines) = if scenario.unordered {
        let mut e = expected.lines.clone();
        let mut a = actual.lines.clone();
        e.sort();
        a.sort();
        (e, a)
    } else {
        (expected.lines.clone(), actual.lines.clone())
    };
    if exp_lines != act_lines {
        let kind = if scenario.unordered {
            "trace differs (unordered: both sorted; - expected, + actual):"
        } else {
            "trace differs (- expected, + actual):"
        };
        diffs.push(format!("{kind}\n{}", diff(&exp_lines, &act_lines)));
    }
    for s in &scenario.stderr_contains {
        if !stderr.contains(s.as_str()) {
            diffs.push(format!("stderr does not contain {s:?}"));
        }
    }
    if !diffs.is_empty() {
        diffs.push(format!("expected:\n{}", indent(&expected.render())));
        diffs.push(format!("actual:\n{}", indent(&actual.render())));
    }
    diffs
}

/// A line diff: `  ` common, `- ` expected only, `+ ` actual only.
fn diff(expected: &[String], actual: &[String]) -> String {
    let e: Vec<&str> = expected.iter().map(String::as_str).collect();
    let a: Vec<&str> = actual.iter().map(String::as_str).collect();
    let d = similar::TextDiff::from_slices(&e, &a);
    let mut out = String::new();
    for change in d.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Equal => "  ",
            similar::ChangeTag::Delete => "- ",
            similar::ChangeTag::Insert => "+ ",
        };
        out.push_str(sign);
        out.push_str(change.value());
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// `pid (comm), ...`.
fn processes(list: &[StrayProcess]) -> String {
    list.iter()
        .map(|p| format!("{} ({})", p.pid, p.comm))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Seconds without a needless fraction: `1`, `1.5`.
fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn stderr_tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.trim_end().lines().collect();
    lines[lines.len().saturating_sub(STDERR_TAIL)..].join("\n")
}
