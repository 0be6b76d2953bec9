//! Scenarios of pools and executors (SPEC.md sections 14 and 15): `Pool` and `Executor`
//! (CPython's `multiprocessing.Pool` and `concurrent.futures.ProcessPoolExecutor`).
//!
//! Each mirrors `scenarios/python/<id>.py`: same trace lines. A Python task that raises is a
//! Rust task that panics with the same message.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

use multiprocessing::executor::Executor;
use multiprocessing::pool::Pool;
use multiprocessing::queue::Queue;
use multiprocessing::sync::Lock;
use multiprocessing::{active_children, main_guard, Context, Error};

use crate::trace::{ctx, py_bool, py_opt, say};

type Scenario = fn(&str);

pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("pool-map-order", pool_map_order),
    ("pool-imap-complete", pool_imap_complete),
    ("pool-chunksize", pool_chunksize),
    ("pool-initializer-once", pool_initializer_once),
    ("pool-maxtasksperchild", pool_maxtasksperchild),
    ("pool-task-exception", pool_task_exception),
    ("pool-unserializable", pool_unserializable),
    ("pool-terminate-running", pool_terminate_running),
    ("pool-worker-killed", pool_worker_killed),
    ("executor-submit-map", executor_submit_map),
    ("executor-worker-killed", executor_worker_killed),
];

const HANG: Duration = Duration::from_secs(60);

fn pool(ctx: Context, processes: usize) -> Pool {
    Pool::builder()
        .processes(processes)
        .context(ctx)
        .build()
        .unwrap()
}

/// A list of booleans as Python prints it: `[True, False]`.
fn py_bools(values: impl IntoIterator<Item = bool>) -> String {
    let items: Vec<&str> = values.into_iter().map(py_bool).collect();
    format!("[{}]", items.join(", "))
}

#[multiprocessing::target]
fn square(x: u64) -> u64 {
    x * x
}

#[multiprocessing::target]
fn cube(x: u64) -> u64 {
    x * x * x
}

#[multiprocessing::target]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[multiprocessing::target]
fn pid(_: u64) -> u32 {
    std::process::id()
}

fn pool_map_order(method: &str) {
    main_guard();
    let pool = pool(ctx(method), 2);
    for chunksize in [None, Some(1), Some(7), Some(1000)] {
        say!(
            "map chunksize={}: {:?}",
            py_opt(chunksize),
            pool.map(square, 0..20u64, chunksize).unwrap()
        );
    }
    say!(
        "map of nothing: {:?}",
        pool.map(square, Vec::<u64>::new(), None).unwrap()
    );
    say!(
        "starmap: {:?}",
        pool.starmap(add, [(1u64, 2u64), (3, 4)], None).unwrap()
    );
    say!("apply: {}", pool.apply(add, (20u64, 22u64)).unwrap());
    let many = pool.map_async(square, [1u64, 2, 3], None).unwrap();
    say!("map_async: {:?}", many.get(Some(HANG)).unwrap());
}

fn pool_imap_complete(method: &str) {
    main_guard();
    let pool = pool(ctx(method), 3);
    let ordered: Vec<u64> = pool
        .imap(square, 0..50u64, None)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let want: Vec<u64> = (0..50u64).map(|x| x * x).collect();
    say!("imap in order: {}", py_bool(ordered == want));
    for chunksize in [1, 4] {
        let mut got: Vec<u64> = pool
            .imap_unordered(square, 0..50u64, Some(chunksize))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let n = got.len();
        got.sort_unstable();
        say!(
            "imap_unordered chunksize={chunksize}: {n} results, each once: {}",
            py_bool(got == ordered)
        );
    }
}

fn pool_chunksize(method: &str) {
    main_guard();
    let pool = pool(ctx(method), 2);
    let pids = pool.map(pid, 0..12u64, Some(4)).unwrap();
    let one = |pids: &[u32]| pids.iter().collect::<HashSet<_>>().len() == 1;
    say!(
        "each chunk in one worker: {}",
        py_bools(pids.chunks(4).map(one))
    );
    let pids: Vec<u32> = pool
        .imap(pid, 0..12u64, Some(6))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    say!(
        "imap chunks in one worker: {}",
        py_bools(pids.chunks(6).map(one))
    );
}

#[multiprocessing::target]
fn announce(queue: Queue<u32>) {
    queue.put(std::process::id()).unwrap();
}

fn pool_initializer_once(method: &str) {
    main_guard();
    let queue = Queue::new().unwrap();
    let pool = Pool::builder()
        .processes(3)
        .context(ctx(method))
        .initializer(announce, (queue.clone(),))
        .build()
        .unwrap();
    let task_pids: HashSet<u32> = pool
        .map(pid, 0..30u64, Some(1))
        .unwrap()
        .into_iter()
        .collect();
    let init_pids: Vec<u32> = (0..3).map(|_| queue.get_timeout(HANG).unwrap()).collect();
    let distinct: HashSet<u32> = init_pids.iter().copied().collect();
    say!(
        "initializer calls: {} in {} workers",
        init_pids.len(),
        distinct.len()
    );
    say!(
        "tasks ran in initialized workers: {}",
        py_bool(task_pids.is_subset(&distinct))
    );
    match queue.get_timeout(Duration::from_millis(200)) {
        Ok(_) => say!("a fourth call: yes"),
        Err(err) => say!("a fourth call: {}", err.kind()),
    }
}

fn pool_maxtasksperchild(method: &str) {
    main_guard();
    let pool = Pool::builder()
        .processes(2)
        .maxtasksperchild(1)
        .context(ctx(method))
        .build()
        .unwrap();
    let pids = pool.map(pid, 0..6u64, Some(1)).unwrap();
    // Printed after join, as the Python program must (it would fork while printing otherwise).
    pool.close();
    pool.join().unwrap();
    say!(
        "distinct workers: {}",
        pids.iter().collect::<HashSet<_>>().len()
    );
    say!("active children after join: {}", active_children().len());
}

#[multiprocessing::target]
fn fail_on_three(x: u64) -> u64 {
    if x == 3 {
        panic!("bad item {x}");
    }
    x
}

/// `TaskFailed: <message>` as the Python programs print a task's exception.
fn failed(err: Error) -> String {
    match err {
        Error::TaskFailed { message, .. } => format!("TaskFailed: {message}"),
        other => other.kind().to_owned(),
    }
}

fn pool_task_exception(method: &str) {
    main_guard();
    let pool = pool(ctx(method), 2);
    match pool.map(fail_on_three, 0..6u64, Some(1)) {
        Ok(_) => say!("map: ok"),
        Err(err) => say!("map: {}", failed(err)),
    }
    let mut results = pool.imap(fail_on_three, 0..6u64, None).unwrap();
    for i in 0..6 {
        match results.next_timeout(Some(HANG)).unwrap() {
            Ok(x) => say!("imap {i}: {x}"),
            Err(err) => say!("imap {i}: {}", failed(err)),
        }
    }
    let r = pool.apply_async(fail_on_three, (3u64,)).unwrap();
    r.wait(Some(HANG));
    say!("successful: {}", py_bool(r.successful().unwrap()));
    say!("apply after: {}", pool.apply(add, (1u64, 1u64)).unwrap());
}

#[multiprocessing::target]
fn identity(lock: Lock) -> Lock {
    lock
}

#[multiprocessing::target]
fn make_lock(_: u64) -> Lock {
    Lock::new().unwrap()
}

/// `ok` or the error's kind.
fn outcome<T>(result: multiprocessing::Result<T>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(err) => err.kind().to_owned(),
    }
}

fn pool_unserializable(method: &str) {
    main_guard();
    let pool = pool(ctx(method), 2);
    // A lock crosses only as a Process argument (CPython: a threading.Lock cannot be pickled).
    say!(
        "argument: {}",
        outcome(pool.apply(identity, (Lock::new().unwrap(),)))
    );
    say!("result: {}", outcome(pool.apply(make_lock, (0u64,))));
    say!("apply after: {}", pool.apply(square, (3u64,)).unwrap());
}

static STARTED: OnceLock<Queue<u32>> = OnceLock::new();

#[multiprocessing::target]
fn remember(queue: Queue<u32>) {
    let _ = STARTED.set(queue);
}

#[multiprocessing::target]
fn sleep_long(_: u64) {
    if let Some(queue) = STARTED.get() {
        queue.put(std::process::id()).unwrap();
    }
    std::thread::sleep(Duration::from_secs(600));
}

fn pool_terminate_running(method: &str) {
    main_guard();
    let queue = Queue::new().unwrap();
    let pool = Pool::builder()
        .processes(2)
        .context(ctx(method))
        .initializer(remember, (queue.clone(),))
        .build()
        .unwrap();
    let _running = pool.apply_async(sleep_long, (0u64,)).unwrap();
    let pid = queue.get_timeout(HANG).unwrap();
    say!("task running in {{pid:{pid}}}");
    pool.terminate();
    pool.join().unwrap();
    // SAFETY: signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid as i32, 0) } == 0;
    say!("worker alive: {}", py_bool(alive));
    say!("active children: {}", active_children().len());
}

#[multiprocessing::target]
fn die_on_two(x: u64) -> u64 {
    if x == 2 {
        // SAFETY: raising a signal at this process has no preconditions.
        unsafe { libc::raise(libc::SIGKILL) };
    }
    x
}

fn pool_worker_killed(method: &str) {
    main_guard();
    let pool = pool(ctx(method), 2);
    let r = pool.map_async(die_on_two, 0..5u64, Some(1)).unwrap();
    say!("get: {}", outcome(r.get(Some(Duration::from_secs(5)))));
    say!("map after: {:?}", pool.map(square, 0..4u64, None).unwrap());
}

#[multiprocessing::target]
fn boom(x: u64) -> u64 {
    panic!("boom {x}")
}

fn executor(method: &str) -> Executor {
    Executor::builder()
        .max_workers(2)
        .mp_context(ctx(method))
        .build()
        .unwrap()
}

fn executor_submit_map(method: &str) {
    main_guard();
    let executor = executor(method);
    let f = executor.submit(cube, (3u64,)).unwrap();
    say!("result: {}", f.result(Some(HANG)).unwrap());
    say!(
        "done: {}, cancelled: {}",
        py_bool(f.done()),
        py_bool(f.cancelled())
    );
    let cubes: Vec<u64> = executor
        .map(cube, 0..5u64, Some(HANG), 2)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    say!("map: {cubes:?}");
    if let Err(err) = executor.submit(boom, (7u64,)).unwrap().result(Some(HANG)) {
        say!("failed: {}", failed(err));
    }
    executor.shutdown(true, false);
    say!(
        "submit after shutdown: {}",
        outcome(executor.submit(cube, (1u64,)))
    );
}

#[multiprocessing::target]
fn die(_: u64) {
    // SAFETY: raising a signal at this process has no preconditions.
    unsafe { libc::raise(libc::SIGKILL) };
}

fn executor_worker_killed(method: &str) {
    main_guard();
    let executor = executor(method);
    say!(
        "before: {}",
        executor
            .submit(cube, (2u64,))
            .unwrap()
            .result(Some(HANG))
            .unwrap()
    );
    say!(
        "result: {}",
        outcome(executor.submit(die, (0u64,)).unwrap().result(Some(HANG)))
    );
    let after = executor
        .submit(cube, (1u64,))
        .and_then(|f| f.result(Some(HANG)));
    say!("submit after: {}", outcome(after));
    executor.shutdown(true, false);
    say!("active children: {}", active_children().len());
}
