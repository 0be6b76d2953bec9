//! Whole programs (the crate's examples), run as a user runs them.

// The examples under every start method, so Unix.
#![cfg(unix)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use rstest::rstest;

#[cfg(target_os = "linux")]
#[path = "common/children.rs"]
mod children;

/// Hang guard for each program.
const TIMEOUT: Duration = Duration::from_secs(60);

/// An example's executable. `cargo test` builds examples, but not when only this test target is
/// run, so bring them up to date once (a no-op when they are).
fn example(name: &str) -> Command {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args([
            "build",
            "--quiet",
            "--package",
            "multiprocessing-rs",
            "--examples",
        ]);
        if cfg!(not(debug_assertions)) {
            build.arg("--release");
        }
        let status = build.status().unwrap();
        assert!(status.success(), "could not build the examples");
    });
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let path: PathBuf = deps.parent().unwrap().join("examples").join(name);
    let mut command = Command::new(path);
    command.env_remove("RUST_BACKTRACE");
    command
}

fn run(name: &str, method: &str) -> (i32, String, String) {
    let mut command = example(name);
    command.arg(method);
    let output = assert_cmd::Command::from_std(command)
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[rstest]
#[case::fork("fork", 1)]
#[case::spawn("spawn", 4)]
#[case::forkserver("forkserver", 2)]
fn code_before_the_guard_runs_again_in_spawn_children_and_once_in_the_forkserver(
    #[case] method: &str,
    #[case] times: usize,
) {
    let (code, stdout, _) = run("guard_reruns", method);
    assert_eq!(code, 0);
    assert_eq!(stdout, "top\n".repeat(times));
}

#[test]
fn without_the_guard_the_forkserver_fails_and_start_says_so_with_no_child() {
    let (code, stdout, stderr) = run("missing_guard", "forkserver");
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert_eq!(
        stderr.matches("An attempt has been made").count(),
        1,
        "the server's error, and no child's: {stderr}"
    );
    assert!(
        stderr.contains("the forkserver exited (exit status 1) before it started the child")
            && stderr.contains("call multiprocessing::main_guard() first thing in main()"),
        "{stderr}"
    );
}

#[rstest]
#[case::spawn("spawn")]
fn without_the_guard_the_child_fails_bootstrapping_and_the_program_ends(#[case] method: &str) {
    let (code, stdout, stderr) = run("missing_guard", method);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "exitcode: Some(1)\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "An attempt has been made to start a new process before the current process has \
             finished its bootstrapping phase."
        ),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("An attempt has been made").count(),
        1,
        "one child, one error: {stderr}"
    );
}

#[test]
fn without_the_guard_fork_just_works() {
    let (code, stdout, _) = run("missing_guard", "fork");
    assert_eq!((code, stdout.as_str()), (0, "hello\nexitcode: Some(0)\n"));
}

#[rstest]
fn at_exit_daemons_are_terminated_and_other_children_joined(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let (code, stdout, stderr) = run("children_at_exit", method);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "main done\nnon-daemonic child done\n"),
        "{stderr}"
    );
}

#[rstest]
fn the_lesson_example_runs_four_workers(#[values("fork", "spawn", "forkserver")] method: &str) {
    let (code, stdout, _) = run("lesson", method);
    assert_eq!(code, 0);
    let mut names: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Process: "))
        .collect();
    names.sort();
    assert_eq!(names, ["Worker-0", "Worker-1", "Worker-2", "Worker-3"]);
}

#[rstest]
#[case::fork("fork", true)]
#[case::spawn("spawn", false)]
#[case::forkserver("forkserver", false)]
fn forking_with_threads_alive_warns(#[case] method: &str, #[case] warns: bool) {
    let (code, stdout, stderr) = run("fork_with_threads", method);
    assert_eq!((code, stdout.as_str()), (0, "exitcode: Some(0)\n"));
    let warning = "is multi-threaded, use of fork() may lead to deadlocks in the child.";
    assert_eq!(stderr.contains(warning), warns, "{stderr}");
}

#[test]
#[cfg(target_os = "linux")] // watches the server through a pidfd
fn the_forkserver_does_not_outlive_a_killed_parent() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let mut program = example("forkserver_orphan")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(program.stdout.take().unwrap()).lines();
    let server: i32 = lines
        .next()
        .unwrap()
        .unwrap()
        .strip_prefix("server ")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    // Watch the server through a pidfd, opened while it is certainly alive (its parent, blocked
    // forever, has not reaped it).
    // SAFETY: pidfd_open has no memory arguments; the result is a new descriptor we own.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, server, 0) } as i32;
    assert!(
        pidfd >= 0,
        "pidfd_open: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a fresh descriptor nobody else owns.
    let pidfd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(pidfd) };
    // Its spares (children forked ahead of requests) must end with it: watch them too, once
    // the server has forked one.
    let spares = {
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            let spares = children::children_of(server);
            if !spares.is_empty() || std::time::Instant::now() > deadline {
                break spares;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    };
    assert!(!spares.is_empty(), "the forkserver has no spare");
    let spare_fds: Vec<std::os::fd::OwnedFd> = spares
        .iter()
        .filter_map(|&spare| {
            // SAFETY: as above.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, spare, 0) } as i32;
            // SAFETY: a fresh descriptor nobody else owns (a spare that already ended has none).
            (fd >= 0).then(|| unsafe {
                <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd)
            })
        })
        .collect();
    program.kill().unwrap(); // SIGKILL
    program.wait().unwrap();
    for (what, fd) in std::iter::once(("the forkserver", &pidfd))
        .chain(spare_fds.iter().map(|fd| ("a spare of the forkserver", fd)))
    {
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(fd),
            nix::poll::PollFlags::POLLIN,
        )];
        let ready = nix::poll::poll(
            &mut fds,
            nix::poll::PollTimeout::try_from(TIMEOUT.as_millis() as i32).unwrap(),
        )
        .unwrap();
        assert_eq!(
            ready, 1,
            "{what} (server pid {server}) is still running after its parent was killed"
        );
    }
}

/// The README's IPC example: a queue, a shared value and a pipe cross into the child.
#[rstest]
fn the_readme_ipc_example_runs(#[values("fork", "spawn", "forkserver")] method: &str) {
    let (code, _, stderr) = run("ipc", method);
    assert_eq!(code, 0, "{stderr}");
}

/// The lesson's real-world case: a directory's files checksummed by pool workers, one file
/// unreadable (a dangling symlink) and one that crashes its worker; the others all arrive, and
/// no worker is left behind.
#[rstest]
fn the_checksum_example_survives_a_failing_and_a_crashing_worker(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..12 {
        std::fs::write(dir.path().join(format!("file{i:02}.txt")), format!("{i}\n")).unwrap();
    }
    std::fs::write(dir.path().join("file05.crash"), "boom").unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", dir.path().join("file07.link")).unwrap();
    let mut command = example("checksum");
    command.arg(method).arg(dir.path());
    let output = assert_cmd::Command::from_std(command)
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 14, "{stdout}");
    // sha256 of "0\n"
    assert!(
        lines.contains(
            &"9a271f2a916b0b6ee6cecb2426f0b3206ef074578be55d9bc94f6f3fe3ab86aa  file00.txt"
        ),
        "{stdout}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.ends_with(".txt")).count(),
        12,
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("file05.crash: WorkerLost")),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("file07.link: No such file or directory")),
        "{stdout}"
    );
}
