//! What happens when a process ends (CPython's `util._exit_function`): daemonic children are
//! terminated, the others joined, and this process's forkserver is stopped.

use std::sync::Once;

use crate::process::active_children;
use crate::{forkserver, sys};

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

/// Terminates daemonic children, joins the others, stops the forkserver.
pub(crate) fn exit_function() {
    let children = active_children();
    for child in children.iter().filter(|child| child.daemon()) {
        let _ = child.terminate();
    }
    for child in &children {
        let _ = child.join();
    }
    forkserver::shutdown();
}

/// Ends a child process: the exit function, flushed output, `_exit(code)`. A child never runs the
/// parent's `atexit` handlers (CPython's children end with `os._exit`).
pub(crate) fn exit_child(code: i32) -> ! {
    exit_function();
    sys::flush_std_streams();
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
