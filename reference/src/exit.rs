//! What happens when a process ends (CPython's `util._exit_function`): daemonic children are
//! terminated, the others joined, and this process's forkserver is stopped.

use std::sync::Once;

#[cfg(unix)]
use crate::forkserver;
use crate::process::active_children;

static REGISTERED: Once = Once::new();

/// Arranges for [`exit_function`] to run when the main process ends normally. Called on the first
/// `start`; a `fork` child inherits the registration.
pub(crate) fn register() {
    REGISTERED.call_once(|| {
        // SAFETY: registering a plain `extern "C"` function that never unwinds.
        unsafe { libc::atexit(at_exit) };
    });
}

extern "C" fn at_exit() {
    // Unwinding out of an `extern "C"` function aborts; contain any panic.
    let _ = std::panic::catch_unwind(exit_function);
}

/// Terminates daemonic children, joins the others, stops the forkserver, then (in the process
/// that started it) ends the resource tracker.
pub(crate) fn exit_function() {
    stop_children();
    // Hook for the resource tracker (resource_tracker.rs), last, once the children that share
    // it have ended: the process that started it closes its connection and reaps it once it has
    // unlinked what the program left registered.
    #[cfg(unix)]
    crate::resource_tracker::shutdown();
}

fn stop_children() {
    #[cfg(unix)]
    let server = forkserver::running();
    #[cfg(not(unix))]
    let server = false;
    if crate::process::this().children.is_empty() && !server {
        return;
    }
    let children = active_children();
    for child in children.iter().filter(|child| child.daemon()) {
        let _ = child.terminate();
    }
    for child in &children {
        let _ = child.join();
    }
    #[cfg(unix)]
    forkserver::shutdown();
}

/// Flushes Rust's stdout so a `fork` child does not print the parent's buffered text again
/// (CPython's `util._flush_std_streams()` before `fork`), and a child's text is out before it
/// `_exit`s. Rust's stderr has no buffer: flushing it would only take its lock, which in a
/// `fork` child writes to one more page of the parent's (a copy-on-write fault on the way to
/// `_exit`).
pub(crate) fn flush_std_streams() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

/// Ends a child process: the exit function, flushed output, `_exit(code)`. A child never runs the
/// parent's `atexit` handlers (CPython's children end with `os._exit`).
pub(crate) fn exit_child(code: i32) -> ! {
    exit_function();
    flush_std_streams();
    // SAFETY: ending the process is the intent.
    unsafe { libc::_exit(code) }
}

/// Ends the current process with `code` (Python's `sys.exit(code)`): in a child its parent sees
/// `exitcode == code`; in the main process children are joined first, as at a normal end.
///
/// ```no_run
/// multiprocessing::exit(3);
/// ```
pub fn exit(code: i32) -> ! {
    if crate::parent_process().is_some() {
        exit_child(code)
    } else {
        std::process::exit(code)
    }
}

/// How a child ends on `SIGINT` ([`Process::interrupt`](crate::Process::interrupt), or `^C` in
/// a terminal): as a CPython child ends on `KeyboardInterrupt`, with `Process <name>:` and
/// `KeyboardInterrupt` on its stderr and exit code 1 (where a Rust program would die of the
/// signal, exit code `-2`).
///
/// The message is formatted when the child is prepared (before `fork`, for a `fork` child), and
/// [`install`](Self::install)ed before its target runs, if its `SIGINT` disposition is still the
/// default then (one it inherited ignoring `SIGINT`, or running a handler of the program's own,
/// is kept, as CPython keeps it). From [`for_child`](Self::for_child) to `install` (or drop)
/// `SIGINT` is blocked in the calling thread, so a `fork` child interrupted at once, before its
/// handler exists, still ends with 1: the signal waits. The handler writes the message and
/// `_exit(1)`s at once: async-signal-safe, so it cannot deadlock whatever the target was doing,
/// but, unlike CPython, it runs no exit function, so the child's own children are not joined
/// (nor its daemonic ones terminated) and its unflushed stdout is lost.
#[cfg(unix)]
pub(crate) struct KeyboardInterrupt {
    /// `Process <name>:\nKeyboardInterrupt\n`, boxed for a thin pointer, which an `AtomicPtr`
    /// can hold; `None` once installed.
    #[allow(clippy::box_collection)]
    message: Option<Box<String>>,
    /// The thread's signal mask before `SIGINT` was blocked.
    mask: libc::sigset_t,
}

/// The message of the installed handler (a leaked [`KeyboardInterrupt`] message), null before.
#[cfg(unix)]
static INTERRUPTED: std::sync::atomic::AtomicPtr<String> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

#[cfg(unix)]
impl KeyboardInterrupt {
    /// The message of a child named `name`; blocks `SIGINT` in the calling thread until
    /// [`install`](Self::install) or drop.
    pub(crate) fn for_child(name: &str) -> KeyboardInterrupt {
        let message = Box::new(format!("Process {name}:\nKeyboardInterrupt\n"));
        // SAFETY: all-zero sigset_t values are valid out-values; sigemptyset initializes
        // `sigint`, and pthread_sigmask reads it and writes the previous mask into `mask`.
        unsafe {
            let (mut sigint, mut mask): (libc::sigset_t, libc::sigset_t) =
                (std::mem::zeroed(), std::mem::zeroed());
            libc::sigemptyset(&mut sigint);
            libc::sigaddset(&mut sigint, libc::SIGINT);
            libc::pthread_sigmask(libc::SIG_BLOCK, &sigint, &mut mask);
            KeyboardInterrupt {
                message: Some(message),
                mask,
            }
        }
    }

    /// Installs the handler unless `SIGINT`'s disposition is other than the default (or a
    /// handler installed here before: a `fork` child of a child replaces its parent's message),
    /// then unblocks `SIGINT` (a signal that waited is handled now). Async-signal-safe, for a
    /// `fork` child: `sigaction`, an atomic store and `pthread_sigmask`; the message is leaked,
    /// installed or not (it lives until the process ends; no free in a `fork` child).
    pub(crate) fn install(mut self) {
        use std::sync::atomic::Ordering;
        let message = self.message.take();
        let ours = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: an all-zero sigaction is a valid out-value for sigaction(2).
        let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only reads the current one into `current`.
        let read = unsafe { libc::sigaction(libc::SIGINT, std::ptr::null(), &mut current) };
        if let Some(message) = message {
            let message = Box::into_raw(message);
            if read == 0 && (current.sa_sigaction == libc::SIG_DFL || current.sa_sigaction == ours)
            {
                INTERRUPTED.store(message, Ordering::Release);
                // SAFETY: as above; `sa_mask` is emptied by sigemptyset below.
                let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
                action.sa_sigaction = ours;
                // SAFETY: `sa_mask` is a valid sigset_t to initialize; `action` is a valid new
                // action whose handler only does async-signal-safe work (see `on_sigint`).
                unsafe {
                    libc::sigemptyset(&mut action.sa_mask);
                    libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
                }
            }
        }
        // `self` drops here: the mask comes back.
    }
}

#[cfg(unix)]
impl Drop for KeyboardInterrupt {
    fn drop(&mut self) {
        // SAFETY: `mask` is the thread's earlier mask, as pthread_sigmask wrote it.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.mask, std::ptr::null_mut()) };
    }
}

/// The `SIGINT` handler: the message on stderr, then `_exit(1)`. Async-signal-safe: an atomic
/// load, `write` and `_exit`, nothing else (no lock, no allocation, no unwinding).
#[cfg(unix)]
extern "C" fn on_sigint(_: libc::c_int) {
    let message = INTERRUPTED.load(std::sync::atomic::Ordering::Acquire);
    // SAFETY: non-null only once it points to a leaked `String` that is never freed.
    if let Some(message) = unsafe { message.as_ref() } {
        let mut rest = message.as_bytes();
        while !rest.is_empty() {
            // SAFETY: `rest` is valid for `rest.len()` bytes.
            let n = unsafe { libc::write(libc::STDERR_FILENO, rest.as_ptr().cast(), rest.len()) };
            if n > 0 {
                rest = &rest[n as usize..];
            } else if n == 0 || nix::errno::Errno::last() != nix::errno::Errno::EINTR {
                break;
            }
        }
    }
    // SAFETY: ending the process is the intent; `_exit` is async-signal-safe.
    unsafe { libc::_exit(1) }
}
