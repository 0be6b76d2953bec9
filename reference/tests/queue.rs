//! `Queue`, `SimpleQueue` and `JoinableQueue` under every start method, in process: each test
//! calls the main guard first (children take over before the harness's `main`), passes the queues
//! to its children as `Process` arguments, and synchronizes with them through joins, the queues
//! themselves or an `Event`, never by sleeping.
//!
//! Children check what they see with `assert!`: a failed check is a panic, so exit code 1, and
//! every test asserts its children exited with 0. Timeouts are hang guards only, except where a
//! timeout is the behaviour under test (and then only its lower bound is checked).

// Queues are Unix-only in this crate (README, "What is verified where").
#![cfg(unix)]

mod common;
use common::{ctx, serial};

use std::time::{Duration, Instant};

use multiprocessing::queue::{JoinableQueue, Queue, SimpleQueue};
use multiprocessing::{Context, Error, Event, Process};
use rstest::rstest;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Long enough never to fire on a loaded machine; only there so a bug fails instead of hanging.
const HANG: Duration = Duration::from_secs(120);

fn join_ok(p: &Process) {
    assert!(p.join_timeout(HANG).unwrap(), "{p:?} hung");
    assert_eq!(p.exitcode().unwrap(), Some(0), "{p:?} failed");
}

/// Gets one item, calling a wait of [`HANG`] a hang.
fn get<T: Serialize + serde::de::DeserializeOwned>(queue: &Queue<T>) -> T {
    match queue.get_timeout(HANG) {
        Err(Error::Empty) => panic!("nothing arrived within {HANG:?}"),
        other => other.unwrap(),
    }
}

/// Runs `f` on a thread and fails the test if it takes longer than [`HANG`] (a deadlock).
fn within_hang_guard<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    result
        .recv_timeout(HANG)
        .expect("deadlock: the operation did not finish")
}

fn start_all(processes: &[Process]) {
    for p in processes {
        p.start().unwrap();
    }
}

/// `(producer, sequence number)`, or `None`: stop.
type Item = Option<(u32, u32)>;

const PRODUCERS: u32 = 4;
const ITEMS_PER_PRODUCER: u32 = 10_000;

/// A timeout short enough to run out often while other processes put and get.
const IMPATIENT: Duration = Duration::from_micros(200);

/// Puts `n` numbered items, then exits at once.
#[multiprocessing::target]
fn produce(queue: Queue<Item>, producer: u32, n: u32) {
    for seq in 0..n {
        queue.put(Some((producer, seq))).unwrap();
    }
}

/// [`produce`], with short timeouts that a full queue makes run out: a put that ends in `Full`
/// must not have put anything, or the item would arrive twice.
#[multiprocessing::target]
fn produce_impatiently(queue: Queue<Item>, producer: u32, n: u32) {
    let hang = Instant::now() + HANG;
    for seq in 0..n {
        loop {
            match queue.put_timeout(Some((producer, seq)), IMPATIENT) {
                Ok(()) => break,
                Err(Error::Full { .. }) => assert!(Instant::now() < hang, "the queue stayed full"),
                Err(err) => panic!("{err:?}"),
            }
        }
    }
}

/// Half the producers wait for room as long as it takes, half with short timeouts.
fn producers(ctx: &Context, queue: &Queue<Item>) -> Vec<Process> {
    (0..PRODUCERS)
        .map(|id| {
            let args = (queue.clone(), id, ITEMS_PER_PRODUCER);
            if id % 2 == 0 {
                ctx.process(produce, args)
            } else {
                ctx.process(produce_impatiently, args)
            }
        })
        .collect()
}

/// Checks that `got` holds every producer's items exactly once, in the order it put them.
fn assert_exactly_once_in_order(got: &[(u32, u32)]) {
    let mut next = vec![0u32; PRODUCERS as usize];
    for &(producer, seq) in got {
        let expected = &mut next[producer as usize];
        assert_eq!(
            seq, *expected,
            "producer {producer}: item {seq} arrived when {expected} was due"
        );
        *expected += 1;
    }
    assert_eq!(next, vec![ITEMS_PER_PRODUCER; PRODUCERS as usize]);
}

#[rstest]
fn four_producers_reach_one_consumer_exactly_once_in_order(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let queue = Queue::<Item>::new().unwrap();
    let producers = producers(&ctx, &queue);
    start_all(&producers);
    let got: Vec<(u32, u32)> = (0..PRODUCERS * ITEMS_PER_PRODUCER)
        .map(|_| get(&queue).expect("no producer puts None"))
        .collect();
    assert_exactly_once_in_order(&got);
    for p in &producers {
        join_ok(p);
    }
    assert!(queue.empty());
    assert!(matches!(queue.get_nowait(), Err(Error::Empty)));
}

/// Gets items until `None`, then reports them all, in the order it got them. An impatient
/// consumer gets with short timeouts that an empty queue makes run out: a get that ends in `Empty`
/// must not have taken anything, or the item would be lost.
#[multiprocessing::target]
fn consume(queue: Queue<Item>, results: Queue<Vec<(u32, u32)>>, impatient: bool) {
    let hang = Instant::now() + HANG;
    let mut got = Vec::new();
    loop {
        let item = if impatient {
            match queue.get_timeout(IMPATIENT) {
                Ok(item) => item,
                Err(Error::Empty) => {
                    assert!(Instant::now() < hang, "nothing arrived");
                    continue;
                }
                Err(err) => panic!("{err:?}"),
            }
        } else {
            get(&queue)
        };
        match item {
            Some(item) => got.push(item),
            None => break,
        }
    }
    results.put(got).unwrap();
}

/// Unbounded, and bounded to a few items so that producers and consumers both wait, and wake
/// each other up, all the time; in each, one consumer and half the producers use short timeouts.
#[rstest]
fn four_producers_reach_two_consumer_processes_exactly_once_in_order(
    #[values("fork", "spawn", "forkserver")] method: &str,
    #[values(0, 8)] maxsize: usize,
) {
    const CONSUMERS: usize = 2;
    let ctx = ctx(method);
    let queue = Queue::<Item>::with_maxsize(maxsize).unwrap();
    let results = Queue::<Vec<(u32, u32)>>::new().unwrap();
    // The consumers first: they wait on an empty queue until the producers wake them.
    let consumers: Vec<Process> = (0..CONSUMERS)
        .map(|i| ctx.process(consume, (queue.clone(), results.clone(), i == 1)))
        .collect();
    start_all(&consumers);
    let producers = producers(&ctx, &queue);
    start_all(&producers);
    for p in &producers {
        join_ok(p);
    }
    for _ in 0..CONSUMERS {
        queue.put(None).unwrap();
    }
    let per_consumer: Vec<Vec<(u32, u32)>> = (0..CONSUMERS).map(|_| get(&results)).collect();
    for p in &consumers {
        join_ok(p);
    }
    // Each consumer sees every producer's items in the order it put them (a subsequence)...
    for got in &per_consumer {
        let mut last = vec![None::<u32>; PRODUCERS as usize];
        for &(producer, seq) in got {
            let last = &mut last[producer as usize];
            assert!(
                last.is_none_or(|last| last < seq),
                "producer {producer}: item {seq} after item {last:?}"
            );
            *last = Some(seq);
        }
    }
    // ...and together they got every item exactly once.
    let mut all: Vec<(u32, u32)> = per_consumer.concat();
    all.sort_unstable();
    assert_exactly_once_in_order(&all);
    assert!(queue.empty());
}

/// `len` bytes of text that say which item (`seed`) and which block of it they are: a block
/// copied to the wrong place, or an item mistaken for another, does not compare equal. (Text, as
/// a `String` crosses the wire as one slice, where a `Vec<u8>` goes byte by byte: slow in debug.)
fn text(len: usize, seed: u32) -> String {
    const FILL: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
    let mut text = String::with_capacity(len + 4096);
    let mut block = 0;
    while text.len() < len {
        text.push_str(&format!("{seed:08x}:{block:08x}|"));
        let turn = block % FILL.len();
        for _ in 0..63 {
            text.push_str(&FILL[turn..]);
            text.push_str(&FILL[..turn]);
        }
        block += 1;
    }
    text.truncate(len);
    text
}

/// One large item (bigger than the ring's first capacity) and `count` small ones, then exits at
/// once, with every item still in the queue.
#[multiprocessing::target]
fn put_big_and_many_then_exit(queue: Queue<String>, big: usize, count: u32) {
    queue.put(text(big, 0)).unwrap();
    for i in 0..count {
        queue.put(i.to_string()).unwrap();
    }
}

/// CPython's feeder-thread pitfalls: a child's items are in a buffer of its feeder thread until
/// flushed into a pipe, so a child that exits at once may still be flushing, and a parent that
/// joins it before getting may deadlock ("Joining processes that use queues"). The reference's
/// guarantee (queue.rs): when `put` returns, the item is in shared memory, up to 4 GiB of items
/// in flight. So joining first ends, and then every item is there.
#[rstest]
fn items_of_a_child_that_exited_are_there_after_joining_it(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    const BIG: usize = 32 << 20;
    const COUNT: u32 = 100_000;
    let ctx = ctx(method);
    let queue = Queue::<String>::new().unwrap();
    let p = ctx.process(put_big_and_many_then_exit, (queue.clone(), BIG, COUNT));
    p.start().unwrap();
    // Join before getting anything.
    join_ok(&p);
    assert_eq!(queue.qsize(), 1 + COUNT as usize);
    // Every item is there already: not one get has to wait.
    assert!(queue.get_nowait().unwrap() == text(BIG, 0));
    for i in 0..COUNT {
        assert_eq!(queue.get_nowait().unwrap(), i.to_string());
    }
    assert!(queue.empty());
    assert!(matches!(queue.get_nowait(), Err(Error::Empty)));
}

/// Puts `n` items, says so, then waits to be killed.
#[multiprocessing::target]
fn put_then_wait_to_be_killed(queue: Queue<u32>, n: u32, have_put: Event, never: Event) {
    for i in 0..n {
        queue.put(i).unwrap();
    }
    have_put.set().unwrap();
    let _ = never.wait(Some(HANG));
}

/// The guarantee goes further than CPython's: an item is delivered even if its producer is
/// killed right after `put` returned.
#[rstest]
fn items_of_a_killed_child_are_delivered(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let queue = Queue::<u32>::new().unwrap();
    let (have_put, never) = (Event::new().unwrap(), Event::new().unwrap());
    let p = ctx.process(
        put_then_wait_to_be_killed,
        (queue.clone(), 1000u32, have_put.clone(), never.clone()),
    );
    p.start().unwrap();
    assert!(have_put.wait(Some(HANG)).unwrap(), "the child never put");
    p.kill().unwrap();
    assert!(p.join_timeout(HANG).unwrap());
    assert_eq!(p.exitcode().unwrap(), Some(-9));
    assert_eq!(queue.qsize(), 1000);
    for i in 0..1000 {
        assert_eq!(queue.get_nowait().unwrap(), i);
    }
    assert!(queue.empty());
}

/// Puts `0, 1, 2, ...` until killed; says so once it has put `announce_after` items.
#[multiprocessing::target]
fn put_until_killed(queue: Queue<u64>, announce_after: u64, have_put: Event) {
    let hang = Instant::now() + HANG;
    for i in 0.. {
        queue.put(i).unwrap();
        if i + 1 == announce_after {
            have_put.set().unwrap();
        }
        assert!(Instant::now() < hang, "nobody killed this producer");
    }
}

/// A producer killed at some point of a `put`, perhaps holding the queue's lock: the items it put
/// are all there, in order, and the queue carries on. (Every point, one by one:
/// `a_process_killed_at_any_step_of_an_operation_leaves_the_queue_as_before_or_after_it`.)
#[rstest]
fn a_producer_killed_in_the_middle_of_putting_leaves_a_usable_queue(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let queue = Queue::<u64>::new().unwrap();
    let have_put = Event::new().unwrap();
    let p = ctx.process(put_until_killed, (queue.clone(), 1000u64, have_put.clone()));
    p.start().unwrap();
    assert!(have_put.wait(Some(HANG)).unwrap(), "the child never put");
    p.kill().unwrap();
    assert!(p.join_timeout(HANG).unwrap());
    assert_eq!(p.exitcode().unwrap(), Some(-9));
    let mut next = 0;
    loop {
        match queue.get_nowait() {
            Ok(i) => {
                assert_eq!(i, next);
                next += 1;
            }
            Err(Error::Empty) => break,
            Err(err) => panic!("{err:?}"),
        }
    }
    assert!(next >= 1000, "only {next} of the items put arrived");
    queue.put(u64::MAX).unwrap();
    assert_eq!(queue.get().unwrap(), u64::MAX);
}

/// Waits for `go`, then puts `item`.
#[multiprocessing::target]
fn put_when_told(queue: Queue<String>, go: Event, item: String) {
    assert!(go.wait(Some(HANG)).unwrap());
    queue.put(item).unwrap();
}

#[rstest]
fn get_waits_for_a_put_from_another_process_or_times_out_empty(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let queue = Queue::<String>::new().unwrap();
    // Nothing there: get_nowait, and get with a timeout once it has passed, are Empty.
    assert!(matches!(queue.get_nowait(), Err(Error::Empty)));
    let timeout = Duration::from_millis(100);
    let before = Instant::now();
    assert!(matches!(queue.get_timeout(timeout), Err(Error::Empty)));
    assert!(before.elapsed() >= timeout, "gave up before the timeout");
    // A blocking get returns the item another process puts later.
    let go = Event::new().unwrap();
    let p = ctx.process(
        put_when_told,
        (queue.clone(), go.clone(), "late".to_string()),
    );
    p.start().unwrap();
    go.set().unwrap();
    let got = within_hang_guard({
        let queue = queue.clone();
        move || queue.get()
    });
    assert_eq!(got.unwrap(), "late");
    join_ok(&p);
}

/// Puts `0..n`, waiting for room whenever the bounded queue is full.
#[multiprocessing::target]
fn put_into_bounded(queue: Queue<u32>, n: u32) {
    for i in 0..n {
        queue.put(i).unwrap();
    }
}

#[rstest]
fn a_bounded_queue_makes_put_wait_for_a_get_in_another_process(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let queue = Queue::<u32>::with_maxsize(3).unwrap();
    assert_eq!(queue.maxsize(), 3);
    // Two producers, so putters also wake each other up.
    let producers: Vec<Process> = (0..2)
        .map(|_| ctx.process(put_into_bounded, (queue.clone(), 2000u32)))
        .collect();
    start_all(&producers);
    let mut next = [0u32; 2];
    for _ in 0..4000 {
        assert!(
            queue.qsize() <= 3,
            "a bounded queue holds {}",
            queue.qsize()
        );
        let i = get(&queue);
        // Each producer's items in order: the item is the next of one of them.
        let slot = next
            .iter()
            .position(|&n| n == i)
            .unwrap_or_else(|| panic!("{i} arrived, but {next:?} were due"));
        next[slot] += 1;
    }
    assert_eq!(next, [2000, 2000]);
    for p in &producers {
        join_ok(p);
    }
    assert!(queue.empty());
}

/// Fills a bounded queue of 2, then checks that a full queue refuses more without waiting (or
/// after the timeout).
#[multiprocessing::target]
fn fill_and_overflow(queue: Queue<u32>) {
    assert!(!queue.full());
    queue.put_nowait(1).unwrap();
    queue.put_timeout(2, HANG).unwrap();
    assert!(queue.full());
    assert!(matches!(
        queue.put_nowait(3),
        Err(Error::Full { maxsize: 2 })
    ));
    let timeout = Duration::from_millis(50);
    let before = Instant::now();
    assert!(matches!(
        queue.put_timeout(3, timeout),
        Err(Error::Full { maxsize: 2 })
    ));
    assert!(before.elapsed() >= timeout, "gave up before the timeout");
    assert_eq!(queue.qsize(), 2);
}

#[rstest]
fn a_full_queue_is_full_in_every_process(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let queue = Queue::<u32>::with_maxsize(2).unwrap();
    let p = ctx.process(fill_and_overflow, (queue.clone(),));
    p.start().unwrap();
    join_ok(&p);
    assert!(queue.full());
    assert_eq!(queue.qsize(), 2);
    assert!(matches!(queue.put_nowait(3), Err(Error::Full { .. })));
    assert_eq!(queue.get_nowait().unwrap(), 1);
    assert!(!queue.full());
    queue.put_nowait(3).unwrap();
    assert_eq!(queue.get().unwrap(), 2);
    assert_eq!(queue.get().unwrap(), 3);
    assert!(queue.empty());
}

/// Gets `n` items, checking they are `first..first + n`.
#[multiprocessing::target]
fn get_n(queue: Queue<u32>, first: u32, n: u32) {
    for i in first..first + n {
        assert_eq!(get(&queue), i);
    }
}

#[rstest]
fn qsize_and_empty_count_what_other_processes_put_and_got(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let queue = Queue::<u32>::new().unwrap();
    assert!(queue.empty());
    assert_eq!(queue.qsize(), 0);
    let p = ctx.process(put_into_bounded, (queue.clone(), 5u32));
    p.start().unwrap();
    join_ok(&p);
    // Nobody else uses the queue now, so the approximate counts are exact.
    assert_eq!(queue.qsize(), 5);
    assert!(!queue.empty());
    assert_eq!(queue.get().unwrap(), 0);
    assert_eq!(queue.qsize(), 4);
    let p = ctx.process(get_n, (queue.clone(), 1u32, 4u32));
    p.start().unwrap();
    join_ok(&p);
    assert_eq!(queue.qsize(), 0);
    assert!(queue.empty());
}

/// Puts, closes its use of the queue, and checks that every use then fails in this process.
#[multiprocessing::target]
fn put_then_close(queue: Queue<u32>) {
    assert!(queue.join_thread().is_err(), "join_thread() before close()");
    queue.put(1).unwrap();
    let clone = queue.clone();
    queue.close();
    for q in [&queue, &clone] {
        assert!(matches!(q.put(2), Err(Error::InvalidOperation(_))));
        assert!(matches!(q.put_nowait(2), Err(Error::InvalidOperation(_))));
        assert!(matches!(q.get_nowait(), Err(Error::InvalidOperation(_))));
        assert!(matches!(q.get(), Err(Error::InvalidOperation(_))));
    }
    queue.join_thread().unwrap();
}

#[rstest]
fn close_ends_this_process_s_use_only(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let queue = Queue::<u32>::new().unwrap();
    let p = ctx.process(put_then_close, (queue.clone(),));
    p.start().unwrap();
    join_ok(&p);
    // The child's item was not lost by closing, and the parent's handle still works.
    assert_eq!(queue.qsize(), 1);
    assert_eq!(queue.get().unwrap(), 1);
    queue.put(3).unwrap();
    queue.close();
    assert!(matches!(queue.get(), Err(Error::InvalidOperation(_))));
    assert!(matches!(queue.put(4), Err(Error::InvalidOperation(_))));
    // What was put before stays in the queue.
    assert_eq!(queue.qsize(), 1);
}

/// Echoes its tasks, upper-cased, until `None`; then closes both queues.
#[multiprocessing::target]
fn shout(tasks: SimpleQueue<Option<String>>, results: SimpleQueue<String>) {
    while let Some(task) = tasks.get().unwrap() {
        results.put(task.to_uppercase()).unwrap();
    }
    tasks.close();
    results.close();
    assert!(results.put("after close".to_string()).is_err());
}

#[rstest]
fn a_simple_queue_carries_items_both_ways(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let tasks = SimpleQueue::<Option<String>>::new().unwrap();
    let results = SimpleQueue::<String>::new().unwrap();
    assert!(tasks.empty() && results.empty());
    let p = ctx.process(shout, (tasks.clone(), results.clone()));
    p.start().unwrap();
    let words = ["one", "two", "three"];
    for word in words {
        tasks.put(Some(word.to_string())).unwrap();
    }
    tasks.put(None).unwrap();
    join_ok(&p);
    assert!(tasks.empty());
    assert!(!results.empty());
    for word in words {
        assert_eq!(results.get().unwrap(), word.to_uppercase());
    }
    assert!(results.empty());
}

/// A worker: for each task, puts its result, then marks the task done; `None` ends it.
#[multiprocessing::target]
fn work(tasks: JoinableQueue<Option<u64>>, results: Queue<u64>) {
    loop {
        let task = get(&tasks);
        if let Some(n) = task {
            results.put(n * n).unwrap();
        }
        tasks.task_done().unwrap();
        if task.is_none() {
            return;
        }
    }
}

#[rstest]
fn joinable_queue_join_returns_once_every_task_is_done(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    const TASKS: u64 = 500;
    let ctx = ctx(method);
    let tasks = JoinableQueue::<Option<u64>>::new().unwrap();
    let results = Queue::<u64>::new().unwrap();
    for n in 0..TASKS {
        tasks.put(Some(n)).unwrap();
    }
    let workers: Vec<Process> = (0..2)
        .map(|_| ctx.process(work, (tasks.clone(), results.clone())))
        .collect();
    start_all(&workers);
    within_hang_guard({
        let tasks = tasks.clone();
        move || tasks.join()
    })
    .unwrap();
    // Each worker puts a result before it marks its task done: join returned after the last.
    assert_eq!(results.qsize(), TASKS as usize);
    for _ in 0..2 {
        tasks.put(None).unwrap();
    }
    for p in &workers {
        join_ok(p);
    }
    // The stop items were marked done too; join returns at once, and one more is too many.
    tasks.join().unwrap();
    assert!(matches!(
        tasks.task_done(),
        Err(Error::InvalidOperation(message)) if message.contains("task_done() called too many times")
    ));
    let mut squares: Vec<u64> = (0..TASKS).map(|_| results.get_nowait().unwrap()).collect();
    squares.sort_unstable();
    assert_eq!(squares, (0..TASKS).map(|n| n * n).collect::<Vec<_>>());
}

/// Joins the tasks, then checks that each one's result was put before it was marked done.
#[multiprocessing::target]
fn join_then_count(tasks: JoinableQueue<u32>, results: Queue<u32>, expected: u32) {
    tasks.join().unwrap();
    assert_eq!(results.qsize(), expected as usize);
}

#[rstest]
fn joinable_queue_join_in_a_child_waits_for_the_parent_s_task_done(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let tasks = JoinableQueue::<u32>::new().unwrap();
    let results = Queue::<u32>::new().unwrap();
    for n in 0..3 {
        tasks.put(n).unwrap();
    }
    // Daemonic: if its join never returned (a bug), the child is terminated when this test
    // binary exits, rather than left behind.
    let p = ctx
        .process(join_then_count, (tasks.clone(), results.clone(), 3u32))
        .with_daemon(true);
    p.start().unwrap();
    for _ in 0..3 {
        let n = tasks.get().unwrap();
        results.put(n).unwrap();
        tasks.task_done().unwrap();
    }
    join_ok(&p);
}

/// Calls `task_done` once more than items were put.
#[multiprocessing::target]
fn too_many_task_done(tasks: JoinableQueue<u32>) {
    tasks.task_done().unwrap();
    let err = tasks.task_done().unwrap_err();
    assert!(
        matches!(&err, Error::InvalidOperation(m) if m.contains("task_done() called too many times")),
        "{err:?}"
    );
}

#[rstest]
fn task_done_more_times_than_items_is_an_error_in_every_process(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let tasks = JoinableQueue::<u32>::new().unwrap();
    assert!(matches!(tasks.task_done(), Err(Error::InvalidOperation(_))));
    tasks.put(7).unwrap();
    assert_eq!(tasks.get().unwrap(), 7);
    let p = ctx.process(too_many_task_done, (tasks.clone(),));
    p.start().unwrap();
    join_ok(&p);
    // The failed call changed nothing: no task is left, and join returns.
    tasks.join().unwrap();
    assert!(matches!(tasks.task_done(), Err(Error::InvalidOperation(_))));
}

/// A value whose (de)serialization fails for one of its variants.
#[derive(Debug, PartialEq)]
enum Poison {
    Fine(u32),
    /// `Serialize` refuses it.
    Unserializable,
    /// Serializes, but `Deserialize` refuses what it becomes.
    Undeserializable,
}

const REFUSED_SERIALIZE: &str = "Poison::Unserializable refuses to be serialized";
const REFUSED_DESERIALIZE: &str = "Poison::Undeserializable refuses to be deserialized";

impl Serialize for Poison {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Poison::Fine(n) => (0u8, *n).serialize(serializer),
            Poison::Unserializable => Err(serde::ser::Error::custom(REFUSED_SERIALIZE)),
            Poison::Undeserializable => (1u8, 0u32).serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Poison {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match <(u8, u32)>::deserialize(deserializer)? {
            (0, n) => Ok(Poison::Fine(n)),
            _ => Err(serde::de::Error::custom(REFUSED_DESERIALIZE)),
        }
    }
}

fn assert_serialization_error(err: Error) {
    match &err {
        Error::Serialization { what, reason } => {
            assert!(what.contains("Poison"), "{err:?} does not name the type");
            assert!(reason.contains(REFUSED_SERIALIZE), "{err:?}");
        }
        _ => panic!("{err:?} is not a Serialization error"),
    }
}

fn assert_deserialization_error(err: Error) {
    match &err {
        Error::Deserialization { what, .. } => {
            assert!(what.contains("Poison"), "{err:?} does not name the type");
        }
        _ => panic!("{err:?} is not a Deserialization error"),
    }
}

/// Gets the parent's items (one that does not deserialize among them), then puts its own (one
/// that does not serialize among them).
#[multiprocessing::target]
fn poison_both_ways(inbox: Queue<Poison>, outbox: Queue<Poison>) {
    assert_eq!(get(&inbox), Poison::Fine(1));
    assert_deserialization_error(inbox.get_timeout(HANG).unwrap_err());
    assert_eq!(get(&inbox), Poison::Fine(2));
    assert!(inbox.empty());

    outbox.put(Poison::Fine(10)).unwrap();
    for _ in 0..3 {
        // Refused at the call, and the queue is untouched.
        assert_serialization_error(outbox.put(Poison::Unserializable).unwrap_err());
        assert_serialization_error(outbox.put_nowait(Poison::Unserializable).unwrap_err());
        assert_eq!(outbox.qsize(), 1);
    }
    outbox.put(Poison::Fine(11)).unwrap();
    outbox.put(Poison::Undeserializable).unwrap();
    outbox.put(Poison::Fine(12)).unwrap();
}

#[rstest]
fn a_failing_item_is_an_error_for_its_caller_and_the_queue_carries_on(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let inbox = Queue::<Poison>::new().unwrap();
    let outbox = Queue::<Poison>::new().unwrap();
    inbox.put(Poison::Fine(1)).unwrap();
    assert_serialization_error(inbox.put(Poison::Unserializable).unwrap_err());
    assert_eq!(inbox.qsize(), 1);
    inbox.put(Poison::Undeserializable).unwrap();
    inbox.put(Poison::Fine(2)).unwrap();
    let p = ctx.process(poison_both_ways, (inbox.clone(), outbox.clone()));
    p.start().unwrap();
    join_ok(&p);
    assert_eq!(outbox.get().unwrap(), Poison::Fine(10));
    assert_eq!(outbox.get().unwrap(), Poison::Fine(11));
    assert_deserialization_error(outbox.get().unwrap_err());
    assert_eq!(outbox.get().unwrap(), Poison::Fine(12));
    assert!(outbox.empty());
}

/// Hands the queue on to a grandchild started with `method`, which puts into it.
#[multiprocessing::target]
fn hand_on(queue: Queue<Item>, method: String) {
    let ctx = multiprocessing::get_context(Some(&method)).unwrap();
    queue.put(Some((0, 0))).unwrap();
    let p = ctx.process(produce, (queue.clone(), 1u32, 3u32));
    p.start().unwrap();
    join_ok(&p);
}

/// A queue a child received as an argument can be passed on again, under every start method.
#[rstest]
fn a_queue_passes_on_to_a_grandchild(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let queue = Queue::<Item>::new().unwrap();
    let p = ctx.process(hand_on, (queue.clone(), method.to_string()));
    p.start().unwrap();
    join_ok(&p);
    for expected in [(0, 0), (1, 0), (1, 1), (1, 2)] {
        assert_eq!(queue.get_nowait().unwrap(), Some(expected));
    }
    assert!(queue.empty());
}

/// The ring grows past its first 64 KiB (also while records wrap around its end) and shrinks
/// back once empty, without losing or reordering anything.
#[test]
fn the_ring_grows_and_shrinks_keeping_every_item() {
    let _serial = serial();
    let queue = Queue::<String>::new().unwrap();
    for round in 0..3 {
        // Fill most of the ring, empty most of it, and put more, so the records wrap around
        // its end.
        for i in 0..60 {
            queue.put(text(1000, i)).unwrap();
        }
        for i in 0..55 {
            assert!(queue.get().unwrap() == text(1000, i));
        }
        for i in 60..70 {
            queue.put(text(1000, i)).unwrap();
        }
        // Then grow with wrapped records in it: 32 MiB in flight, past the point where an empty
        // ring shrinks back.
        for i in 0..256 {
            queue.put(text(128 << 10, 1000 + round * 256 + i)).unwrap();
        }
        for i in 55..70 {
            assert!(queue.get().unwrap() == text(1000, i));
        }
        for i in 0..256 {
            assert!(queue.get().unwrap() == text(128 << 10, 1000 + round * 256 + i));
        }
        assert!(queue.empty());
    }
}

/// The same checks without another process: the error values and messages.
#[test]
fn errors_in_one_process() {
    let _serial = serial();
    let queue = Queue::<Poison>::with_maxsize(1).unwrap();
    assert_serialization_error(queue.put(Poison::Unserializable).unwrap_err());
    assert_serialization_error(
        queue
            .put_timeout(Poison::Unserializable, Duration::ZERO)
            .unwrap_err(),
    );
    assert!(queue.empty(), "a failed put left something in the queue");
    queue.put(Poison::Undeserializable).unwrap();
    let err = queue.get().unwrap_err();
    assert!(err.to_string().contains("Poison"), "{err}");
    assert_deserialization_error(err);
    queue.put(Poison::Fine(3)).unwrap();
    assert!(matches!(
        queue.put_nowait(Poison::Fine(4)),
        Err(Error::Full { maxsize: 1 })
    ));
    assert_eq!(queue.get().unwrap(), Poison::Fine(3));
    assert!(matches!(
        queue.get_timeout(Duration::from_millis(1)),
        Err(Error::Empty)
    ));

    let tasks = JoinableQueue::<u8>::new().unwrap();
    let err = tasks.task_done().unwrap_err();
    assert!(
        err.to_string()
            .contains("task_done() called too many times"),
        "{err}"
    );
}

/// What a child does, armed to die at its `k`th fault point.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
enum Op {
    Put,
    /// A put whose record wraps around the ring's end.
    PutWrapping,
    /// A put that grows the ring while its records wrap.
    PutGrowing,
    Get,
    /// A get of a record that wraps around the ring's end.
    GetWrapped,
    /// A get that empties a grown ring, which then shrinks.
    GetShrinking,
    TaskDone,
}

/// The item an `Op::Put*` puts.
fn new_item(op: Op) -> String {
    match op {
        Op::PutWrapping => text(6000, 999),
        Op::PutGrowing => text(70_000, 999),
        _ => "new".to_string(),
    }
}

/// Builds the queue an operation starts from, returning the items in it, oldest first, and its
/// count of unfinished tasks.
fn prepare(queue: &JoinableQueue<String>, op: Op) -> (Vec<String>, usize) {
    let (mut items, mut unfinished) = (Vec::new(), 0);
    let mut put = |items: &mut Vec<String>, item: String| {
        queue.put(&item).unwrap();
        items.push(item);
        unfinished += 1;
    };
    let get = |items: &mut Vec<String>| assert_eq!(queue.get().unwrap(), items.remove(0));
    let mut done = 0;
    match op {
        Op::Put | Op::Get | Op::TaskDone => {
            (0..5).for_each(|i| put(&mut items, format!("item {i}")));
        }
        Op::PutWrapping | Op::PutGrowing | Op::GetWrapped => {
            // 60 records of 1010 bytes in the 64 KiB ring, 55 of them got: the tail is 4936
            // bytes from the end.
            (0..60).for_each(|i| put(&mut items, text(1000, i)));
            for _ in 0..55 {
                get(&mut items);
                queue.task_done().unwrap();
                done += 1;
            }
            if op != Op::PutWrapping {
                put(&mut items, text(6000, 998)); // wraps
            }
            if op == Op::GetWrapped {
                (0..5).for_each(|_| get(&mut items));
            }
        }
        Op::GetShrinking => put(&mut items, text(17 << 20, 7)), // grows the ring to 32 MiB
    }
    if op == Op::TaskDone {
        get(&mut items);
    }
    (items, unfinished - done)
}

/// Arms the fault points to kill this process at the `k`th, then does `op`; reaching the end
/// alive means `op` has fewer than `k` points.
#[multiprocessing::target]
fn do_op_dying_at(queue: JoinableQueue<String>, op: Op, k: u64) {
    multiprocessing::fault::kill_at(k);
    match op {
        Op::Put | Op::PutWrapping | Op::PutGrowing => queue.put(new_item(op)).unwrap(),
        Op::Get | Op::GetWrapped | Op::GetShrinking => drop(queue.get().unwrap()),
        Op::TaskDone => queue.task_done().unwrap(),
    }
    multiprocessing::fault::kill_at(0);
}

/// The proof that the queue survives a process killed at any instruction of `put`, `get` and
/// `task_done` (queue.rs, `Header`): for each operation and each of its fault points `k`, a
/// fresh child does it and is killed at point `k` with SIGKILL; the queue must then hold exactly
/// the items it held before the operation or exactly those after it, count as many unfinished
/// tasks, and carry on. The points lie between every two steps that change shared memory.
#[rstest]
fn a_process_killed_at_any_step_of_an_operation_leaves_the_queue_as_before_or_after_it(
    #[values(
        Op::Put,
        Op::PutWrapping,
        Op::PutGrowing,
        Op::Get,
        Op::GetWrapped,
        Op::GetShrinking,
        Op::TaskDone
    )]
    op: Op,
) {
    let ctx = ctx("fork");
    let mut k = 1;
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let queue = JoinableQueue::<String>::new().unwrap();
        let (before, unfinished_before) = prepare(&queue, op);
        let p = ctx.process(do_op_dying_at, (queue.clone(), op, k));
        p.start().unwrap();
        join_within_hang_guard(&p);
        let finished = match p.exitcode().unwrap() {
            Some(0) => true,
            Some(-9) => false,
            other => panic!("{op:?}, point {k}: the child ended with {other:?}"),
        };
        let mut after = before.clone();
        let mut unfinished_after = unfinished_before;
        match op {
            Op::Put | Op::PutWrapping | Op::PutGrowing => {
                after.push(new_item(op));
                unfinished_after += 1;
            }
            Op::Get | Op::GetWrapped | Op::GetShrinking => drop(after.remove(0)),
            Op::TaskDone => unfinished_after -= 1,
        }
        let mut got = Vec::new();
        loop {
            match queue.get_nowait() {
                Ok(item) => got.push(item),
                Err(Error::Empty) => break,
                Err(err) => panic!("{op:?}, point {k}: {err}"),
            }
        }
        let state = if got == after { "after" } else { "before" };
        seen.insert(state);
        assert!(
            got == after || (!finished && got == before),
            "{op:?}, point {k}: {} items, neither those before ({}) nor after ({}) the operation",
            got.len(),
            before.len(),
            after.len()
        );
        // The unfinished tasks: as many as the items say, or for a `task_done` killed half-way,
        // as before or after it.
        let unfinished = if state == "after" || op == Op::TaskDone {
            unfinished_after
        } else {
            unfinished_before
        };
        for _ in 0..unfinished {
            queue.task_done().unwrap();
        }
        if op == Op::TaskDone && !finished {
            let _ = queue.task_done(); // the one the child may not have done
        }
        assert!(
            queue.task_done().is_err(),
            "{op:?}, point {k}: more unfinished tasks than items put"
        );
        queue.join().unwrap();
        queue.put("still works".to_string()).unwrap();
        assert_eq!(queue.get().unwrap(), "still works");
        if finished {
            assert!(k > 2, "{op:?} passed only {} fault points", k - 1);
            if op != Op::TaskDone {
                // Some kills came before the commit, some after it.
                assert_eq!(seen.len(), 2, "{op:?}: the queue was only ever {seen:?}");
            }
            break;
        }
        k += 1;
    }
}

fn join_within_hang_guard(p: &Process) {
    assert!(p.join_timeout(HANG).unwrap(), "{p:?} hung");
}

// ---------------------------------------------------------------------------------------------
// `connection::wait` on queues, among connections and sentinels.

/// Puts 42 once told to, then waits to be told to exit.
#[multiprocessing::target]
fn puts_when_told(queue: Queue<u32>, mut go: multiprocessing::connection::Connection) {
    let _: u8 = go.recv().unwrap();
    queue.put(42).unwrap();
    let _: u8 = go.recv().unwrap();
}

/// CPython's `wait([conn, q._reader, p.sentinel])`: a queue is ready once another process put
/// an item, not before and not after it was taken; a sentinel once its process ended.
#[rstest]
fn wait_takes_queues_among_connections_and_sentinels(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    use multiprocessing::connection::{pipe, wait, Waitable};
    let ctx = ctx(method);
    let queue = Queue::<u32>::new().unwrap();
    let simple = SimpleQueue::<u32>::new().unwrap();
    let (mut ours, theirs) = pipe(true).unwrap();
    let (idle, _idle_peer) = pipe(true).unwrap();
    let p = ctx.process(puts_when_told, (queue.clone(), theirs));
    p.start().unwrap();
    let sentinel = p.sentinel().unwrap();
    let objects: [&dyn Waitable; 4] = [&idle, &queue, &simple, &sentinel];
    assert!(wait(&objects, Some(Duration::from_millis(50)))
        .unwrap()
        .is_empty());
    ours.send(&1u8).unwrap();
    let ready = wait(&objects, Some(HANG)).unwrap();
    assert_eq!(ready.len(), 1, "only the queue is ready");
    assert!(std::ptr::addr_eq(ready[0], &queue as &dyn Waitable));
    assert_eq!(queue.get_nowait().unwrap(), 42);
    // Taken: not ready any more (the byte that woke the wait is no readiness).
    assert!(wait(&[&queue], Some(Duration::from_millis(50)))
        .unwrap()
        .is_empty());
    ours.send(&2u8).unwrap();
    let ready = wait(&objects, Some(HANG)).unwrap();
    assert_eq!(ready.len(), 1, "only the sentinel is ready");
    assert!(std::ptr::addr_eq(ready[0], &sentinel as &dyn Waitable));
    join_ok(&p);
    // A thread's put wakes a wait already asleep on the queue.
    let putter = {
        let simple = simple.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            simple.put(7).unwrap();
        })
    };
    assert_eq!(wait(&[&simple], Some(HANG)).unwrap().len(), 1);
    assert_eq!(simple.get().unwrap(), 7);
    putter.join().unwrap();
}
