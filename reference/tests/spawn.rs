//! The `spawn` start method on every platform: the part of the process model Windows has.
//! `tests/process.rs` checks the same facts under every start method on Unix; this binary is the
//! one that also builds and runs on Windows, where a child is created by `CreateProcess` and
//! handed its preparation data on stdin (`src/spawn/windows.rs`).
//!
//! Each test calls the main guard first (through `common::ctx`), so children take over before
//! the test harness's `main`. Children report through files in a temporary directory.

mod common;
use common::ctx;

use std::path::PathBuf;
use std::time::Duration;

use multiprocessing::{connection, parent_process, Error, Process};

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

/// Runs until it is terminated (an hour is far beyond any test's hang guard).
#[multiprocessing::target]
fn runs_until_terminated() {
    std::thread::sleep(Duration::from_secs(3600));
}

#[multiprocessing::target]
fn describe(path: PathBuf) {
    let me = multiprocessing::current_process();
    let parent = parent_process().expect("a child has a parent");
    let stdin_at_eof = std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1]).ok() == Some(0);
    let text = format!(
        "name={} parent={} parent_pid={} stdin_at_eof={stdin_at_eof}",
        me.name, parent.name, parent.pid
    );
    std::fs::write(path, text).unwrap();
}

fn exit_code_of(target: Process) -> Option<i32> {
    target.start().unwrap();
    target.join().unwrap();
    target.exitcode().unwrap()
}

#[test]
fn exit_codes_are_cpythons() {
    let spawn = ctx("spawn");
    assert_eq!(exit_code_of(spawn.process(returns, ())), Some(0));
    assert_eq!(exit_code_of(spawn.process(panics, ())), Some(1));
    assert_eq!(exit_code_of(spawn.process(exits_with, (7,))), Some(7));
}

#[test]
fn terminate_is_minus_15_and_kill_ends_the_child_too() {
    let spawn = ctx("spawn");
    let p = spawn.process(runs_until_terminated, ());
    p.start().unwrap();
    assert!(p.is_alive().unwrap());
    assert!(!p.join_timeout(Duration::from_millis(20)).unwrap());
    p.terminate().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode().unwrap(), Some(-15));

    let p = spawn.process(runs_until_terminated, ());
    p.start().unwrap();
    p.kill().unwrap();
    p.join().unwrap();
    // CPython: -9 (SIGKILL) on Unix; on Windows `kill` is `terminate`, so -15.
    let expected = if cfg!(windows) { -15 } else { -9 };
    assert_eq!(p.exitcode().unwrap(), Some(expected));
}

#[test]
fn the_child_knows_its_name_and_its_parent_and_reads_nothing_on_stdin() {
    let spawn = ctx("spawn");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report");
    let p = spawn.process(describe, (path.clone(),));
    p.start().unwrap();
    let name = p.name();
    p.join().unwrap();
    assert_eq!(p.exitcode().unwrap(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!(
            "name={name} parent=MainProcess parent_pid={} stdin_at_eof=true",
            std::process::id()
        )
    );
}

#[test]
fn wait_on_sentinels_returns_the_ended_process() {
    let spawn = ctx("spawn");
    let quick = spawn.process(returns, ());
    let slow = spawn.process(runs_until_terminated, ());
    quick.start().unwrap();
    slow.start().unwrap();
    let ended = connection::wait(
        &[slow.sentinel().unwrap(), quick.sentinel().unwrap()],
        Some(Duration::from_secs(60)),
    )
    .unwrap();
    assert_eq!(ended, vec![quick.sentinel().unwrap()]);
    slow.terminate().unwrap();
    slow.join().unwrap();
    quick.join().unwrap();
}

#[test]
fn a_closure_is_a_serialization_error_before_any_process_exists() {
    let spawn = ctx("spawn");
    let p = spawn.process(|| (), ());
    let err = p.start().unwrap_err();
    assert!(matches!(err, Error::Serialization { .. }), "{err}");
    assert_eq!(p.pid().unwrap(), None);
}
