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
    assert!(!shm.is_owner(), "unlinked: nothing left to own");
    assert!(!entry(&name).exists());
}

#[test]
fn the_creator_unlinks_on_drop_unless_it_keeps_the_segment() {
    let name = format!("mp_test_keep_{}", std::process::id());
    let shm = SharedMemory::create_named(&name, 10).unwrap();
    let clone = shm.clone();
    drop(shm);
    assert!(entry(&name).exists(), "a clone is still alive");
    drop(clone);
    assert!(!entry(&name).exists());

    let shm = SharedMemory::create_named(&name, 10).unwrap();
    shm.keep();
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
    // The child's handles did not unlink: only the creator's does.
    assert!(entry(&name).exists());
    drop(shm);
    assert!(!entry(&name).exists());
}

/// Creates a segment, reports its name, then ends as told.
#[multiprocessing::target]
fn creates_then(how: String, report: RawArray<u8>, created: Event, never: Event) {
    let shm = SharedMemory::create(64).unwrap();
    report.write(0, shm.name().as_bytes()).unwrap();
    created.set().unwrap();
    match how.as_str() {
        "panic" => panic!("the creator panics holding {shm:?}"),
        "forget" => std::mem::forget(shm),
        _ => {
            never.wait(None).unwrap();
        }
    }
}

/// The child, where it reports the name, its `created` event, and the event it never sees.
fn start_creator(method: &str, how: &str) -> (Process, RawArray<u8>, Event, Event) {
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
    (p, report, created, never)
}

#[rstest]
fn a_panicking_creator_unlinks_its_segment(#[values("fork", "spawn", "forkserver")] method: &str) {
    let (p, report, _, _never) = start_creator(method, "panic");
    assert!(p.join_timeout(HANG_GUARD).unwrap());
    assert_eq!(p.exitcode().unwrap(), Some(1));
    let name = name_in(&report);
    assert!(name.starts_with("psm_"), "{name:?}");
    // Unwinding dropped the handle: unlinked before the child exited.
    assert!(matches!(
        SharedMemory::attach(&name),
        Err(Error::NotFound { .. })
    ));
    assert!(!entry(&name).exists());
}

#[rstest]
fn a_leaked_handle_is_unlinked_when_its_creator_exits(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let (p, report, _, _never) = start_creator(method, "forget");
    join_ok(&p);
    // The child said goodbye to its tracker at exit: unlinked before `join` returned.
    let name = name_in(&report);
    assert!(!entry(&name).exists(), "{name} leaked");
}

#[rstest]
fn a_creator_killed_with_sigkill_leaks_nothing(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let (p, report, created_event, _never) = start_creator(method, "block");
    assert!(created_event.wait(Some(HANG_GUARD)).unwrap());
    let created = name_in(&report);
    assert!(entry(&created).exists());
    // Its tracker (spawn, forkserver: a process of its own) must go too.
    let trackers = children_of(p.pid().unwrap().unwrap());
    p.kill().unwrap();
    assert!(p.join_timeout(HANG_GUARD).unwrap());
    assert_eq!(p.exitcode().unwrap(), Some(-9));
    wait_until_unlinked(&created);
    for tracker in &trackers {
        wait_exited(tracker);
    }
    assert!(matches!(
        SharedMemory::attach(&created),
        Err(Error::NotFound { .. })
    ));
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
}

// ---------------------------------------------------------------------------------------------
// The tracker at the level of a whole program: this test binary, run again as a helper in a
// session of its own, so that every process it starts (its tracker) can be found.

const HELPER_MODE: &str = "MP_TRACKER_HELPER";

/// Not a test by itself: the helper program. Creates a segment, prints its name, then exits
/// having forgotten the handle (`forget`) or blocks until killed (`kill`).
#[test]
#[ignore = "a helper run by tracker_* tests"]
fn tracker_helper() {
    let Ok(mode) = std::env::var(HELPER_MODE) else {
        return;
    };
    let _serial = common::serial();
    let shm = SharedMemory::create(4096).unwrap();
    println!("NAME={}", shm.name());
    std::mem::forget(shm);
    if mode == "kill" {
        let never = Event::new().unwrap();
        never.wait(None).unwrap();
    }
}

fn run_helper(mode: &str) -> (std::process::Child, String) {
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
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    // The harness prints `test tracker_helper ... ` before the test's own output, on one line.
    let name = lines
        .by_ref()
        .inspect(|line| seen.push(line.clone()))
        .find_map(|line| Some(line.split_once("NAME=")?.1.to_owned()))
        .unwrap_or_else(|| panic!("the helper printed no name: {seen:?}"));
    // Keep reading: a helper whose stdout is closed fails at its next line ("ok") and exits
    // with 101, before its exit function runs.
    std::thread::spawn(move || lines.for_each(drop));
    (child, name)
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

#[test]
fn tracker_a_program_that_exits_leaves_no_process_and_no_segment() {
    let (mut child, name) = run_helper("forget");
    let sid = child.id() as i32;
    assert!(child.wait().unwrap().success());
    // At exit the program said goodbye: the tracker unlinked the leaked segment, exited, and
    // was reaped, all before the program ended.
    assert!(!entry(&name).exists(), "{name} leaked");
    assert_eq!(session_members(sid), Vec::<i32>::new());
}

#[test]
fn tracker_a_program_killed_with_sigkill_leaves_no_process_and_no_segment() {
    let (mut child, name) = run_helper("kill");
    let sid = child.id() as i32;
    assert!(entry(&name).exists());
    let trackers = children_of(sid);
    assert_eq!(trackers.len(), 1, "the helper started one tracker");
    child.kill().unwrap();
    child.wait().unwrap();
    wait_until_unlinked(&name);
    for tracker in &trackers {
        wait_exited(tracker);
    }
    assert_eq!(session_members(sid), Vec::<i32>::new());
}
