//! The process model under every start method, in process: each test calls the main guard first,
//! so children take over before the test harness's `main` (the guard works under `cargo test`).
//!
//! Children report facts through files in a temporary directory: IPC is tested elsewhere.
//!
//! This binary runs on every platform. A case whose start method the platform lacks (on Windows
//! all but `spawn`) checks nothing there; `cargo xtask cross-check --wine` runs the rest on
//! Windows.

mod common;
use common::{ctx, Serial};
#[cfg(target_os = "linux")]
#[path = "common/children.rs"]
mod children;

use std::path::{Path, PathBuf};
use std::time::Duration;

use multiprocessing::{active_children, get_context, Error, Process};
use rstest::rstest;

/// The context of `method` (and the right to use it alone in this binary), or `None` where this
/// platform lacks the method: the case then checks nothing here.
fn ctx_here(method: &str) -> Option<Serial> {
    multiprocessing::get_all_start_methods()
        .iter()
        .any(|m| m.as_str() == method)
        .then(|| ctx(method))
}

/// Where a child writes what it saw.
fn report(dir: &Path) -> PathBuf {
    dir.join("report")
}

fn read_report(dir: &Path) -> String {
    std::fs::read_to_string(report(dir)).unwrap_or_default()
}

#[multiprocessing::target]
fn returns() {}

#[multiprocessing::target]
fn panics() {
    panic!("target failed on purpose");
}

#[multiprocessing::target]
fn exits_with(code: i32) {
    multiprocessing::exit(code);
}

#[multiprocessing::target]
fn errs() -> Result<(), String> {
    Err("an error result".into())
}

/// Runs until it is terminated or killed (an hour is far beyond any test's hang guard).
#[multiprocessing::target]
fn blocks() {
    std::thread::sleep(Duration::from_secs(3600));
}

#[multiprocessing::target]
fn describe(path: PathBuf) {
    let me = multiprocessing::current_process();
    let parent = multiprocessing::parent_process().unwrap();
    // Python's child reads end-of-file from its stdin (`os.devnull`); so does this one.
    let stdin_at_eof = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]).ok() == Some(0);
    let text = format!(
        "name={} pid={} parent={} parent_pid={} os_ppid={} daemon={} stdin_at_eof={stdin_at_eof}\n",
        me.name,
        me.pid,
        parent.name,
        parent.pid,
        os_parent_pid(),
        me.daemon
    );
    std::fs::write(path, text).unwrap();
}

/// Python's `os.getppid()`: the OS-level parent (under `forkserver`, the server).
#[cfg(unix)]
fn os_parent_pid() -> u32 {
    std::os::unix::process::parent_id()
}

/// std has no parent pid on Windows; there the OS-level parent is always the process that
/// called `start` (only `spawn` exists).
#[cfg(not(unix))]
fn os_parent_pid() -> u32 {
    multiprocessing::parent_process().map_or(0, |parent| parent.pid as u32)
}

#[multiprocessing::target]
fn starts_a_child(path: PathBuf) {
    let outcome = match Process::new(returns, ()).start() {
        Ok(()) => "started".to_owned(),
        Err(err @ Error::DaemonicChildren) => format!("DaemonicChildren: {err}"),
        Err(err) => format!("other error: {err}"),
    };
    std::fs::write(path, outcome).unwrap();
}

#[rstest]
fn a_returning_target_exits_0(#[values("fork", "spawn", "forkserver")] method: &str) {
    let Some(ctx) = ctx_here(method) else { return };
    let p = ctx.process(returns, ());
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode().unwrap(), Some(0));
}

#[rstest]
fn a_panicking_target_exits_1(#[values("fork", "spawn", "forkserver")] method: &str) {
    let Some(ctx) = ctx_here(method) else { return };
    let p = ctx.process(panics, ());
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode().unwrap(), Some(1));
}

#[rstest]
fn an_err_result_exits_1(#[values("fork", "spawn", "forkserver")] method: &str) {
    let Some(ctx) = ctx_here(method) else { return };
    let p = ctx.process(errs, ());
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode().unwrap(), Some(1));
}

#[rstest]
fn an_explicit_exit_is_the_exit_code(#[values("fork", "spawn", "forkserver")] method: &str) {
    let Some(ctx) = ctx_here(method) else { return };
    let p = ctx.process(exits_with, (7,));
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode().unwrap(), Some(7));
}

#[rstest]
#[case::terminate("terminate", -15)]
// CPython: SIGKILL on Unix; on Windows `kill` is `terminate`, so -15 there.
#[case::kill("kill", if cfg!(windows) { -15 } else { -9 })]
fn a_signal_is_a_negative_exit_code(
    #[values("fork", "spawn", "forkserver")] method: &str,
    #[case] how: &str,
    #[case] expected: i32,
) {
    let Some(ctx) = ctx_here(method) else { return };
    let p = ctx.process(blocks, ());
    p.start().unwrap();
    assert!(p.is_alive().unwrap());
    if how == "terminate" {
        p.terminate().unwrap();
    } else {
        p.kill().unwrap();
    }
    p.join().unwrap();
    assert_eq!(p.exitcode().unwrap(), Some(expected));
    assert!(!p.is_alive().unwrap());
}

#[rstest]
fn join_with_a_timeout_leaves_a_running_child_running(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let Some(ctx) = ctx_here(method) else { return };
    let p = ctx.process(blocks, ());
    p.start().unwrap();
    assert!(!p.join_timeout(Duration::from_millis(50)).unwrap());
    assert_eq!(p.exitcode().unwrap(), None);
    assert!(p.is_alive().unwrap());
    p.terminate().unwrap();
    assert!(p.join_timeout(Duration::from_secs(60)).unwrap());
    assert_eq!(p.exitcode().unwrap(), Some(-15));
}

#[rstest]
fn the_child_knows_its_name_and_its_parent(#[values("fork", "spawn", "forkserver")] method: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(ctx) = ctx_here(method) else { return };
    let p = ctx
        .process(describe, (report(dir.path()),))
        .with_name("Worker-7");
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode().unwrap(), Some(0));
    let me = std::process::id();
    let child = p.pid().unwrap().unwrap();
    assert_ne!(child as u32, me);
    let facts = read_report(dir.path());
    let os_ppid = if method == "forkserver" {
        // The OS-level parent is the forkserver: not us.
        let ppid: u32 = facts
            .split("os_ppid=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_ne!(ppid, me, "{facts}");
        ppid
    } else {
        me
    };
    assert_eq!(
        facts,
        format!("name=Worker-7 pid={child} parent=MainProcess parent_pid={me} os_ppid={os_ppid} daemon=false stdin_at_eof=true\n")
    );
}

#[rstest]
fn a_context_names_processes_after_its_class(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let Some(ctx) = ctx_here(method) else { return };
    let name = ctx.process(returns, ()).name();
    let class = match method {
        "fork" => "ForkProcess-",
        "spawn" => "SpawnProcess-",
        _ => "ForkServerProcess-",
    };
    assert!(name.starts_with(class), "{name}");
    assert!(Process::new(returns, ()).name().starts_with("Process-"));
}

#[rstest]
fn starting_twice_is_an_error(#[values("fork", "spawn", "forkserver")] method: &str) {
    let Some(ctx) = ctx_here(method) else { return };
    let p = ctx.process(returns, ());
    p.start().unwrap();
    assert!(matches!(p.start(), Err(Error::AlreadyStarted)));
    p.join().unwrap();
    assert!(matches!(p.start(), Err(Error::AlreadyStarted)));
}

#[rstest]
fn joining_or_signalling_before_start_is_an_error(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let Some(ctx) = ctx_here(method) else { return };
    let p = ctx.process(returns, ());
    assert!(matches!(
        p.join(),
        Err(Error::NotStarted { operation: "join" })
    ));
    assert_eq!(
        p.join().unwrap_err().to_string(),
        "can only join a started process: call start() first"
    );
    assert!(matches!(p.terminate(), Err(Error::NotStarted { .. })));
    assert!(matches!(p.interrupt(), Err(Error::NotStarted { .. })));
    assert!(matches!(p.kill(), Err(Error::NotStarted { .. })));
    assert_eq!(p.pid().unwrap(), None);
    assert_eq!(p.exitcode().unwrap(), None);
    assert!(!p.is_alive().unwrap());
}

#[rstest]
fn a_closed_process_refuses_everything(#[values("fork", "spawn", "forkserver")] method: &str) {
    let Some(ctx) = ctx_here(method) else { return };
    let p = ctx.process(blocks, ());
    p.start().unwrap();
    assert!(matches!(p.close(), Err(Error::StillRunning)));
    p.kill().unwrap();
    p.join().unwrap();
    p.close().unwrap();
    assert!(matches!(p.pid(), Err(Error::Closed)));
    assert!(matches!(p.exitcode(), Err(Error::Closed)));
    assert!(matches!(p.is_alive(), Err(Error::Closed)));
    assert!(matches!(p.join(), Err(Error::Closed)));
    assert!(matches!(p.start(), Err(Error::Closed)));
    assert!(matches!(p.sentinel(), Err(Error::Closed)));
    assert_eq!(p.close().map_err(|e| e.to_string()), Ok(()));
}

#[rstest]
fn a_daemonic_process_may_not_have_children(#[values("fork", "spawn", "forkserver")] method: &str) {
    let dir = tempfile::tempdir().unwrap();
    let Some(ctx) = ctx_here(method) else { return };
    let p = ctx
        .process(starts_a_child, (report(dir.path()),))
        .with_daemon(true);
    p.start().unwrap();
    assert!(matches!(
        p.set_daemon(false),
        Err(Error::AlreadyRunning { .. })
    ));
    p.join().unwrap();
    assert_eq!(p.exitcode().unwrap(), Some(0));
    assert_eq!(
        read_report(dir.path()),
        "DaemonicChildren: daemonic processes are not allowed to have children: start this \
         process with daemon=false if it needs children of its own"
    );
}

#[rstest]
#[case::spawn("spawn")]
#[case::forkserver("forkserver")]
fn a_closure_cannot_cross_a_spawn_boundary(#[case] method: &str) {
    let captured = String::from("captured");
    let Some(ctx) = ctx_here(method) else { return };
    let p = ctx.process(move || drop(captured), ());
    let err = p.start().unwrap_err();
    assert!(matches!(err, Error::Serialization { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("a closure cannot cross a spawn or forkserver boundary"),
        "{err}"
    );
    assert_eq!(p.pid().unwrap(), None, "no child was created");
    assert!(!active_children().iter().any(|c| c.name() == p.name()));
}

#[test]
fn a_closure_is_a_fine_fork_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = report(dir.path());
    let Some(ctx) = ctx_here("fork") else { return };
    let p = ctx.process(move || std::fs::write(path, "ran").unwrap(), ());
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(
        (p.exitcode().unwrap(), read_report(dir.path()).as_str()),
        (Some(0), "ran")
    );
}

fn unregistered() {}

#[rstest]
#[case::spawn("spawn")]
#[case::forkserver("forkserver")]
fn an_unregistered_function_cannot_cross_a_spawn_boundary(#[case] method: &str) {
    let Some(ctx) = ctx_here(method) else { return };
    let err = ctx.process(unregistered, ()).start().unwrap_err();
    assert!(
        err.to_string()
            .contains("annotate the function with #[multiprocessing::target]"),
        "{err}"
    );
}

/// A value whose serialization fails at run time, like an unpicklable object.
struct Unserializable;

impl serde::Serialize for Unserializable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "cannot serialize 'Unserializable' object",
        ))
    }
}

impl<'de> serde::Deserialize<'de> for Unserializable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unserializable)
    }
}

#[multiprocessing::target]
fn takes_unserializable(_value: Unserializable) {}

#[rstest]
fn an_unserializable_argument_fails_at_start_except_under_fork(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let Some(ctx) = ctx_here(method) else { return };
    let p = ctx.process(takes_unserializable, (Unserializable,));
    match method {
        "fork" => {
            p.start().unwrap();
            p.join().unwrap();
            assert_eq!(p.exitcode().unwrap(), Some(0));
        }
        _ => {
            let err = p.start().unwrap_err();
            assert_eq!(
                err.to_string(),
                "cannot serialize the arguments of target 'process::takes_unserializable': cannot \
                 serialize 'Unserializable' object"
            );
            assert_eq!(p.pid().unwrap(), None);
        }
    }
}

#[rstest]
fn sentinels_let_a_parent_wait_for_the_first_of_several(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let Some(ctx) = ctx_here(method) else { return };
    let quick = ctx.process(returns, ());
    let slow = ctx.process(blocks, ());
    slow.start().unwrap();
    quick.start().unwrap();
    let ready = multiprocessing::connection::wait(
        &[slow.sentinel().unwrap(), quick.sentinel().unwrap()],
        None,
    )
    .unwrap();
    assert_eq!(ready, vec![quick.sentinel().unwrap()]);
    assert!(slow.is_alive().unwrap());
    assert_eq!(
        multiprocessing::connection::wait(
            &[slow.sentinel().unwrap()],
            Some(Duration::from_millis(20))
        )
        .unwrap(),
        Vec::<multiprocessing::Sentinel>::new()
    );
    slow.kill().unwrap();
    slow.join().unwrap();
    quick.join().unwrap();
}

#[rstest]
fn active_children_lists_running_children_only(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let Some(ctx) = ctx_here(method) else { return };
    let p = ctx.process(blocks, ());
    let named = |name: &str| active_children().iter().any(|c| c.name() == name);
    assert!(!named(&p.name()));
    p.start().unwrap();
    assert!(named(&p.name()));
    p.terminate().unwrap();
    p.join().unwrap();
    assert!(!named(&p.name()));
}

#[rstest]
fn a_childs_child_is_named_after_its_parent(#[values("fork", "spawn", "forkserver")] method: &str) {
    // A child started by a child: `Process-1:1`-style identity.
    let dir = tempfile::tempdir().unwrap();
    let Some(ctx) = ctx_here(method) else { return };
    let p = ctx.process(starts_grandchild, (report(dir.path()), method.to_owned()));
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode().unwrap(), Some(0));
    let facts = read_report(dir.path());
    let parent_name = p.name();
    assert!(
        facts.starts_with(&format!("name={parent_name}:1 ")),
        "{facts}"
    );
    assert!(facts.contains(&format!("parent={parent_name} ")), "{facts}");
}

#[multiprocessing::target]
fn starts_grandchild(path: PathBuf, method: String) {
    let ctx = get_context(Some(&method)).unwrap();
    let p = ctx.process(describe, (path,));
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode().unwrap(), Some(0));
}

#[test]
#[cfg(target_os = "linux")]
fn the_default_context_is_forkserver_on_linux() {
    let _serial = common::serial();
    assert_eq!(
        Process::new(returns, ()).start_method(),
        multiprocessing::StartMethod::Forkserver
    );
}

/// The forkserver keeps children forked ahead of requests (spares); killing them, as anything on
/// the machine may, costs nothing but their replacement: the next starts work as before.
#[test]
#[cfg(target_os = "linux")]
fn killed_forkserver_spares_are_replaced() {
    let ctx = ctx("forkserver");
    for round in 0..3 {
        let p = ctx.process(exits_with, (round,));
        p.start().unwrap();
        p.join().unwrap();
        assert_eq!(p.exitcode().unwrap(), Some(round));
        // Every process below this one's children is now a spare: the children it started have
        // all been joined, and the resource tracker has none. The server forks spares on its
        // own time: wait for one.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let spares = loop {
            let spares: Vec<i32> = children::children_of(std::process::id() as i32)
                .into_iter()
                .flat_map(children::children_of)
                .collect();
            if !spares.is_empty() || std::time::Instant::now() > deadline {
                break spares;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(!spares.is_empty(), "no spare found in round {round}");
        for spare in spares {
            // SAFETY: kill takes a pid and a signal.
            unsafe { libc::kill(spare, libc::SIGKILL) };
        }
    }
}

/// Starts from several threads at once each get their own child (requests queue in the
/// forkserver's socket while no spare reads it), and every exit code reaches its own `join`.
#[test]
fn concurrent_forkserver_starts_each_get_their_child() {
    let ctx = ctx("forkserver");
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let ctx = &ctx;
            scope.spawn(move || {
                for i in 0..8 {
                    let code = thread * 10 + i;
                    let p = ctx.process(exits_with, (code,));
                    p.start().unwrap();
                    p.join().unwrap();
                    assert_eq!(p.exitcode().unwrap(), Some(code));
                }
            });
        }
    });
}

/// Says it is running (its `SIGINT` handler, if any, is installed by then), then blocks.
#[cfg(unix)]
#[multiprocessing::target]
fn running_then_blocks(running: multiprocessing::Event) {
    running.set().unwrap();
    std::thread::sleep(Duration::from_secs(3600));
}

/// CPython 3.14's `interrupt()`: `SIGINT`, which a child ends on as on `KeyboardInterrupt`.
#[cfg(unix)]
#[rstest]
fn an_interrupted_child_exits_1(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let running = multiprocessing::Event::new().unwrap();
    let p = ctx.process(running_then_blocks, (running.clone(),));
    p.start().unwrap();
    assert!(running.wait(Some(Duration::from_secs(60))).unwrap());
    p.interrupt().unwrap();
    assert!(p.join_timeout(Duration::from_secs(60)).unwrap());
    assert_eq!(p.exitcode().unwrap(), Some(1));
    p.interrupt().unwrap(); // an ended child: nothing happens, as with terminate()
}

/// A `fork` child interrupted as soon as `start` returns, before it could install its handler,
/// still ends as on `KeyboardInterrupt` (`SIGINT` is blocked until then, so it waits).
#[cfg(unix)]
#[test]
fn a_fork_child_interrupted_at_once_exits_1() {
    let ctx = ctx("fork");
    for _ in 0..20 {
        let p = ctx.process(blocks, ());
        p.start().unwrap();
        p.interrupt().unwrap();
        assert!(p.join_timeout(Duration::from_secs(60)).unwrap());
        assert_eq!(p.exitcode().unwrap(), Some(1));
    }
}

/// A child that inherited `SIGINT` ignored keeps ignoring it (CPython installs its handler only
/// over the default disposition).
#[cfg(unix)]
#[test]
fn an_inherited_ignored_sigint_is_kept() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    let ctx = ctx("fork");
    let running = multiprocessing::Event::new().unwrap();
    let p = ctx.process(running_then_blocks, (running.clone(),));
    // SAFETY: SIG_IGN and SIG_DFL are not handlers; the previous disposition is put back.
    let previous = unsafe { signal(Signal::SIGINT, SigHandler::SigIgn) }.unwrap();
    let started = p.start();
    // SAFETY: as above.
    unsafe { signal(Signal::SIGINT, previous) }.unwrap();
    started.unwrap();
    assert!(running.wait(Some(Duration::from_secs(60))).unwrap());
    p.interrupt().unwrap();
    assert!(!p.join_timeout(Duration::from_millis(200)).unwrap());
    p.terminate().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode().unwrap(), Some(-15));
}

/// Only the process that created a `Process` may join or test it: a `fork` child that inherited
/// its sibling's object (or one never started) gets `NotAChild`, as CPython's `AssertionError`.
#[cfg(unix)]
#[test]
fn only_the_creator_may_join_or_test_a_process() {
    let ctx = ctx("fork");
    let running = multiprocessing::Event::new().unwrap();
    let first = ctx.process(running_then_blocks, (running.clone(),));
    first.start().unwrap();
    assert!(running.wait(Some(Duration::from_secs(60))).unwrap());
    let unstarted = ctx.process(returns, ());
    let (inherited, never_started) = (first.clone(), unstarted.clone());
    let sibling = ctx.process(
        move || {
            let not_a_child = |result: Result<bool, Error>, operation| {
                assert!(
                    matches!(result, Err(Error::NotAChild { operation: o }) if o == operation),
                    "{result:?}"
                );
            };
            not_a_child(inherited.join().map(|()| true), "join");
            not_a_child(inherited.join_timeout(Duration::ZERO), "join");
            not_a_child(inherited.is_alive(), "test");
            assert_eq!(inherited.exitcode().unwrap(), None); // not its child: nothing known
            not_a_child(never_started.join().map(|()| true), "join");
            not_a_child(never_started.is_alive(), "test");
            assert_eq!(
                inherited.join().unwrap_err().to_string(),
                "can only join a child process: this Process object was created by another \
                 process (only its creator may join or test it)"
            );
        },
        (),
    );
    sibling.start().unwrap();
    sibling.join().unwrap();
    assert_eq!(sibling.exitcode().unwrap(), Some(0));
    assert!(first.is_alive().unwrap()); // the sibling's attempts changed nothing here
    first.terminate().unwrap();
    first.join().unwrap();
    assert_eq!(first.exitcode().unwrap(), Some(-15));
    assert!(!unstarted.is_alive().unwrap());
}
