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
