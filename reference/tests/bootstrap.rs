//! The bootstrap variable (`__MULTIPROCESSING_BOOTSTRAP`) from a hostile or careless starter: a
//! program that links the crate, started with the variable set by someone else, either ignores
//! it (secure-execution mode: set-user-ID and the like) or exits with status 1 and a message that
//! names the problem, at once: never a hang, a panic, or a forged child.

#![cfg(unix)]

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use rstest::rstest;

const ENV: &str = "__MULTIPROCESSING_BOOTSTRAP";

/// Hang guard: a program that waits for a parent that is not there fails the test.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The `guard_reruns` example, built (as `tests/programs.rs` does) with this test's profile.
fn example_path() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "--package", "multiprocessing-rs"]);
        build.args(["--example", "guard_reruns"]);
        if cfg!(not(debug_assertions)) {
            build.arg("--release");
        }
        assert!(
            build.status().unwrap().success(),
            "could not build the example"
        );
    });
    let deps = std::env::current_exe().unwrap();
    let target = deps.parent().unwrap().parent().unwrap();
    target.join("examples").join("guard_reruns")
}

/// What descriptor 3 is in the started program.
#[derive(Clone, Copy, Debug)]
enum Fd3 {
    Closed,
    /// A regular file.
    File,
    /// A socket whose other end is already closed.
    Socket,
    /// A socket carrying a frame of garbage, then closed.
    Garbage,
}

/// Runs `guard_reruns fork` with the variable set to `value` and descriptor 3 as `fd3`
/// (descriptors 4 and up closed); returns its exit code, stdout and stderr.
fn run(program: &std::path::Path, value: &str, fd3: Fd3, extra_env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(program);
    command
        .arg("fork")
        .env(ENV, value)
        .env_remove("RUST_BACKTRACE");
    for (key, value) in extra_env {
        command.env(key, value);
    }
    run_with_fd3(command, fd3)
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_with_fd3(mut command: Command, fd3: Fd3) -> Output {
    let fd: Option<OwnedFd> = match fd3 {
        Fd3::Closed => None,
        Fd3::File => Some(std::fs::File::open("/dev/null").unwrap().into()),
        Fd3::Socket | Fd3::Garbage => {
            let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
            if let Fd3::Garbage = fd3 {
                use std::io::Write;
                (&ours)
                    .write_all(&[5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff])
                    .unwrap();
            }
            drop(ours);
            Some(theirs.into())
        }
    };
    let raw = fd.as_ref().map(|fd| fd.as_raw_fd());
    // SAFETY: between fork and exec the closure only calls dup2, fcntl and close, which are
    // async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            match raw {
                // Already 3: dup2 would keep its close-on-exec flag.
                Some(3) => {
                    if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Some(raw) => {
                    if libc::dup2(raw, 3) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                None => {
                    libc::close(3);
                }
            }
            for fd in 4..64 {
                libc::close(fd);
            }
            Ok(())
        });
    }
    let output = assert_cmd::Command::from_std(command)
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    drop(fd);
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Every malformed value and descriptor set: status 1 at once, with a message saying what is
/// wrong; never a panic, a hang (a forkserver without its socket used to wait for ever), or a
/// run of the program's main.
#[rstest]
#[case::empty("", Fd3::Socket, "is malformed: expected")]
#[case::unknown_role("bogus", Fd3::Socket, "is malformed: expected")]
#[case::no_entry("spawn", Fd3::Socket, "is malformed: expected")]
#[case::no_count("spawn main", Fd3::Socket, "is malformed: expected")]
#[case::extra_word("spawn main 0 more", Fd3::Socket, "is malformed: expected")]
#[case::bad_entry("spawn sideways 0", Fd3::Socket, "the entry is \"sideways\"")]
#[case::negative_count("spawn main -1", Fd3::Socket, "the descriptor count \"-1\" is not")]
#[case::huge_count("spawn main 99999999999999999999", Fd3::Socket, "is not a number")]
#[case::large_count(
    "spawn main 2147483647",
    Fd3::Socket,
    "is not a number from 0 to 65536"
)]
#[case::handed_not_open("spawn main 2", Fd3::Socket, "descriptor 4, one of the 2")]
#[case::spawn_without_fd3("spawn main 0", Fd3::Closed, "descriptor 3 is not open")]
#[case::spawn_fd3_a_file("spawn early 0", Fd3::File, "descriptor 3 is not a socket")]
#[case::forkserver_without_fd3("forkserver main -", Fd3::Closed, "descriptor 3 is not open")]
#[case::forkserver_fd3_a_file(
    "forkserver main bind-now",
    Fd3::File,
    "descriptor 3 is not a socket"
)]
#[case::forkserver_extra("forkserver main - 0", Fd3::Socket, "is malformed: expected")]
#[case::forkserver_no_bind_now_word("forkserver main", Fd3::Socket, "is malformed: expected")]
#[case::tracker_without_fd3("resource_tracker", Fd3::Closed, "descriptor 3 is not open")]
#[case::parent_gone("spawn main 0", Fd3::Socket, "closed the connection before sending")]
#[case::garbage_data("spawn main 0", Fd3::Garbage, "could not start")]
fn a_malformed_value_or_descriptor_set_is_a_clear_error_and_status_1(
    #[case] value: &str,
    #[case] fd3: Fd3,
    #[case] says: &str,
) {
    let out = run(&example_path(), value, fd3, &[]);
    assert_eq!(out.code, 1, "{value:?}: stderr {:?}", out.stderr);
    assert!(
        out.stderr.contains(says),
        "{value:?}: stderr {:?}",
        out.stderr
    );
    assert!(
        out.stderr.starts_with("multiprocessing: "),
        "{:?}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{:?}", out.stderr);
    // `main` re-ran up to the guard only where the value was well-formed (a spawn child does);
    // it never got past it.
    assert!(
        out.stdout.is_empty() || out.stdout == "top\n",
        "{:?}",
        out.stdout
    );
}

/// In secure-execution mode the variable is ignored: the program runs as itself. Simulated here
/// with the test-only override; `a_set_user_id_copy_ignores_the_variable` uses the real flag.
#[rstest]
#[case::spawn("spawn main 0", Fd3::Garbage)]
#[case::forkserver("forkserver main -", Fd3::Socket)]
#[case::tracker("resource_tracker", Fd3::Socket)]
#[case::malformed("bogus", Fd3::Closed)]
fn in_secure_execution_mode_the_variable_is_ignored(#[case] value: &str, #[case] fd3: Fd3) {
    let simulated = [("__MULTIPROCESSING_TEST_AT_SECURE", "1")];
    let out = run(&example_path(), value, fd3, &simulated);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "top\n"),
        "{value:?}: stderr {:?}",
        out.stderr
    );
}

/// A real set-user-ID-root copy of a program, started by an unprivileged user with the variable
/// set: the kernel flags it `AT_SECURE`, and the variable is ignored. Needs root (to make the
/// copy) and `setpriv`; elsewhere it checks nothing.
#[test]
fn a_set_user_id_copy_ignores_the_variable() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || Command::new("setpriv").arg("--help").output().is_err() {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let copy = dir.path().join("guard_reruns");
    std::fs::copy(example_path(), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let as_nobody = |value: &str| {
        let mut command = Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        command.arg(&copy).arg("fork").env(ENV, value);
        run_with_fd3(command, Fd3::Garbage)
    };
    let out = as_nobody("spawn main 0");
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "top\n"),
        "stderr {:?}",
        out.stderr
    );
    let out = as_nobody("resource_tracker");
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "top\n"),
        "{:?}",
        out.stderr
    );
    // The control: the same copy without set-user-ID obeys the variable (and fails on garbage).
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = as_nobody("spawn main 0");
    assert_eq!(out.code, 1, "{:?}", out.stderr);
}
