//! Scenarios of when ended children are reaped: by `active_children()`, and by the main process's
//! exit, which waits for its non-daemonic children (LIFE-8, EXIT-1); a child's children are its
//! own. Each was added when a mutant of CPython's `multiprocessing` survived the suite (`cargo
//! xtask mutants`).

use std::time::{Duration, Instant};

use multiprocessing::connection::{pipe, wait, Connection};
use multiprocessing::{active_children, main_guard, parent_process, Process};

use crate::trace::{ctx, exitcode, py_bool, py_list, say};

type Scenario = fn(&str);

pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("active-children-own-only", active_children_own_only),
    ("active-children-reaps-ended", active_children_reaps_ended),
    ("nondaemon-main-waits", nondaemon_main_waits),
];

#[multiprocessing::target]
fn noop() {}

fn listed() -> Vec<String> {
    active_children().iter().map(Process::name).collect()
}

#[multiprocessing::target]
fn first(mut go: Connection) {
    let _: String = go.recv().unwrap();
}

#[multiprocessing::target]
fn second() {
    let mut names = listed();
    names.sort();
    say!("second child: active_children() {}", py_list(names));
}

fn active_children_own_only(method: &str) {
    main_guard();
    let (go_recv, mut go_send) = pipe(false).unwrap();
    let a = ctx(method).process(first, (go_recv,)).with_name("first");
    a.start().unwrap();
    let b = ctx(method).process(second, ()).with_name("second");
    b.start().unwrap();
    b.join().unwrap();
    say!("second child exitcode: {}", exitcode(&b));
    go_send.send(&"go".to_string()).unwrap();
    a.join().unwrap();
    say!("first child exitcode: {}", exitcode(&a));
}

fn active_children_reaps_ended(method: &str) {
    main_guard();
    let p = ctx(method).process(noop, ()).with_name("worker");
    p.start().unwrap();
    let sentinel = p.sentinel().unwrap();
    let ready = wait(&[sentinel], Some(Duration::from_secs(60))).unwrap();
    say!("sentinel ready: {}", py_bool(ready == [sentinel]));
    // The sentinel may be ready a moment before the child can be reaped: ask again for a while.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listed().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    say!("active_children() once it has ended: {}", py_list(listed()));
    say!("exitcode before join: {}", exitcode(&p));
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

/// Whether the process `pid` is still there after `timeout`: CPython's child waits on its
/// parent's sentinel; the reference's child has its parent's pid.
fn still_there(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

#[multiprocessing::target]
fn waits_for_go(mut go: Connection) {
    let _: String = go.recv().unwrap();
    let parent = parent_process().unwrap();
    say!(
        "child: the main process still there 1 s after its end: {}",
        py_bool(still_there(parent.pid, Duration::from_secs(1)))
    );
}

fn nondaemon_main_waits(method: &str) {
    main_guard();
    let (go_recv, mut go_send) = pipe(false).unwrap();
    let p = ctx(method).process(waits_for_go, (go_recv,));
    p.start().unwrap();
    say!("main: end of main, no join");
    go_send.send(&"go".to_string()).unwrap();
}
