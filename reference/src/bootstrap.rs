//! How a child becomes the process its parent created: the bootstrap hook that runs before
//! `main`, the main guard, and the bootstrapping check.
//!
//! A `spawn` child is this program executed again with the environment variable [`ENV`] set;
//! a `forkserver` child is forked by a server that is this program executed with [`ENV`] set to
//! `forkserver ...`. The [hook](bootstrap_hook) reads (and removes) the variable before `main`
//! and returns, so `main` re-runs from its start, as CPython re-runs the main module:
//!
//! * in a `spawn` child, it keeps the *handover* (where the preparation data is); at
//!   [`main_guard`] the child takes over: it runs its target and exits;
//! * in the forkserver, it keeps the control socket; at [`main_guard`] the server starts serving,
//!   and each child it forks takes over from there. So `main` runs up to the guard once in the
//!   server, not once per child, as CPython's forkserver has loaded the main module once since
//!   3.13.8 and 3.14.1 (gh-126631).
//!
//! Until the process reaches [`main_guard`], it is *bootstrapping*: starting a `spawn` or
//! `forkserver` process then is [`Error::Bootstrapping`], which is what stops a program without a
//! guard from spawning endlessly. A child or server that ends `main` without reaching the guard
//! exits with status 1; a parent whose forkserver did so gets [`Error::ForkServerFailed`] from
//! `start`, and no child exists.
//!
//! Under a test harness (`cargo test`), `main` is the harness's, so re-running it would re-run the
//! tests. There the guard is called inside a test, on a thread other than the main thread; the
//! parent notices and tells its children (`early` entry) to take over in the hook instead.

#[cfg(unix)]
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::context::{self, StartMethod};
use crate::error::{Error, Result};
use crate::process::{self, ThisProcess};
use crate::spawn::Preparation;
use crate::{exit, target, wire};
#[cfg(unix)]
use crate::{forkserver, sys};

/// The bootstrap environment variable: `spawn <entry>` or `forkserver <entry>`, where `<entry>`
/// is `main` (take over at the guard) or `early` (take over before `main`).
pub(crate) const ENV: &str = "__MULTIPROCESSING_BOOTSTRAP";

/// Where a child takes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry {
    /// At the main guard, after re-running `main` up to it.
    Main,
    /// In the hook, before `main` (under a test harness).
    Early,
}

impl Entry {
    fn as_str(self) -> &'static str {
        match self {
            Entry::Main => "main",
            Entry::Early => "early",
        }
    }
}

/// What a new child needs to find its preparation data and its descriptors.
pub(crate) struct Handover {
    method: StartMethod,
    data: HandoverData,
    /// Descriptors handed to the child, in order: the IPC objects among its arguments.
    #[cfg(unix)]
    fds: Vec<OwnedFd>,
}

enum HandoverData {
    /// `spawn`: a socket at this descriptor carries one frame of preparation data; the child
    /// keeps it open until exit, as the parent's sentinel.
    #[cfg(unix)]
    Socket(OwnedFd),
    /// `forkserver`: the server received the data and the fork copied it.
    #[cfg(unix)]
    Bytes(Vec<u8>),
    /// `spawn` on Windows: one frame on stdin, which the parent closes after it.
    #[cfg(windows)]
    Stdin,
}

#[cfg(unix)]
impl Handover {
    pub(crate) fn forkserver(prep: Vec<u8>, fds: Vec<OwnedFd>) -> Handover {
        Handover {
            method: StartMethod::Forkserver,
            data: HandoverData::Bytes(prep),
            fds,
        }
    }
}

/// What a process started by this crate does at the guard.
enum Pending {
    /// A `spawn` child: becomes the child described by the handover.
    Child(Handover),
    /// The forkserver: serves on this control socket; each forked child takes over.
    #[cfg(unix)]
    Server(OwnedFd),
}

/// In a forkserver, its current directory, learned once before it serves (it never moves): so
/// its children, which start there, need not ask.
static SERVER_DIR: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();

/// Called by the forkserver before it serves: see [`SERVER_DIR`].
#[cfg(unix)]
pub(crate) fn remember_server_dir() {
    SERVER_DIR.get_or_init(|| std::env::current_dir().ok());
}

/// What this process does at the guard, until it reaches it.
static PENDING: Mutex<Option<Pending>> = Mutex::new(None);
/// Set while a child is bootstrapping: 0 = not bootstrapping, else 1 + the `StartMethod` index.
static BOOTSTRAPPING: AtomicU8 = AtomicU8::new(0);
/// A `Bootstrapping` error was returned to the program.
static BOOTSTRAP_ERROR_RETURNED: AtomicBool = AtomicBool::new(false);
/// The guard was reached on a thread other than the main thread: children take over early.
static UNDER_HARNESS: AtomicBool = AtomicBool::new(false);
/// The main thread, recorded by the hook.
static MAIN_THREAD: AtomicUsize = AtomicUsize::new(0);
/// [`main_guard`] was called in this process.
static GUARD_CALLED: AtomicBool = AtomicBool::new(false);

/// [`BOOTSTRAPPING`] in the forkserver before it reaches the guard (its children never
/// bootstrap: they take over from the server's guard).
const SERVER_CODE: u8 = 3;

fn method_code(method: StartMethod) -> u8 {
    match method {
        StartMethod::Fork => 1,
        StartMethod::Spawn => 2,
        StartMethod::Forkserver => 3,
    }
}

fn current_thread() -> usize {
    #[cfg(unix)]
    // SAFETY: pthread_self has no preconditions.
    let id = unsafe { libc::pthread_self() } as usize;
    #[cfg(windows)]
    // SAFETY: GetCurrentThreadId has no preconditions.
    let id = unsafe { windows_sys::Win32::System::Threading::GetCurrentThreadId() } as usize;
    id
}

/// The value of [`ENV`] for a `spawn` child handed `fds` descriptors (at 4, 5, ...; always 0 on
/// Windows).
pub(crate) fn spawn_value(entry: Entry, fds: usize) -> String {
    format!("spawn {} {fds}", entry.as_str())
}

/// The word of a forkserver's [`ENV`] saying that its parent added `LD_BIND_NOW=1` to its
/// environment (see `forkserver::launch`), which the server removes again.
#[cfg(unix)]
pub(crate) const BIND_NOW: &str = "bind-now";

/// The value of [`ENV`] for the forkserver; `bind_now_added` when its parent added
/// `LD_BIND_NOW=1` to its environment.
#[cfg(unix)]
pub(crate) fn forkserver_value(entry: Entry, bind_now_added: bool) -> String {
    let bind_now = if bind_now_added { BIND_NOW } else { "-" };
    format!("forkserver {} {bind_now}", entry.as_str())
}

/// Where the children of this process take over.
pub(crate) fn entry_for_children() -> Entry {
    if UNDER_HARNESS.load(Ordering::Relaxed) {
        Entry::Early
    } else {
        Entry::Main
    }
}

/// Runs before `main` in every program that links this crate. Does nothing unless [`ENV`] is set.
///
/// SAFETY (of the `unsafe` ctor): it runs before `main`, on the only thread; it touches only this
/// crate's statics, the environment and descriptors 3 and up that the parent set up for it.
#[ctor::ctor(unsafe)]
fn bootstrap_hook() {
    MAIN_THREAD.store(current_thread(), Ordering::Relaxed);
    let Some(value) = std::env::var_os(ENV) else {
        return;
    };
    // SAFETY: before `main` there is one thread, so nothing reads the environment concurrently.
    unsafe { std::env::remove_var(ENV) };
    if secure_execution() {
        // A set-user-ID or set-group-ID program, or one with file capabilities: whoever set the
        // variable does not own this process. It runs as a program of its own, as the kernel
        // and the C library treat `LD_PRELOAD` there.
        return;
    }
    let request = parse_request(&value.to_string_lossy())
        .and_then(|request| check_descriptors(&request).map(|()| request))
        .unwrap_or_else(|problem| {
            fail(&format!(
                "{ENV} is set, so this process was started as a child of a multiprocessing \
                 program, but {problem}. A program that links the multiprocessing crate must \
                 not be started with {ENV} set."
            ))
        });
    let (entry, pending) = match request {
        // Hook for the resource tracker (resource_tracker.rs): this process is one, started
        // with its socket at fd 3. It serves before `main` and never returns.
        #[cfg(unix)]
        Request::ResourceTracker => {
            // SAFETY: `check_descriptors` found fd 3 open; the starting process placed the
            // tracker's socket there (`spawn::spawn_program`) and nothing else in this fresh
            // process owns it.
            crate::resource_tracker::serve(unsafe { sys::adopt(3) })
        }
        #[cfg(not(unix))]
        Request::ResourceTracker => fail("there is no resource tracker on this platform"),
        Request::Spawn { entry, handed } => (entry, Pending::Child(receive_spawn(handed))),
        #[cfg(unix)]
        Request::Forkserver {
            entry,
            bind_now_added,
        } => {
            if bind_now_added {
                // The loader has read it; the program and its other children must not see it.
                // SAFETY: before `main` there is one thread, so nothing reads the environment
                // concurrently.
                unsafe { std::env::remove_var("LD_BIND_NOW") };
            }
            // SAFETY: as for the tracker: fd 3 is open, and the parent's socket to the server.
            (entry, Pending::Server(unsafe { sys::adopt(3) }))
        }
        #[cfg(not(unix))]
        Request::Forkserver { .. } => fail("there is no forkserver on this platform"),
    };
    if entry == Entry::Early {
        // Under a test harness `main` is the harness's: take over now instead of at the guard.
        UNDER_HARNESS.store(true, Ordering::Relaxed);
        at_the_guard(pending);
    }
    let method = match &pending {
        Pending::Child(handover) => handover.method,
        #[cfg(unix)]
        Pending::Server(_) => StartMethod::Forkserver,
    };
    BOOTSTRAPPING.store(method_code(method), Ordering::Relaxed);
    *PENDING.lock().unwrap_or_else(|p| p.into_inner()) = Some(pending);
    // SAFETY: registering a plain `extern "C"` function.
    unsafe { libc::atexit(exit_without_guard) };
}

/// What a process started by this crate does at the guard: a child takes over (runs its target
/// and exits); the forkserver serves, and each child it forks takes over. Never returns.
fn at_the_guard(pending: Pending) -> ! {
    match pending {
        Pending::Child(handover) => take_over(handover),
        #[cfg(unix)]
        Pending::Server(control) => take_over(forkserver::serve(control)),
    }
}

/// What [`ENV`] asks of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    /// Be the resource tracker: its socket is at 3.
    ResourceTracker,
    /// Be a `spawn` child: the preparation data on a socket at 3, `handed` more descriptors at
    /// 4, 5, ... (none on Windows: the data is on stdin).
    Spawn { entry: Entry, handed: usize },
    /// Be the forkserver: the parent's socket at 3; `bind_now_added` when the parent added
    /// `LD_BIND_NOW=1` to this process's environment (see `forkserver::launch`).
    Forkserver { entry: Entry, bind_now_added: bool },
}

/// Parses `value` as the bootstrap variable, for the fuzz targets (`fuzz.rs`).
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_request(value: &str) {
    let _ = parse_request(value);
}

/// The most descriptors a `spawn` child is handed: more is a forged value, not a program.
const MAX_HANDED: usize = 1 << 16;

/// Parses the value of [`ENV`] (exactly what [`spawn_value`], [`forkserver_value`] and the
/// resource tracker write); the error says what is wrong with it.
fn parse_request(value: &str) -> std::result::Result<Request, String> {
    let malformed = |why: &str| format!("its value {value:?} is malformed: {why}");
    #[cfg(unix)]
    if value == crate::resource_tracker::BOOTSTRAP_VALUE {
        return Ok(Request::ResourceTracker);
    }
    let words: Vec<&str> = value.split(' ').collect();
    let entry = |word: &str| match word {
        "main" => Ok(Entry::Main),
        "early" => Ok(Entry::Early),
        other => Err(malformed(&format!(
            "the entry is {other:?}, not \"main\" or \"early\""
        ))),
    };
    match words.as_slice() {
        ["spawn", word, handed] => {
            let handed = handed
                .parse::<usize>()
                .ok()
                .filter(|&handed| handed <= MAX_HANDED && (cfg!(unix) || handed == 0))
                .ok_or_else(|| {
                    malformed(&format!(
                        "the descriptor count {handed:?} is not a number from 0 to {}",
                        if cfg!(unix) { MAX_HANDED } else { 0 }
                    ))
                })?;
            Ok(Request::Spawn {
                entry: entry(word)?,
                handed,
            })
        }
        #[cfg(unix)]
        ["forkserver", word, bind_now] if [BIND_NOW, "-"].contains(bind_now) => {
            Ok(Request::Forkserver {
                entry: entry(word)?,
                bind_now_added: *bind_now == BIND_NOW,
            })
        }
        _ => Err(malformed(if cfg!(unix) {
            "expected \"spawn <main|early> <count>\", \"forkserver <main|early> <bind-now|->\" \
             or \"resource_tracker\""
        } else {
            "expected \"spawn <main|early> 0\""
        })),
    }
}

/// Checks that the descriptors `request` names are there: fd 3 an open socket, and each
/// descriptor handed to a `spawn` child open. (Without this, a missing fd 3 made a forkserver
/// wait for ever.)
#[cfg(unix)]
fn check_descriptors(request: &Request) -> std::result::Result<(), String> {
    use nix::sys::stat::SFlag;
    match crate::sys::fstat_raw(3) {
        Ok(stat) if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFSOCK => {}
        Ok(_) => return Err("descriptor 3 is not a socket".to_owned()),
        Err(errno) => return Err(format!("descriptor 3 is not open ({errno})")),
    }
    if let Request::Spawn { handed, .. } = *request {
        for fd in 4..4 + handed as i32 {
            if let Err(errno) = crate::sys::check_open(fd) {
                return Err(format!(
                    "descriptor {fd}, one of the {handed} it was told it was handed, is not \
                     open ({errno})"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(windows)]
fn check_descriptors(_request: &Request) -> std::result::Result<(), String> {
    Ok(())
}

/// Whether this process runs in secure-execution mode: set-user-ID or set-group-ID, or with
/// file capabilities (the kernel's `AT_SECURE`; `issetugid` on the BSDs and macOS). Under the
/// `fault-injection` feature (this crate's tests), `__MULTIPROCESSING_TEST_AT_SECURE=1` says so
/// too, so that a test can show the variable is ignored without a set-user-ID copy.
pub(crate) fn secure_execution() -> bool {
    #[cfg(feature = "fault-injection")]
    if std::env::var_os("__MULTIPROCESSING_TEST_AT_SECURE").is_some_and(|v| v == "1") {
        return true;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    // SAFETY: getauxval reads the auxiliary vector the kernel gave this process; no
    // preconditions.
    let secure = unsafe { libc::getauxval(libc::AT_SECURE) } != 0;
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd"
    ))]
    // SAFETY: issetugid has no preconditions.
    let secure = unsafe { libc::issetugid() } != 0;
    #[cfg(windows)]
    let secure = false;
    secure
}

/// A `spawn` child's handover: the socket at 3 and the `handed` descriptors at 4.. (which
/// [`check_descriptors`] found open), or on Windows the data on stdin.
#[cfg(unix)]
fn receive_spawn(handed: usize) -> Handover {
    Handover {
        method: StartMethod::Spawn,
        // SAFETY: the parent placed this socket at 3 for us (see `spawn::spawn_program`);
        // nothing else in this fresh process owns it.
        data: HandoverData::Socket(unsafe { sys::adopt(3) }),
        // SAFETY: the parent placed exactly `handed` descriptors at 4.. for us, and they are
        // open; nothing else owns them.
        fds: (4..4 + handed as i32)
            .map(|fd| unsafe { sys::adopt(fd) })
            .collect(),
    }
}

#[cfg(windows)]
fn receive_spawn(_handed: usize) -> Handover {
    Handover {
        method: StartMethod::Spawn,
        data: HandoverData::Stdin,
    }
}

fn fail(message: &str) -> ! {
    eprintln!("multiprocessing: {message}");
    // SAFETY: ending the process is the intent.
    unsafe { libc::_exit(1) }
}

/// At exit of a child that never reached the guard: its target never ran, so it failed.
extern "C" fn exit_without_guard() {
    if BOOTSTRAPPING.load(Ordering::Relaxed) == 0 {
        return;
    }
    if !BOOTSTRAP_ERROR_RETURNED.load(Ordering::Relaxed) {
        let message: &[u8] = if BOOTSTRAPPING.load(Ordering::Relaxed) == SERVER_CODE {
            b"multiprocessing: the forkserver ran main() to its end without reaching \
            multiprocessing::main_guard(), so it could not serve. Call main_guard() first \
            thing in main().\n"
        } else {
            b"multiprocessing: this child re-ran main() to its end without reaching \
            multiprocessing::main_guard(), so its target never ran. Call main_guard() first \
            thing in main().\n"
        };
        // SAFETY: a write of a static buffer to stderr; `_exit` ends the process. No TLS, no lock:
        // this runs after main's thread-locals may have been destroyed.
        unsafe { libc::write(2, message.as_ptr().cast(), message.len() as _) };
    }
    // SAFETY: as above.
    unsafe { libc::_exit(1) }
}

/// The main guard: Python's `if __name__ == '__main__':`, as a call.
///
/// Call it first thing in `main`. In the main process it returns at once. In a `spawn` child,
/// which re-runs `main` from its start, it takes over: it runs the target the parent asked for
/// and exits with its exit code; it never returns there. In the forkserver, which runs `main` up
/// to here once, it serves: each `forkserver` child is forked from this point and takes over.
/// So code before the guard runs again in every `spawn` child and once in the forkserver, as a
/// Python module's top level does (CPython 3.13.8+ and 3.14.1+).
///
/// ```no_run
/// #[multiprocessing::target]
/// fn work() {}
///
/// fn main() -> multiprocessing::Result<()> {
///     // Here: runs in the main process and again in every spawn/forkserver child.
///     multiprocessing::main_guard();
///     // Here: runs only in the main process.
///     let p = multiprocessing::Process::new(work, ());
///     p.start()?;
///     p.join()
/// }
/// ```
///
/// In a test (`cargo test`), call it first thing in each test that starts processes; children
/// then take over before the test harness's `main` instead.
pub fn main_guard() {
    let pending = PENDING.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(pending) = pending {
        at_the_guard(pending);
    }
    GUARD_CALLED.store(true, Ordering::Relaxed);
    if current_thread() != MAIN_THREAD.load(Ordering::Relaxed) {
        UNDER_HARNESS.store(true, Ordering::Relaxed);
    }
}

/// Before a `spawn` or `forkserver` start: a process that never called the guard, starting from
/// a thread other than the main one, is a test (`cargo test`) that forgot it; its child would
/// re-run the test harness (`main` is the harness's) instead of its target.
pub(crate) fn check_guard_called(method: StartMethod) -> Result<()> {
    let main = MAIN_THREAD.load(Ordering::Relaxed);
    if GUARD_CALLED.load(Ordering::Relaxed)
        || UNDER_HARNESS.load(Ordering::Relaxed)
        || main == 0
        || current_thread() == main
    {
        return Ok(());
    }
    Err(Error::MainGuardMissing {
        method: if method == StartMethod::Spawn {
            "spawn"
        } else {
            "forkserver"
        },
    })
}

/// The check CPython makes before preparing a `spawn`/`forkserver` child
/// (`spawn._check_not_importing_main`).
pub(crate) fn check_not_bootstrapping(_method: StartMethod) -> Result<()> {
    let method = match BOOTSTRAPPING.load(Ordering::Relaxed) {
        0 => return Ok(()),
        2 => "spawn",
        _ => "forkserver",
    };
    BOOTSTRAP_ERROR_RETURNED.store(true, Ordering::Relaxed);
    Err(Error::Bootstrapping { method })
}

/// In a `fork` child: not bootstrapping, whatever the parent was (an atomic load and store, so
/// async-signal-safe). Stored only when set: a store would copy the page of this static, a
/// copy-on-write fault the child need not take.
#[cfg(unix)]
pub(crate) fn mark_started_by_fork() {
    if BOOTSTRAPPING.load(Ordering::Relaxed) != 0 {
        BOOTSTRAPPING.store(0, Ordering::Relaxed);
    }
}

/// Becomes the child described by `handover`: runs its target and exits.
fn take_over(handover: Handover) -> ! {
    BOOTSTRAPPING.store(0, Ordering::Relaxed);
    let Handover {
        method,
        data,
        #[cfg(unix)]
        fds,
    } = handover;
    let mut data = data;
    let frame = match &mut data {
        #[cfg(unix)]
        HandoverData::Bytes(bytes) => Ok(Some(std::mem::take(bytes))),
        #[cfg(unix)]
        HandoverData::Socket(socket) => sys::read_frame(socket.as_fd()),
        #[cfg(windows)]
        HandoverData::Stdin => wire::read_frame_from(&mut std::io::stdin().lock()),
    };
    let bytes = match frame {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err("the parent closed the connection before sending it".to_owned()),
        Err(err) => Err(err.to_string()),
    };
    let preparation: Preparation = match bytes
        .map_err(|reason| Error::Deserialization {
            what: "the preparation data".to_owned(),
            reason,
        })
        .and_then(|bytes| wire::decode(&bytes, || "the preparation data".to_owned()))
    {
        Ok(preparation) => preparation,
        Err(err) => fail(&format!("a {method} child could not start: {err}")),
    };
    // The spawn socket stays open until exit: the parent's sentinel. Its descriptor is
    // close-on-exec, so programs this child executes do not hold it.
    std::mem::forget(data);
    #[cfg(unix)]
    {
        let mut fds = fds;
        // Close-on-exec, as every descriptor the crate owns: a `spawn` child inherited them
        // across `exec`, so they are not; a forkserver's received them close-on-exec already.
        if method == StartMethod::Spawn {
            for fd in &fds {
                let _ = sys::set_cloexec(std::os::fd::AsRawFd::as_raw_fd(fd), true);
            }
        }
        // The last handed descriptor is the program's resource tracker (see `spawn/posix.rs`,
        // `forkserver.rs`); the others are the arguments'.
        if let Some(tracker) = fds.pop() {
            crate::resource_tracker::inherit(tracker);
        }
        wire::receive_fds(fds);
    }

    *process::this() = ThisProcess {
        name: preparation.name.clone(),
        identity: preparation.identity.clone(),
        daemon: preparation.daemon,
        parent: Some(preparation.parent.clone()),
        next_child: 1,
        children: Vec::new(),
    };
    context::set_child_default(preparation.method);
    // Entered only if it is not already the current one (a `spawn` child inherits it, and so
    // does a `forkserver` child whose parent has not moved since the server started): a
    // `getcwd` costs a child less than a `chdir`'s path walk, and a forkserver child has not
    // even that to do: it is in the server's, which the server learned once.
    let here = match SERVER_DIR.get() {
        Some(dir) if method == StartMethod::Forkserver => dir.clone(),
        _ => std::env::current_dir().ok(),
    };
    if let Some(dir) = preparation
        .dir
        .as_ref()
        .filter(|dir| here.as_ref() != Some(*dir))
    {
        if let Err(err) = std::env::set_current_dir(dir) {
            eprintln!(
                "multiprocessing: this child stays in its current directory: the parent's, {}, \
                 cannot be entered: {err}",
                dir.display()
            );
        }
    }
    install_panic_hook();

    #[cfg(unix)] // SIGINT ends the child as KeyboardInterrupt: exit code 1
    exit::KeyboardInterrupt::for_child(&preparation.name).install();
    let code = match target::lookup(&preparation.target) {
        Some(entry) => run_target(|| {
            (entry.run)(&preparation.args).unwrap_or_else(|err| {
                eprintln!("multiprocessing: {err}");
                1
            })
        }),
        None => {
            eprintln!(
                "multiprocessing: this program has no registered target '{}': was the child \
                 started from a different build of the program?",
                preparation.target
            );
            1
        }
    };
    exit::exit_child(code)
}

/// Runs a child's target: `Ok` is its exit code; a panic is exit code 1, with the panic message
/// on stderr after a `Process <name>:` line (see [`install_panic_hook`]).
pub(crate) fn run_target(target: impl FnOnce() -> i32) -> i32 {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(target)).unwrap_or(1)
}

/// In a child, a panic message is preceded by `Process <name>:`, as CPython prints
/// `Process Process-1:` before a traceback. Installed once, in the parent before its first child
/// (so a `fork` child inherits it without allocating) and in each spawned child; it chains to the
/// hook that was there before.
pub(crate) fn install_panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(name) = process::child_name() {
                eprintln!("Process {name}:");
            }
            previous(info);
        }));
    });
}
