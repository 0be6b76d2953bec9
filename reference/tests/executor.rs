//! `Executor` (CPython's `ProcessPoolExecutor`) under every start method, in process: each test
//! calls the main guard first, and checks that no worker outlives the executor.
//!
//! Timeouts are hang guards only: a bug fails instead of hanging.

#![cfg(unix)]

mod common;
use common::ctx;

use std::collections::HashSet;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::time::Duration;

use multiprocessing::executor::Executor;
use multiprocessing::{active_children, Context, Error};
use rstest::rstest;

const HANG: Duration = Duration::from_secs(120);

#[multiprocessing::target]
fn cube(x: u64) -> u64 {
    x * x * x
}

#[multiprocessing::target]
fn pid(_: u64) -> u32 {
    std::process::id()
}

#[multiprocessing::target]
fn sleep_ms(millis: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(millis));
    millis
}

#[multiprocessing::target]
fn boom(x: u64) -> u64 {
    panic!("boom {x}")
}

#[multiprocessing::target]
fn die(_: u64) -> u64 {
    // SAFETY: raising a signal at this process has no preconditions.
    unsafe { libc::raise(libc::SIGKILL) };
    0
}

fn executor(ctx: &Context, n: usize) -> Executor {
    Executor::builder()
        .max_workers(n)
        .mp_context(*ctx)
        .build()
        .unwrap()
}

fn assert_no_children() {
    let left = active_children();
    assert!(left.is_empty(), "processes left: {left:?}");
}

/// A minimal executor for futures: park the thread until woken (no async runtime needed).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park_timeout(HANG);
    }
}

#[rstest]
fn submit_and_map_return_results(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let executor = executor(&ctx, 2);
    let future = executor.submit(cube, (3u64,)).unwrap();
    assert_eq!(future.result(Some(HANG)).unwrap(), 27);
    assert!(future.done());
    assert!(!future.cancelled());
    let cubes: Vec<u64> = executor
        .map(cube, 0..20u64, Some(HANG), 3)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(cubes, (0..20u64).map(|x| x * x * x).collect::<Vec<_>>());
    // From async code, without a runtime.
    let futures: Vec<_> = (0..5u64)
        .map(|x| executor.submit(cube, (x,)).unwrap())
        .collect();
    let mut got = Vec::new();
    for future in futures {
        got.push(block_on(future).unwrap());
    }
    assert_eq!(got, [0, 1, 8, 27, 64]);
    let err = executor
        .submit(boom, (7u64,))
        .unwrap()
        .result(Some(HANG))
        .unwrap_err();
    assert!(
        matches!(&err, Error::TaskFailed { message, .. } if message == "boom 7"),
        "{err}"
    );
    let slow = executor.submit(sleep_ms, (300u64,)).unwrap();
    assert!(matches!(
        slow.result(Some(Duration::from_millis(1))),
        Err(Error::Timeout)
    ));
    executor.shutdown(true, false);
    assert_eq!(slow.result(None).unwrap(), 300);
    assert!(matches!(
        executor.submit(cube, (1u64,)),
        Err(Error::InvalidOperation(_))
    ));
    assert_no_children();
}

#[rstest]
fn a_dying_worker_breaks_the_executor(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let executor = executor(&ctx, 2);
    let slow: Vec<_> = (0..4)
        .map(|_| executor.submit(sleep_ms, (2_000u64,)).unwrap())
        .collect();
    let dying = executor.submit(die, (0u64,)).unwrap();
    let err = dying.result(Some(HANG)).unwrap_err();
    assert_eq!(err.kind(), "BrokenProcessPool", "{err}");
    for future in &slow {
        // Each finished before the worker died, or is broken.
        if let Err(err) = future.result(Some(HANG)) {
            assert_eq!(err.kind(), "BrokenProcessPool", "{err}");
        }
    }
    let err = executor.submit(cube, (1u64,)).unwrap_err();
    assert_eq!(err.kind(), "BrokenProcessPool", "{err}");
    executor.shutdown(true, false);
    assert_no_children();
}

#[rstest]
fn shutdown_can_cancel_what_has_not_started(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let executor = executor(&ctx, 1);
    let running = executor.submit(sleep_ms, (500u64,)).unwrap();
    let queued: Vec<_> = (0..5)
        .map(|_| executor.submit(sleep_ms, (10_000u64,)).unwrap())
        .collect();
    // The last one cannot have reached the single worker yet.
    assert!(queued[4].cancel());
    assert!(queued[4].cancelled());
    executor.shutdown(true, true);
    assert_eq!(running.result(None).unwrap(), 500);
    for future in &queued[1..] {
        assert!(matches!(future.result(None), Err(Error::Cancelled)));
    }
    assert_no_children();
}

#[rstest]
fn terminate_and_kill_workers_break_running_futures(
    #[values("fork", "spawn", "forkserver")] method: &str,
    #[values(false, true)] kill: bool,
) {
    let ctx = ctx(method);
    let executor = executor(&ctx, 2);
    let pids: HashSet<u32> = executor
        .map(pid, 0..10u64, None, 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let running = executor.submit(sleep_ms, (600_000u64,)).unwrap();
    if kill {
        executor.kill_workers();
    } else {
        executor.terminate_workers();
    }
    let err = running.result(Some(HANG)).unwrap_err();
    assert_eq!(err.kind(), "BrokenProcessPool", "{err}");
    for pid in pids {
        // SAFETY: signal 0 only checks that the process exists.
        assert_ne!(unsafe { libc::kill(pid as i32, 0) }, 0, "{pid} survived");
    }
    assert_no_children();
}

#[rstest]
fn max_tasks_per_child_replaces_workers(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let built = Executor::builder()
        .max_workers(2)
        .max_tasks_per_child(1)
        .mp_context(*ctx)
        .build();
    if method == "fork" {
        // As CPython: "max_tasks_per_child is incompatible with the 'fork' start method".
        assert!(matches!(built, Err(Error::InvalidOperation(_))));
        return;
    }
    let executor = built.unwrap();
    let pids: HashSet<u32> = executor
        .map(pid, 0..5u64, None, 1)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(pids.len(), 5);
    drop(executor);
    assert_no_children();
}

/// A thread waiting for a queued future receives the replies itself while it waits (the pool's
/// leader); cancelling that future from another thread must wake it at once, not when a reply
/// happens to come (the one running task here would take ten minutes).
#[rstest]
fn cancelling_wakes_a_thread_waiting_for_the_result(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let executor = executor(&ctx, 1);
    let running = executor.submit(sleep_ms, (600_000u64,)).unwrap();
    let queued = Arc::new(executor.submit(cube, (2u64,)).unwrap());
    let waiting = Arc::clone(&queued);
    let (tx, rx) = std::sync::mpsc::channel();
    // No timeout: only the cancel can end this wait (a deadline would end it too, and then
    // find the future cancelled).
    let waiter = std::thread::spawn(move || tx.send(waiting.result(None)));
    // Whether the waiter already waits or not, the outcome is the same: Cancelled, soon.
    std::thread::sleep(Duration::from_millis(50));
    assert!(queued.cancel());
    let outcome = rx.recv_timeout(HANG);
    executor.kill_workers();
    let err = outcome
        .expect("cancel did not wake the thread waiting for the result")
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
    waiter.join().unwrap().unwrap();
    let err = running.result(Some(HANG)).unwrap_err();
    assert_eq!(err.kind(), "BrokenProcessPool", "{err}");
    drop(executor);
    assert_no_children();
}
