//! A test that starts a `spawn` or `forkserver` process without calling the main guard, in a
//! binary where no test calls it (the guard is per process, so this binary has this one test):
//! `start` says to call the guard, instead of the child re-running the test harness (it printed
//! "running 1 test" a second time, and the parent waited for ever).

// The forkserver is Unix-only; `spawn`'s check is the same everywhere.
#![cfg(unix)]

use std::time::Duration;

#[multiprocessing::target]
fn nothing() {}

#[test]
fn a_test_without_the_guard_is_told_to_call_it() {
    for method in ["spawn", "forkserver"] {
        let ctx = multiprocessing::get_context(Some(method)).unwrap();
        let p = ctx.process(nothing, ());
        let err = p.start().unwrap_err();
        assert_eq!(err.kind(), "Bootstrapping", "{err}");
        let message = err.to_string();
        assert!(
            message.contains("call multiprocessing::main_guard() first thing in each test"),
            "{message}"
        );
        assert!(p.pid().unwrap().is_none(), "no process was started");
    }
    // `fork` needs no guard.
    let p = multiprocessing::get_context(Some("fork"))
        .unwrap()
        .process(nothing, ());
    p.start().unwrap();
    assert!(p.join_timeout(Duration::from_secs(60)).unwrap());
    assert_eq!(p.exitcode().unwrap(), Some(0));
}
