//! Shared memory across processes, under every start method: typed values, named segments,
//! ownership, and the resource tracker. Each test calls the main guard first, and checks that
//! the segments it made are gone from `/dev/shm` when it ends.
//!
//! Nothing sleeps to synchronize: children report through shared memory and `Event`s; what only
//! the OS can report (another process unlinking a segment, a tracker exiting) is awaited with
//! inotify and pidfds, under a hang guard.

// Shared memory is Unix-only in this crate (README, "What is verified where").
#![cfg(unix)]
#![cfg(target_os = "linux")]

mod common;
use common::ctx;

use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use multiprocessing::shared::{Array, RawArray, RawValue, SharedMemory, Value};
use multiprocessing::{Error, Event, Process};
use rstest::rstest;

/// Long enough never to fire on a loaded machine; only there so a bug fails instead of hanging.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn join_ok(p: &Process) {
    assert!(p.join_timeout(HANG_GUARD).unwrap(), "{p:?} hung");
    assert_eq!(p.exitcode().unwrap(), Some(0), "{p:?}");
}

fn entry(name: &str) -> PathBuf {
    Path::new("/dev/shm").join(name)
}

/// A name reported by a child through shared memory (NUL-padded).
fn name_in(slot: &RawArray<u8>) -> String {
    let bytes = slot.to_vec();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8(bytes[..end].to_vec()).unwrap()
}

/// Waits until `/dev/shm/<name>` no longer exists: an inotify watch on `/dev/shm`, checked
/// after each event, under the hang guard.
fn wait_until_unlinked(name: &str) {
    // SAFETY: plain syscalls; the descriptor is owned right away.
    let inotify = unsafe {
        let fd = libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK);
        assert!(fd >= 0, "inotify_init1");
        OwnedFd::from_raw_fd(fd)
    };
    // SAFETY: a NUL-terminated path.
    let watch = unsafe {
        libc::inotify_add_watch(inotify.as_raw_fd(), c"/dev/shm".as_ptr(), libc::IN_DELETE)
    };
    assert!(watch >= 0, "inotify_add_watch");
    let deadline = Instant::now() + HANG_GUARD;
    while entry(name).exists() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "/dev/shm/{name} was never unlinked");
        let mut fds = [libc::pollfd {
            fd: inotify.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: one valid pollfd.
        unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                1,
                left.as_millis().min(i32::MAX as u128) as i32,
            )
        };
        let mut sink = [0u8; 4096];
        // SAFETY: reading into a private buffer (non-blocking; drains the events).
        while unsafe { libc::read(inotify.as_raw_fd(), sink.as_mut_ptr().cast(), sink.len()) } > 0 {
        }
    }
}

/// A pidfd for each child of `pid` (its resource tracker, if it started one), opened while
/// `pid` is alive so the pids cannot be reused under us.
fn children_of(pid: i32) -> Vec<OwnedFd> {
    let mut pids = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            pids.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    pids.into_iter()
        .filter_map(|child| {
            // SAFETY: pidfd_open takes a pid and flags; the descriptor is owned right away.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, child, 0) };
            // SAFETY: a fresh descriptor.
            (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
        })
        .collect()
}

/// Waits (under the hang guard) until the process behind `pidfd` has exited.
fn wait_exited(pidfd: &OwnedFd) {
    let mut fds = [libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one valid pollfd.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, HANG_GUARD.as_millis() as i32) };
    assert_eq!(ready, 1, "a resource tracker did not exit");
}

// ---------------------------------------------------------------------------------------------
// Value and Array.

/// Half the workers use the guard, half Python's `with v.get_lock(): v.value += 1`.
#[multiprocessing::target]
fn increments(counter: Value<u64>, times: u32, python_style: bool) {
    for _ in 0..times {
        if python_style {
            let _held = counter.get_lock().lock().unwrap();
            counter.set(counter.get().unwrap() + 1).unwrap();
        } else {
            let guard = counter.lock().unwrap();
            guard.set(guard.get() + 1);
        }
    }
}

#[rstest]
fn locked_increments_from_four_processes_are_exact(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let counter = Value::new(0u64).unwrap();
    let workers: Vec<Process> = (0..4)
        .map(|i| ctx.process(increments, (counter.clone(), 20_000, i % 2 == 1)))
        .collect();
    for p in &workers {
        p.start().unwrap();
    }
    for p in &workers {
        join_ok(p);
    }
    assert_eq!(counter.get().unwrap(), 80_000);
}

#[multiprocessing::target]
fn doubles(values: Array<f64>, raw: RawArray<u8>, flag: RawValue<bool>) {
    let guard = values.lock().unwrap();
    for i in 0..guard.len() {
        guard.set(i, guard.get(i).unwrap() * 2.0).unwrap();
    }
    raw.write(0, b"done").unwrap();
    flag.set(true);
}

#[rstest]
fn arrays_and_raw_values_are_shared(#[values("fork", "spawn", "forkserver")] method: &str) {
    let values = Array::from_slice(&[1.0, 2.5, -4.0]).unwrap();
    let raw = RawArray::<u8>::new(4).unwrap();
    let flag = RawValue::new(false).unwrap();
    let p = ctx(method).process(doubles, (values.clone(), raw.clone(), flag.clone()));
    p.start().unwrap();
    join_ok(&p);
    assert_eq!(values.to_vec().unwrap(), vec![2.0, 5.0, -8.0]);
    assert_eq!(raw.to_vec(), b"done");
    assert!(flag.get());
    assert!(matches!(values.get(3), Err(Error::InvalidOperation(_))));
    assert!(matches!(
        raw.write(2, b"xyz"),
        Err(Error::InvalidOperation(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Named segments.

#[test]
fn names_sizes_and_errors_follow_cpython() {
    let shm = SharedMemory::create(100).unwrap();
    let name = shm.name().to_owned();
    assert!(name.starts_with("psm_") && name.len() < 31, "{name}");
    assert_eq!(shm.size(), 100);
    assert!(entry(&name).exists());
    assert!(matches!(
        SharedMemory::create_named(&name, 10),
        Err(Error::AlreadyExists { name: n }) if n == name
    ));
    // One leading slash is accepted and ignored.
    let again = SharedMemory::attach(&format!("/{name}")).unwrap();
    assert_eq!((again.name(), again.size()), (name.as_str(), 100));
    assert!(!again.is_owner());

    for bad in ["", "/", "a/b", "..", &"x".repeat(256)] {
        let err = SharedMemory::create_named(bad, 10).unwrap_err();
        assert!(matches!(err, Error::InvalidOperation(_)), "{bad:?}: {err}");
        assert!(
            err.to_string().contains("invalid shared memory name"),
            "{err}"
        );
    }
    assert!(matches!(
        SharedMemory::create(0),
        Err(Error::InvalidOperation(_))
    ));
    assert!(matches!(
        shm.write_at(99, b"ab"),
        Err(Error::InvalidOperation(_))
    ));

    // Any handle may unlink; afterwards the name is gone, the mappings are not.
    again.unlink().unwrap();
    assert!(matches!(again.unlink(), Err(Error::NotFound { .. })));
    assert!(matches!(
        SharedMemory::attach(&name),
        Err(Error::NotFound { .. })
    ));
    shm.write_at(0, b"still mapped").unwrap();
    assert!(!again.is_owner(), "it attached");
    assert!(!entry(&name).exists());
}

#[test]
fn closing_never_unlinks_and_keep_takes_a_segment_off_the_tracker() {
    let name = format!("mp_test_keep_{}", std::process::id());
    let shm = SharedMemory::create_named(&name, 10).unwrap();
    shm.write_at(0, b"kept").unwrap();
    let clone = shm.clone();
    drop(shm);
    clone.close();
    assert!(
        entry(&name).exists(),
        "the creator's last handle closed: not unlinked"
    );
    let attached = SharedMemory::attach(&name).unwrap();
    let mut buf = [0u8; 4];
    attached.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"kept");
    attached.unlink().unwrap();
    assert!(!entry(&name).exists());

    let shm = SharedMemory::create_named(&name, 10).unwrap();
    assert!(shm.is_owner());
    shm.keep();
    assert!(!shm.is_owner());
    drop(shm);
    let attached = SharedMemory::attach(&name).unwrap();
    attached.unlink().unwrap();
    assert!(!entry(&name).exists());
}

#[multiprocessing::target]
fn answers_through_segment(shm: SharedMemory, name: String) {
    let mut ping = [0u8; 4];
    shm.read_at(0, &mut ping).unwrap();
    assert_eq!(&ping, b"ping");
    let by_name = SharedMemory::attach(&name).unwrap();
    assert!(!by_name.is_owner() && !shm.is_owner());
    by_name.write_at(4, b"pong").unwrap();
}

#[rstest]
fn a_segment_crosses_by_argument_and_by_name(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let shm = SharedMemory::create(8).unwrap();
    let name = shm.name().to_owned();
    shm.write_at(0, b"ping").unwrap();
    let p = ctx(method).process(answers_through_segment, (shm.clone(), name.clone()));
    p.start().unwrap();
    join_ok(&p);
    let mut pong = [0u8; 4];
    shm.read_at(4, &mut pong).unwrap();
    assert_eq!(&pong, b"pong");
    assert!(shm.is_owner());
    shm.unlink().unwrap();
    assert!(!entry(&name).exists());
}

/// Creates a segment, writes `alive` into it, reports its name, then ends as told.
#[multiprocessing::target]
fn creates_then(how: String, report: RawArray<u8>, created: Event, never: Event) {
    let shm = SharedMemory::create(64).unwrap();
    shm.write_at(0, b"alive").unwrap();
    report.write(0, shm.name().as_bytes()).unwrap();
    created.set().unwrap();
    match how.as_str() {
        "panic" => panic!("the creator panics holding {shm:?}"),
        "forget" => std::mem::forget(shm),
        "close" => shm.close(),
        _ => {
            never.wait(None).unwrap();
        }
    }
}

/// A segment lives until someone unlinks it, not as long as its creator, however the creator
/// ended: returning after `close()`, forgetting its handle, panicking (unwinding drops the
/// handle), or killed with `SIGKILL`. The parent attaches by name afterwards, reads what the
/// creator wrote, and unlinks it.
#[rstest]
fn a_segment_outlives_its_creator_however_it_ends(
    #[values("fork", "spawn", "forkserver")] method: &str,
    #[values("close", "forget", "panic", "kill")] how: &str,
) {
    let report = RawArray::<u8>::new(32).unwrap();
    let (created, never) = (Event::new().unwrap(), Event::new().unwrap());
    let p = ctx(method).process(
        creates_then,
        (
            how.to_owned(),
            report.clone(),
            created.clone(),
            never.clone(),
        ),
    );
    p.start().unwrap();
    if how == "kill" {
        assert!(created.wait(Some(HANG_GUARD)).unwrap());
        p.kill().unwrap();
    }
    assert!(p.join_timeout(HANG_GUARD).unwrap(), "{p:?} hung");
    let expected = match how {
        "panic" => 1,
        "kill" => -9,
        _ => 0,
    };
    assert_eq!(p.exitcode().unwrap(), Some(expected));
    let name = name_in(&report);
    assert!(name.starts_with("psm_"), "{name:?}");
    let shm = SharedMemory::attach(&name).unwrap();
    let mut buf = [0u8; 5];
    shm.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"alive");
    shm.unlink().unwrap();
    assert!(!entry(&name).exists());
}

#[multiprocessing::target]
fn drops_its_copy(shm: SharedMemory) {
    drop(shm);
}

#[rstest]
fn a_child_never_unlinks_its_parents_segment(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let shm = SharedMemory::create(8).unwrap();
    let p = ctx(method).process(drops_its_copy, (shm.clone(),));
    p.start().unwrap();
    join_ok(&p);
    assert!(SharedMemory::attach(shm.name()).is_ok());
    assert!(shm.is_owner());
    shm.unlink().unwrap();
}

// ---------------------------------------------------------------------------------------------
// The tracker at the level of a whole program: this test binary, run again as a helper in a
// session of its own, so that every process it starts (its tracker) can be found.

const HELPER_MODE: &str = "MP_TRACKER_HELPER";

/// Creates a segment, writes its name into `report`, forgets the handle and exits.
#[multiprocessing::target]
fn creates_and_forgets(report: RawArray<u8>) {
    let shm = SharedMemory::create(4096).unwrap();
    report.write(0, shm.name().as_bytes()).unwrap();
    std::mem::forget(shm);
}

/// Blocks until killed.
#[multiprocessing::target]
fn blocks(never: Event) {
    never.wait(None).unwrap();
}

/// Not a test by itself: the helper program. Creates a segment and prints `NAME=<name>`, then,
/// by mode:
/// * `forget`: exits having forgotten the handle;
/// * `children`: also has a `fork` and a `spawn` child each create a segment and exit, prints
///   their names, and exits; nobody unlinks any of them;
/// * `keep`: keeps the segment (off the tracker's list) and exits;
/// * `kill`: blocks until killed;
/// * `kill-fork-child`: starts a `fork` child that blocks until killed, prints `CHILD=<pid>`,
///   and blocks until killed.
#[test]
#[ignore = "a helper run by tracker_* tests"]
fn tracker_helper() {
    let Ok(mode) = std::env::var(HELPER_MODE) else {
        return;
    };
    let _serial = common::serial();
    let shm = SharedMemory::create(4096).unwrap();
    println!("NAME={}", shm.name());
    if mode == "keep" {
        shm.keep();
    }
    std::mem::forget(shm);
    let never = Event::new().unwrap();
    match mode.as_str() {
        "children" => {
            for method in ["fork", "spawn"] {
                let report = RawArray::<u8>::new(32).unwrap();
                let p = multiprocessing::get_context(Some(method))
                    .unwrap()
                    .process(creates_and_forgets, (report.clone(),));
                p.start().unwrap();
                join_ok(&p);
                println!("NAME={}", name_in(&report));
            }
        }
        "kill" => {
            never.wait(None).unwrap();
        }
        "kill-fork-child" => {
            let p = multiprocessing::get_context(Some("fork"))
                .unwrap()
                .process(blocks, (never.clone(),));
            p.start().unwrap();
            println!("CHILD={}", p.pid().unwrap().unwrap());
            never.wait(None).unwrap();
        }
        _ => {}
    }
    println!("END");
}

/// Runs the helper in a session of its own; returns it, the names it printed (`NAME=`) and the
/// pid of its child (`CHILD=`), once it has printed `END` or `CHILD=` or the segment's name
/// (mode `kill`).
fn run_helper(mode: &str) -> (std::process::Child, Vec<String>, Option<i32>) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "tracker_helper",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_MODE, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        })
    };
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut names = Vec::new();
    let mut pid = None;
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    for line in lines.by_ref() {
        seen.push(line.clone());
        // The harness prints `test tracker_helper ... ` before the test's own output, on one
        // line.
        if let Some((_, name)) = line.split_once("NAME=") {
            names.push(name.to_owned());
            if mode == "kill" {
                break;
            }
        } else if let Some((_, child)) = line.split_once("CHILD=") {
            pid = child.parse().ok();
            break;
        } else if line.contains("END") {
            break;
        }
    }
    assert!(!names.is_empty(), "the helper printed no name: {seen:?}");
    // Keep reading: a helper whose stdout is closed fails at its next line ("ok") and exits
    // with 101, before its exit function runs.
    std::thread::spawn(move || lines.for_each(drop));
    (child, names, pid)
}

/// Live (not zombie) processes in session `sid`.
fn session_members(sid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let fields: Vec<&str> = after.split_whitespace().collect();
            fields.len() > 3 && fields[0] != "Z" && fields[3] == sid.to_string()
        })
        .collect()
}

#[rstest]
fn tracker_a_program_that_exits_leaves_no_process_and_no_segment(
    #[values("forget", "children")] mode: &str,
) {
    let (mut child, names, _) = run_helper(mode);
    let sid = child.id() as i32;
    assert!(child.wait().unwrap().success());
    assert_eq!(names.len(), if mode == "children" { 3 } else { 1 });
    // At exit the main process closed its connection, the last one: the tracker unlinked every
    // segment the program left (its children's too), exited, and was reaped, all before the
    // program ended.
    for name in &names {
        assert!(!entry(name).exists(), "{name} leaked");
    }
    assert_eq!(session_members(sid), Vec::<i32>::new());
}

#[test]
fn tracker_a_kept_segment_outlives_the_program() {
    let (mut child, names, _) = run_helper("keep");
    let sid = child.id() as i32;
    assert!(child.wait().unwrap().success());
    assert_eq!(session_members(sid), Vec::<i32>::new());
    assert!(
        entry(&names[0]).exists(),
        "keep(): the tracker left it alone"
    );
    SharedMemory::attach(&names[0]).unwrap().unlink().unwrap();
}

#[test]
fn tracker_a_program_killed_with_sigkill_leaves_no_process_and_no_segment() {
    let (mut child, names, _) = run_helper("kill");
    let sid = child.id() as i32;
    assert!(entry(&names[0]).exists());
    let trackers = children_of(sid);
    assert_eq!(trackers.len(), 1, "the helper started one tracker");
    child.kill().unwrap();
    child.wait().unwrap();
    wait_until_unlinked(&names[0]);
    for tracker in &trackers {
        wait_exited(tracker);
    }
    assert_eq!(session_members(sid), Vec::<i32>::new());
}

/// Under `fork`, a live child holds the program's connection: killing the main process does not
/// end the tracker, killing the child then does.
#[test]
fn tracker_outlives_a_killed_main_process_while_a_fork_child_lives() {
    let (mut main, names, child) = run_helper("kill-fork-child");
    let sid = main.id() as i32;
    let child = child.expect("the helper printed its child's pid");
    let trackers: Vec<OwnedFd> = children_of(sid)
        .into_iter()
        .filter(|pidfd| pidfd_pid(pidfd) != Some(child))
        .collect();
    assert_eq!(trackers.len(), 1, "the helper started one tracker");
    main.kill().unwrap();
    main.wait().unwrap();
    // The child still holds the connection, so the tracker cannot have seen end-of-file.
    assert!(
        entry(&names[0]).exists(),
        "unlinked while a fork child lives"
    );
    nix_kill(child);
    wait_until_unlinked(&names[0]);
    for tracker in &trackers {
        wait_exited(tracker);
    }
}

/// The pid behind a pidfd (`Pid:` in its fdinfo).
fn pidfd_pid(pidfd: &OwnedFd) -> Option<i32> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|line| line.strip_prefix("Pid:"))?
        .trim()
        .parse()
        .ok()
}

fn nix_kill(pid: i32) {
    // SAFETY: kill(2) with a pid we own the knowledge of (a live grandchild in the helper's
    // session) and SIGKILL.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "kill {pid}");
}
