//! `Pool` under every start method, in process: each test calls the main guard first (children
//! take over before the harness's `main`), and checks that no worker outlives the pool.
//!
//! Timeouts are hang guards only: a bug fails instead of hanging.

#![cfg(unix)]

mod common;
use common::ctx;

use std::collections::HashSet;
use std::time::Duration;

use multiprocessing::pool::Pool;
use multiprocessing::queue::Queue;
use multiprocessing::sync::Lock;
use multiprocessing::{active_children, Context, Error};
use rstest::rstest;

/// Long enough never to fire on a loaded machine; only there so a bug fails instead of hanging.
const HANG: Duration = Duration::from_secs(120);

#[multiprocessing::target]
fn square(x: u64) -> u64 {
    x * x
}

#[multiprocessing::target]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[multiprocessing::target]
fn pid(_: u64) -> u32 {
    std::process::id()
}

#[multiprocessing::target]
fn fail_on_three(x: u64) -> u64 {
    if x == 3 {
        panic!("bad item {x}");
    }
    x
}

#[multiprocessing::target]
fn sleep_then_pid(millis: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(millis));
    std::process::id()
}

#[multiprocessing::target]
fn die_on_two(x: u64) -> u64 {
    if x == 2 {
        // SAFETY: raising a signal at this process has no preconditions.
        unsafe { libc::raise(libc::SIGKILL) };
    }
    x
}

#[multiprocessing::target]
fn die_on_150(x: u64) -> u64 {
    if x == 150 {
        // SAFETY: raising a signal at this process has no preconditions.
        unsafe { libc::raise(libc::SIGKILL) };
    }
    x
}

#[multiprocessing::target]
fn make_lock(_: u64) -> Lock {
    Lock::new().unwrap()
}

#[multiprocessing::target]
fn use_lock(lock: Lock) -> bool {
    lock.acquire(true, None).is_ok()
}

#[multiprocessing::target]
fn announce(queue: Queue<u32>) {
    queue.put(std::process::id()).unwrap();
}

fn pool(ctx: &Context, processes: usize) -> Pool {
    Pool::builder()
        .processes(processes)
        .context(*ctx)
        .build()
        .unwrap()
}

/// Every process a test started is gone.
fn assert_no_children() {
    let left = active_children();
    assert!(left.is_empty(), "processes left: {left:?}");
}

fn assert_dead(pids: impl IntoIterator<Item = u32>) {
    for pid in pids {
        // SAFETY: signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid as i32, 0) } == 0;
        assert!(!alive, "worker {pid} outlived its pool");
    }
}

#[rstest]
fn map_returns_results_in_order(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let pool = pool(&ctx, 2);
    let items: Vec<u64> = (0..100).collect();
    let want: Vec<u64> = items.iter().map(|x| x * x).collect();
    for chunksize in [None, Some(1), Some(7), Some(1000)] {
        assert_eq!(pool.map(square, items.clone(), chunksize).unwrap(), want);
    }
    assert_eq!(
        pool.map(square, Vec::<u64>::new(), None).unwrap(),
        Vec::<u64>::new()
    );
    assert_eq!(
        pool.starmap(add, [(1u64, 2u64), (3, 4)], None).unwrap(),
        [3, 7]
    );
    assert_eq!(pool.apply(add, (20u64, 22u64)).unwrap(), 42);
    drop(pool);
    assert_no_children();
}

#[rstest]
fn imap_yields_every_result(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let pool = pool(&ctx, 3);
    let ordered: Vec<u64> = pool
        .imap(square, 0..50u64, None)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ordered, (0..50u64).map(|x| x * x).collect::<Vec<_>>());
    let mut unordered: Vec<u64> = pool
        .imap_unordered(square, 0..50u64, Some(4))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    unordered.sort_unstable();
    assert_eq!(unordered, ordered);
}

#[rstest]
fn async_results_report_readiness(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let pool = pool(&ctx, 2);
    let slow = pool.apply_async(sleep_then_pid, (300u64,)).unwrap();
    assert!(!slow.ready());
    assert!(matches!(slow.successful(), Err(Error::InvalidOperation(_))));
    assert!(matches!(
        slow.get(Some(Duration::from_millis(1))),
        Err(Error::Timeout)
    ));
    assert!(slow.wait(Some(HANG)));
    assert!(slow.ready());
    assert!(slow.successful().unwrap());
    let first = slow.get(None).unwrap();
    assert_eq!(slow.get(None).unwrap(), first, "get can be called again");
    let many = pool.map_async(square, [1u64, 2, 3], None).unwrap();
    assert_eq!(many.get(Some(HANG)).unwrap(), [1, 4, 9]);
}

#[rstest]
fn a_panicking_task_fails_with_its_message_and_location(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let pool = pool(&ctx, 2);
    let err = pool.map(fail_on_three, 0..6u64, Some(1)).unwrap_err();
    let Error::TaskFailed {
        process,
        message,
        location,
    } = &err
    else {
        panic!("not TaskFailed: {err:?}");
    };
    assert_eq!(message, "bad item 3");
    assert!(
        location.as_deref().unwrap().contains("tests/pool.rs"),
        "{err}"
    );
    assert!(process.contains("PoolWorker"), "{err}");
    // The other tasks' results are still there, one by one.
    let results: Vec<_> = pool.imap(fail_on_three, 0..6u64, None).unwrap().collect();
    assert!(results[3].is_err());
    assert_eq!(results[5].as_ref().unwrap(), &5);
    // The pool goes on.
    assert_eq!(pool.apply(add, (1u64, 1u64)).unwrap(), 2);
}

#[rstest]
fn what_cannot_be_serialized_fails_that_task(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let pool = pool(&ctx, 2);
    // An argument: a lock crosses only as a Process argument.
    let err = pool
        .map(use_lock, [Lock::new().unwrap()], None)
        .unwrap_err();
    assert_eq!(err.kind(), "Serialization", "{err}");
    // A result.
    let err = pool.apply(make_lock, (0u64,)).unwrap_err();
    assert_eq!(err.kind(), "Serialization", "{err}");
    assert!(err.to_string().contains("result"), "{err}");
    assert_eq!(pool.apply(square, (3u64,)).unwrap(), 9);
}

#[rstest]
fn closures_are_tasks_under_fork_only(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let pool = pool(&ctx, 2);
    let got = pool.map(|x: u64| x + 1, [1u64, 2], None);
    if method == "fork" {
        assert_eq!(got.unwrap(), [2, 3]);
        let offset = 10u64;
        let err = pool
            .map(move |x: u64| x + offset, [1u64], None)
            .unwrap_err();
        assert_eq!(err.kind(), "Serialization", "{err}");
    } else {
        let err = got.unwrap_err();
        assert_eq!(err.kind(), "Serialization", "{err}");
        assert!(
            err.to_string().contains("#[multiprocessing::target]"),
            "{err}"
        );
    }
}

#[rstest]
fn the_initializer_runs_once_per_worker(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let announced = Queue::new().unwrap();
    let pool = Pool::builder()
        .processes(3)
        .context(*ctx)
        .initializer(announce, (announced.clone(),))
        .build()
        .unwrap();
    let task_pids: HashSet<u32> = pool
        .map(pid, 0..30u64, Some(1))
        .unwrap()
        .into_iter()
        .collect();
    let init_pids: HashSet<u32> = (0..3)
        .map(|_| announced.get_timeout(HANG).unwrap())
        .collect();
    assert_eq!(init_pids.len(), 3);
    assert!(
        task_pids.is_subset(&init_pids),
        "{task_pids:?} {init_pids:?}"
    );
    assert!(matches!(
        announced.get_timeout(Duration::from_millis(50)),
        Err(Error::Empty)
    ));
}

#[rstest]
fn maxtasksperchild_replaces_workers(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let pool = Pool::builder()
        .processes(2)
        .context(*ctx)
        .maxtasksperchild(1)
        .build()
        .unwrap();
    let pids = pool.map(pid, 0..6u64, Some(1)).unwrap();
    assert_eq!(pids.iter().collect::<HashSet<_>>().len(), 6, "{pids:?}");
    pool.close();
    pool.join().unwrap();
    assert_dead(pids);
    assert_no_children();
}

#[rstest]
fn a_killed_worker_fails_its_tasks_and_is_replaced(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let pool = pool(&ctx, 2);
    let results: Vec<_> = pool.imap(die_on_two, 0..5u64, None).unwrap().collect();
    let Err(Error::WorkerLost { exitcode, .. }) = &results[2] else {
        panic!("not WorkerLost: {:?}", results[2]);
    };
    assert_eq!(*exitcode, Some(-9));
    // Tasks queued behind that one in the same worker go to another worker.
    for i in [0, 1, 3, 4] {
        assert_eq!(results[i].as_ref().unwrap(), &(i as u64));
    }
    // Quick tasks travel many to a worker: only the one that was running is lost.
    let results: Vec<_> = pool.imap(die_on_150, 0..300u64, None).unwrap().collect();
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(x) => assert_eq!(*x, i as u64),
            Err(err) => assert!(i == 150 && err.kind() == "WorkerLost", "{i}: {err}"),
        }
    }
    assert!(results[150].is_err());
    let err = pool.map(die_on_two, 0..5u64, Some(1)).unwrap_err();
    assert_eq!(err.kind(), "WorkerLost", "{err}");
    // Replaced: two workers again.
    let pids: HashSet<u32> = pool
        .map(sleep_then_pid, [200u64; 4], Some(1))
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(pids.len(), 2);
}

#[rstest]
fn terminate_stops_running_tasks(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let pool = pool(&ctx, 2);
    let pids = pool.map(pid, 0..20u64, Some(1)).unwrap();
    let running = pool.apply_async(sleep_then_pid, (600_000u64,)).unwrap();
    pool.terminate();
    assert!(running.get(Some(HANG)).is_err());
    pool.join().unwrap();
    assert_dead(pids);
    assert_no_children();
    assert!(matches!(
        pool.apply(square, (1u64,)),
        Err(Error::InvalidOperation(_))
    ));
}

#[rstest]
fn close_lets_the_work_finish(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let pool = pool(&ctx, 2);
    assert!(matches!(pool.join(), Err(Error::InvalidOperation(_))));
    let results = pool
        .map_async(sleep_then_pid, [100u64; 4], Some(1))
        .unwrap();
    pool.close();
    assert!(matches!(
        pool.apply(square, (1u64,)),
        Err(Error::InvalidOperation(_))
    ));
    pool.join().unwrap();
    let pids = results.get(Some(HANG)).unwrap();
    assert_dead(pids);
    assert_no_children();
}

#[rstest]
fn dropping_the_pool_or_panicking_leaves_no_worker(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let pool = pool(&ctx, 2);
    let pids = pool.map(pid, 0..20u64, Some(1)).unwrap();
    drop(pool);
    assert_dead(pids);
    assert_no_children();

    let context = *ctx;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let inner = std::sync::Arc::clone(&seen);
    let panicked = std::panic::catch_unwind(move || {
        let pool = Pool::builder()
            .processes(2)
            .context(context)
            .build()
            .unwrap();
        *inner.lock().unwrap() = pool.map(pid, 0..20u64, Some(1)).unwrap();
        let _running = pool.apply_async(sleep_then_pid, (600_000u64,)).unwrap();
        panic!("the parent panics with the pool busy");
    });
    assert!(panicked.is_err());
    assert_dead(seen.lock().unwrap().clone());
    assert_no_children();
}

/// Threads that wait at once: one of them receives every reply (the pool's leader), the others
/// are woken as theirs come in, a leader that leaves hands over, and a result another thread
/// submitted is received while a thread leads.
#[rstest]
fn threads_waiting_at_once_all_get_their_results(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let pool = std::sync::Arc::new(pool(&ctx, 2));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let pool = std::sync::Arc::clone(&pool);
            std::thread::spawn(move || {
                for i in 0..200u64 {
                    let x = t * 1000 + i;
                    assert_eq!(pool.apply(square, (x,)).unwrap(), x * x);
                }
                let items: Vec<u64> = (0..50).map(|i| t * 100 + i).collect();
                let want: Vec<u64> = items.iter().map(|x| x * x).collect();
                assert_eq!(pool.map(square, items, Some(3)).unwrap(), want);
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let pending = pool.apply_async(sleep_then_pid, (200u64,)).unwrap();
    let leader = {
        let pool = std::sync::Arc::clone(&pool);
        std::thread::spawn(move || pool.apply(sleep_then_pid, (400u64,)).unwrap())
    };
    let pids = [pending.get(Some(HANG)).unwrap(), leader.join().unwrap()];
    drop(pending);
    drop(pool);
    assert_dead(pids);
    assert_no_children();
}
