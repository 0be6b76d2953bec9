//! Scenarios of contexts and what a child inherits at `start`: the default start method (and how
//! it changed across CPython releases), the current directory, buffered output.

use multiprocessing::{get_start_method, main_guard, set_start_method, Process};

use crate::trace::{ctx, exitcode, py_bool, py_opt, say};

type Scenario = fn(&str);

pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("child-default-start-method", child_default_start_method),
    ("child-takes-parent-cwd", child_takes_parent_cwd),
    (
        "default-start-method-no-tempdir",
        default_start_method_no_tempdir,
    ),
    (
        "explicit-context-leaves-default",
        explicit_context_leaves_default,
    ),
    ("flush-before-start", flush_before_start),
];

#[multiprocessing::target]
fn noop() {}

fn explicit_context_leaves_default(method: &str) {
    main_guard();
    let p = ctx(method).process(noop, ());
    p.start().unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
    say!(
        "default fixed: {}",
        py_bool(get_start_method(true).is_some())
    );
    match set_start_method(Some(method), false) {
        Ok(()) => say!("set_start_method: ok"),
        Err(err) => say!("set_start_method: {}", err.kind()),
    }
}

#[multiprocessing::target]
fn report_default(how: String) {
    say!(
        "child started {how}: get_start_method(allow_none=True) is {}",
        py_opt(get_start_method(true))
    );
}

fn child_default_start_method(method: &str) {
    main_guard();
    let p = ctx(method).process(report_default, ("from a context".to_owned(),));
    p.start().unwrap();
    p.join().unwrap();
    set_start_method(Some(method), true).unwrap();
    let p = Process::new(report_default, ("from the default context".to_owned(),));
    p.start().unwrap();
    p.join().unwrap();
}

#[multiprocessing::target]
fn report_cwd(parent_cwd: std::path::PathBuf) {
    let here = std::env::current_dir().unwrap();
    say!(
        "child's current directory is the parent's at start(): {}",
        py_bool(here == parent_cwd)
    );
}

fn child_takes_parent_cwd(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let cwd = || std::env::current_dir().unwrap();
    let first = ctx.process(report_cwd, (cwd(),)); // starts the forkserver, if any
    first.start().unwrap();
    first.join().unwrap();
    let home = cwd();
    let elsewhere =
        std::env::temp_dir().join(format!("child-takes-parent-cwd-{}", std::process::id()));
    std::fs::create_dir(&elsewhere).unwrap();
    std::env::set_current_dir(elsewhere.canonicalize().unwrap()).unwrap();
    let second = ctx.process(report_cwd, (cwd(),));
    second.start().unwrap();
    second.join().unwrap();
    std::env::set_current_dir(home).unwrap();
    std::fs::remove_dir(elsewhere).unwrap();
}

#[multiprocessing::target]
fn child_line() {
    say!("the child's line");
}

fn flush_before_start(method: &str) {
    main_guard();
    print!("the parent's unfinished line, then ");
    let p = ctx(method).process(child_line, ());
    p.start().unwrap();
    p.join().unwrap();
    say!("the parent's last line");
}

/// Makes every temporary-directory candidate unwritable in a mount namespace of this process's
/// own (as the Python program does): read-only tmpfs over /tmp, /var/tmp and /usr/tmp, no
/// TMPDIR/TEMP/TMP, /proc as the current directory.
#[cfg(target_os = "linux")]
fn without_writable_tempdir() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let flags = libc::CLONE_NEWNS | if root { 0 } else { libc::CLONE_NEWUSER };
    // SAFETY: unshare affects only this process, which has one thread here.
    assert_eq!(
        unsafe { libc::unshare(flags) },
        0,
        "unshare: {}",
        std::io::Error::last_os_error()
    );
    let private = libc::MS_REC | libc::MS_PRIVATE;
    // SAFETY: mount with static NUL-terminated strings and null data.
    let r = unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            private,
            std::ptr::null(),
        )
    };
    assert_eq!(
        r,
        0,
        "mount --make-rprivate /: {}",
        std::io::Error::last_os_error()
    );
    for dir in [c"/tmp", c"/var/tmp", c"/usr/tmp"] {
        if std::path::Path::new(dir.to_str().unwrap()).is_dir() {
            // SAFETY: as above.
            let r = unsafe {
                libc::mount(
                    c"tmpfs".as_ptr(),
                    dir.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_RDONLY,
                    std::ptr::null(),
                )
            };
            assert_eq!(
                r,
                0,
                "mount a read-only tmpfs on {dir:?}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    for name in ["TMPDIR", "TEMP", "TMP"] {
        // SAFETY: no other thread reads the environment here.
        unsafe { std::env::remove_var(name) };
    }
    std::env::set_current_dir("/proc").unwrap();
}

#[cfg(not(target_os = "linux"))]
fn without_writable_tempdir() {
    unreachable!("the catalog runs default-start-method-no-tempdir on Linux only");
}

fn default_start_method_no_tempdir(_method: &str) {
    main_guard();
    without_writable_tempdir();
    say!("default start method: {}", py_opt(get_start_method(false)));
}
