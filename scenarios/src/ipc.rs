//! Scenarios of IPC (SPEC.md section 11): pipes, queues, shared memory and synchronization
//! primitives between processes.
//!
//! Each mirrors `scenarios/python/<id>.py`: same trace lines, same synchronization (pipes and
//! joins, never sleeps). Where CPython needs a different mechanism for the same observable fact,
//! the Python program says so in its docstring.

use std::time::Duration;

use multiprocessing::connection::{pipe, Connection};
use multiprocessing::queue::{JoinableQueue, Queue, SimpleQueue};
use multiprocessing::shared::{Array, RawValue, SharedMemory, Value};
use multiprocessing::sync::{Barrier, BoundedSemaphore, Condition, Lock, RLock, Semaphore};
use multiprocessing::{main_guard, Event, Process};
use serde::{Deserialize, Serialize};

use crate::trace::{ctx, exitcode, py_bool, py_list, say};

type Scenario = fn(&str);

pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("array-shared", array_shared),
    ("barrier-n-processes", barrier_n_processes),
    ("barrier-timeout-broken", barrier_timeout_broken),
    (
        "bounded-semaphore-over-release",
        bounded_semaphore_over_release,
    ),
    ("condition-notify-all", condition_notify_all),
    ("event-set-wait", event_set_wait),
    ("ipc-objects-as-arguments", ipc_objects_as_arguments),
    ("shared-memory-as-argument", shared_memory_as_argument),
    ("joinable-queue-task-done", joinable_queue_task_done),
    ("join-means-ended", join_means_ended),
    ("lock-mutual-exclusion", lock_mutual_exclusion),
    ("pipe-eof-after-close", pipe_eof_after_close),
    ("pipe-fifo-both-directions", pipe_fifo_both_directions),
    ("pipe-large-both-ways", pipe_large_both_ways),
    ("pipe-one-way-direction", pipe_one_way_direction),
    ("pipe-poll-timeout", pipe_poll_timeout),
    ("pipe-unserializable-message", pipe_unserializable_message),
    ("queue-fifo-one-producer", queue_fifo_one_producer),
    ("queue-get-timeout-empty", queue_get_timeout_empty),
    (
        "queue-items-from-exited-child",
        queue_items_from_exited_child,
    ),
    ("queue-no-loss-four-producers", queue_no_loss_four_producers),
    ("queue-put-after-close", queue_put_after_close),
    ("queue-put-nowait-full", queue_put_nowait_full),
    ("queue-unserializable-item", queue_unserializable_item),
    ("rlock-reentrant-and-owner", rlock_reentrant_and_owner),
    ("lock-locked", lock_locked),
    (
        "lock-release-by-other-process",
        lock_release_by_other_process,
    ),
    ("lock-reacquire-by-holder", lock_reacquire_by_holder),
    ("lock-holder-killed", lock_holder_killed),
    ("semaphore-counting", semaphore_counting),
    ("shared-memory-attach-by-name", shared_memory_attach_by_name),
    (
        "shared-memory-create-existing",
        shared_memory_create_existing,
    ),
    (
        "shared-memory-cleaned-at-exit",
        shared_memory_cleaned_at_exit,
    ),
    (
        "shared-memory-close-keeps-segment",
        shared_memory_close_keeps_segment,
    ),
    ("shared-memory-creator-killed", shared_memory_creator_killed),
    (
        "shared-memory-outlives-creator",
        shared_memory_outlives_creator,
    ),
    (
        "shared-memory-unlinked-not-found",
        shared_memory_unlinked_not_found,
    ),
    ("simple-queue", simple_queue),
    ("value-locked-increments", value_locked_increments),
];

// ---- how Python prints things ------------------------------------------------------------------

/// A list of booleans as Python prints it: `[True, False]`.
fn py_bools(values: impl IntoIterator<Item = bool>) -> String {
    let items: Vec<&str> = values.into_iter().map(py_bool).collect();
    format!("[{}]", items.join(", "))
}

/// `ok` or the error's kind (SPEC.md 0.2).
fn outcome<T>(result: multiprocessing::Result<T>) -> String {
    match result {
        Ok(_) => "ok".to_owned(),
        Err(err) => err.kind().to_owned(),
    }
}

fn exitcodes(ps: &[Process]) -> String {
    let codes: Vec<String> = ps.iter().map(exitcode).collect();
    format!("[{}]", codes.join(", "))
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// How long a blocking call may take before the scenario is hung (Python: `timeout=60`).
const HANG: Duration = Duration::from_secs(60);

/// A value no serializer can encode, as the Python programs' `Unserializable` (its reduction
/// raises).
struct Unpicklable;

impl Serialize for Unpicklable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom(
            "Unserializable refuses to be serialized",
        ))
    }
}

impl<'de> Deserialize<'de> for Unpicklable {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Ok(Unpicklable)
    }
}

// ---- pipes -------------------------------------------------------------------------------------

const FIFO_N: i32 = 100;

#[multiprocessing::target]
fn fifo_child(mut conn: Connection) {
    let got: Vec<(String, i32)> = (0..FIFO_N).map(|_| conn.recv().unwrap()).collect();
    let in_order = got
        .iter()
        .enumerate()
        .all(|(i, (what, n))| what == "to child" && *n == i as i32);
    say!(
        "child received {} messages in order: {}",
        got.len(),
        py_bool(got.len() == FIFO_N as usize && in_order)
    );
    for i in 0..FIFO_N {
        conn.send(&("to parent", i)).unwrap();
    }
    conn.close();
}

fn pipe_fifo_both_directions(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let (mut here, there) = pipe(true).unwrap();
    let p = ctx.process(fifo_child, (there,));
    p.start().unwrap();
    for i in 0..FIFO_N {
        here.send(&("to child", i)).unwrap();
    }
    let got: Vec<(String, i32)> = (0..FIFO_N).map(|_| here.recv().unwrap()).collect();
    p.join().unwrap();
    let in_order = got
        .iter()
        .enumerate()
        .all(|(i, (what, n))| what == "to parent" && *n == i as i32);
    say!(
        "parent received {} messages in order: {}",
        got.len(),
        py_bool(got.len() == FIFO_N as usize && in_order)
    );
    let (first, last) = (&got[0], &got[got.len() - 1]);
    say!(
        "first: ('{}', {}), last: ('{}', {})",
        first.0,
        first.1,
        last.0,
        last.1
    );
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn eof_child(mut conn: Connection, mut control: Connection) {
    for i in 0..3 {
        conn.send(&format!("message {i}")).unwrap();
    }
    conn.close();
    control.send("closed").unwrap();
    let _go: String = control.recv().unwrap();
}

fn pipe_eof_after_close(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let (mut here, there) = pipe(true).unwrap();
    let (mut control_here, control_there) = pipe(true).unwrap();
    let p = ctx.process(eof_child, (there, control_there));
    p.start().unwrap();
    say!("child says: {}", control_here.recv::<String>().unwrap());
    for _ in 0..3 {
        say!("recv: {}", here.recv::<String>().unwrap());
    }
    for attempt in 1..=2 {
        match here.recv::<String>() {
            Ok(message) => say!("recv: {message}"),
            Err(err) => say!("recv after everything was read ({attempt}): {}", err.kind()),
        }
    }
    say!(
        "child alive while the parent saw EOF: {}",
        py_bool(p.is_alive().unwrap())
    );
    control_here.send("go").unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn last_words(mut writer: Connection) {
    writer.send("last words").unwrap();
}

fn join_means_ended(method: &str) {
    main_guard();
    const CHILDREN: usize = 30;
    let ctx = ctx(method);
    let mut exit_codes = std::collections::BTreeSet::new();
    let (mut messages, mut eof_at_once, mut eof_errors) = (0, 0, 0);
    for _ in 0..CHILDREN {
        let (mut reader, writer) = pipe(false).unwrap();
        // The parent's copy of `writer` goes with the target's arguments: closed once started.
        let p = ctx.process(last_words, (writer,));
        p.start().unwrap();
        p.join().unwrap();
        exit_codes.insert(p.exitcode().unwrap().unwrap_or(-1000));
        messages += usize::from(reader.recv::<String>().unwrap() == "last words");
        eof_at_once += usize::from(reader.poll(Some(Duration::ZERO)).unwrap());
        eof_errors += usize::from(matches!(
            reader.recv::<String>(),
            Err(multiprocessing::Error::Eof)
        ));
    }
    let codes: Vec<String> = exit_codes.iter().map(i32::to_string).collect();
    say!(
        "children joined: {CHILDREN}, exit codes: [{}]",
        codes.join(", ")
    );
    say!("last words received: {messages} of {CHILDREN}");
    say!("end-of-file ready at once after join: {eof_at_once} of {CHILDREN}");
    say!("recv after the last words: Eof {eof_errors} of {CHILDREN}");
}

#[multiprocessing::target]
fn poll_child(mut conn: Connection, mut control: Connection) {
    let _now: String = control.recv().unwrap();
    conn.send("hello").unwrap();
    let _done: String = control.recv().unwrap();
}

fn pipe_poll_timeout(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let (mut here, there) = pipe(true).unwrap();
    let (mut control_here, control_there) = pipe(true).unwrap();
    let p = ctx.process(poll_child, (there, control_there));
    p.start().unwrap();
    let poll = |c: &Connection, t: f64| py_bool(c.poll(Some(secs(t))).unwrap());
    say!("poll() with nothing sent: {}", poll(&here, 0.0));
    say!("poll(0.2) with nothing sent: {}", poll(&here, 0.2));
    control_here.send("send now").unwrap();
    say!("poll(30) after the child sent: {}", poll(&here, 30.0));
    say!("poll(0) again: {}", poll(&here, 0.0));
    say!("recv: {}", here.recv::<String>().unwrap());
    say!("poll(0) after recv: {}", poll(&here, 0.0));
    control_here.send("done").unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn one_way_child(mut writer: Connection) {
    say!(
        "child: writer readable {}, writable {}",
        py_bool(writer.readable()),
        py_bool(writer.writable())
    );
    say!("child: writer.recv(): {}", outcome(writer.recv::<String>()));
    writer.send("from the child").unwrap();
    writer.close();
}

fn pipe_one_way_direction(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let (mut reader, writer) = pipe(false).unwrap();
    say!(
        "reader readable {}, writable {}",
        py_bool(reader.readable()),
        py_bool(reader.writable())
    );
    say!("reader.send(): {}", outcome(reader.send("wrong way")));
    let p = ctx.process(one_way_child, (writer,));
    p.start().unwrap();
    p.join().unwrap();
    say!("reader.recv(): {}", reader.recv::<String>().unwrap());
    say!("exitcode: {}", exitcode(&p));
}

const LARGE: usize = 16 * 1024 * 1024;

fn payload(seed: usize) -> Vec<u8> {
    let block: Vec<u8> = (0..256).map(|i| ((i * 7 + seed) % 256) as u8).collect();
    block.repeat(LARGE / 256)
}

/// Sends one large message, then receives one: the reference does not deadlock when the other
/// end does the same at the same time.
fn exchange(conn: &mut Connection, seed_out: usize, seed_in: usize) -> (usize, bool) {
    conn.send_bytes(&payload(seed_out), 0, None).unwrap();
    let got = conn.recv_bytes(None).unwrap();
    (got.len(), got == payload(seed_in))
}

#[multiprocessing::target]
fn large_child(mut conn: Connection) {
    let (n, intact) = exchange(&mut conn, 2, 1);
    say!("child received {n} bytes, intact: {}", py_bool(intact));
    conn.close();
}

fn pipe_large_both_ways(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let (mut here, there) = pipe(true).unwrap();
    let p = ctx.process(large_child, (there,));
    p.start().unwrap();
    let (n, intact) = exchange(&mut here, 1, 2);
    p.join().unwrap();
    say!("parent received {n} bytes, intact: {}", py_bool(intact));
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn print_one_message(mut conn: Connection) {
    say!("child received: {}", conn.recv::<String>().unwrap());
    conn.close();
}

fn pipe_unserializable_message(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let (mut here, there) = pipe(true).unwrap();
    let p = ctx.process(print_one_message, (there,));
    p.start().unwrap();
    say!("send(unserializable): {}", outcome(here.send(&Unpicklable)));
    here.send("after the failed send").unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

// ---- queues ------------------------------------------------------------------------------------

const QUEUE_FIFO_N: i32 = 1000;

#[multiprocessing::target]
fn fifo_producer(queue: Queue<(String, i32)>) {
    for i in 0..QUEUE_FIFO_N {
        queue.put(("item".to_owned(), i)).unwrap();
    }
}

fn queue_fifo_one_producer(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let queue = Queue::new().unwrap();
    let p = ctx.process(fifo_producer, (queue.clone(),));
    p.start().unwrap();
    let got: Vec<(String, i32)> = (0..QUEUE_FIFO_N)
        .map(|_| queue.get_timeout(HANG).unwrap())
        .collect();
    p.join().unwrap();
    say!("got {} items", got.len());
    let in_order = got
        .iter()
        .enumerate()
        .all(|(i, (what, n))| what == "item" && *n == i as i32);
    say!("in the order put: {}", py_bool(in_order));
    let (first, last) = (&got[0], &got[got.len() - 1]);
    say!(
        "first: ('{}', {}), last: ('{}', {})",
        first.0,
        first.1,
        last.0,
        last.1
    );
    say!("empty after: {}", py_bool(queue.empty()));
    say!("exitcode: {}", exitcode(&p));
}

const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 10_000;

#[multiprocessing::target]
fn numbered_producer(queue: Queue<(u64, u64)>, who: u64) {
    for i in 0..PER_PRODUCER {
        queue.put((who, i)).unwrap();
    }
}

fn queue_no_loss_four_producers(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let queue = Queue::new().unwrap();
    let processes: Vec<Process> = (0..PRODUCERS)
        .map(|who| ctx.process(numbered_producer, (queue.clone(), who)))
        .collect();
    for p in &processes {
        p.start().unwrap();
    }
    let mut seen: Vec<Vec<u64>> = vec![Vec::new(); PRODUCERS as usize];
    for _ in 0..PRODUCERS * PER_PRODUCER {
        let (who, i) = queue.get_timeout(HANG).unwrap();
        seen[who as usize].push(i);
    }
    for p in &processes {
        p.join().unwrap();
    }
    say!("items got: {}", seen.iter().map(Vec::len).sum::<usize>());
    for (who, items) in seen.iter().enumerate() {
        say!(
            "producer {who}: count {}, sum {}, in order: {}",
            items.len(),
            items.iter().sum::<u64>(),
            py_bool(items.iter().copied().eq(0..PER_PRODUCER))
        );
    }
    say!("one more get: {}", outcome(queue.get_timeout(secs(0.1))));
    say!("exitcodes: {}", exitcodes(&processes));
}

#[multiprocessing::target]
fn late_producer(queue: Queue<String>) {
    queue.put("late item".to_owned()).unwrap();
}

fn show_get(what: &str, result: multiprocessing::Result<String>) {
    match result {
        Ok(item) => say!("{what}: {item}"),
        Err(err) => say!("{what}: {}", err.kind()),
    }
}

fn queue_get_timeout_empty(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let queue: Queue<String> = Queue::new().unwrap();
    show_get("get(timeout=0.2)", queue.get_timeout(secs(0.2)));
    show_get("get_nowait()", queue.get_nowait());
    show_get("get(block=False)", queue.get_nowait());
    let p = ctx.process(late_producer, (queue.clone(),));
    p.start().unwrap();
    show_get("get(timeout=60) after a child put", queue.get_timeout(HANG));
    p.join().unwrap();
    show_get("get(timeout=0.1) again", queue.get_timeout(secs(0.1)));
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn consume_one(queue: Queue<String>, mut conn: Connection) {
    conn.send(&queue.get_timeout(HANG).unwrap()).unwrap();
    conn.close();
}

fn queue_put_nowait_full(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let queue: Queue<String> = Queue::with_maxsize(2).unwrap();
    queue.put("a".to_owned()).unwrap();
    queue.put("b".to_owned()).unwrap();
    say!("full: {}", py_bool(queue.full()));
    say!(
        "put_nowait('c'): {}",
        outcome(queue.put_nowait("c".to_owned()))
    );
    say!(
        "put('c', timeout=0.2): {}",
        outcome(queue.put_timeout("c".to_owned(), secs(0.2)))
    );
    say!(
        "put('c', block=False): {}",
        outcome(queue.put_nowait("c".to_owned()))
    );
    let (mut here, there) = pipe(true).unwrap();
    let p = ctx.process(consume_one, (queue.clone(), there));
    p.start().unwrap();
    say!("the child got: {}", here.recv::<String>().unwrap());
    say!(
        "put_nowait('c') after the child's get: {}",
        outcome(queue.put_nowait("c".to_owned()))
    );
    say!(
        "put_nowait('d'): {}",
        outcome(queue.put_nowait("d".to_owned()))
    );
    p.join().unwrap();
    say!(
        "left: {}, {}",
        queue.get_timeout(HANG).unwrap(),
        queue.get_timeout(HANG).unwrap()
    );
    say!("exitcode: {}", exitcode(&p));
}

const EXITED_N: i32 = 100;

#[multiprocessing::target]
fn put_and_exit(queue: Queue<i32>) {
    for i in 0..EXITED_N {
        queue.put(i).unwrap();
    }
}

fn queue_items_from_exited_child(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let queue = Queue::new().unwrap();
    let p = ctx.process(put_and_exit, (queue.clone(),));
    p.start().unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
    let got: Vec<i32> = (0..EXITED_N)
        .map(|_| queue.get_timeout(HANG).unwrap())
        .collect();
    say!(
        "got after the child exited: {} items, sum {}, in order: {}",
        got.len(),
        got.iter().sum::<i32>(),
        py_bool(got.iter().copied().eq(0..EXITED_N))
    );
    say!("one more get: {}", outcome(queue.get_timeout(secs(0.1))));
}

/// What `queue-unserializable-item` puts: an unserializable object, or text.
#[derive(Serialize, Deserialize)]
enum Item {
    Unserializable(Unpicklable),
    Text(String),
}

#[multiprocessing::target]
fn consume_two(queue: Queue<Item>, mut conn: Connection) {
    let text = |item: Item| match item {
        Item::Text(text) => text,
        Item::Unserializable(_) => "Unserializable".to_owned(),
    };
    conn.send(&text(queue.get_timeout(HANG).unwrap())).unwrap();
    match queue.get_timeout(secs(0.2)) {
        Ok(item) => conn.send(&text(item)).unwrap(),
        Err(err) => conn.send(err.kind()).unwrap(),
    }
    conn.close();
}

fn queue_unserializable_item(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let queue: Queue<Item> = Queue::new().unwrap();
    let (mut here, there) = pipe(true).unwrap();
    let p = ctx.process(consume_two, (queue.clone(), there));
    p.start().unwrap(); // before the puts, as the Python program
    say!(
        "put(unserializable): {}",
        outcome(queue.put(Item::Unserializable(Unpicklable)))
    );
    queue.put(Item::Text("next item".to_owned())).unwrap();
    say!("the child got: {}", here.recv::<String>().unwrap());
    say!("the child's second get: {}", here.recv::<String>().unwrap());
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn times_ten(requests: SimpleQueue<Option<i32>>, replies: SimpleQueue<Option<i32>>) {
    while let Some(item) = requests.get().unwrap() {
        replies.put(Some(item * 10)).unwrap();
    }
    replies.put(None).unwrap(); // Python: "done"
}

fn simple_queue(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let (requests, replies) = (SimpleQueue::new().unwrap(), SimpleQueue::new().unwrap());
    say!("empty at first: {}", py_bool(requests.empty()));
    let p = ctx.process(times_ten, (requests.clone(), replies.clone()));
    p.start().unwrap();
    for i in 1..6 {
        requests.put(Some(i)).unwrap();
    }
    requests.put(None).unwrap();
    let mut got = Vec::new();
    while let Some(item) = replies.get().unwrap() {
        got.push(item);
    }
    p.join().unwrap();
    say!("replies: {got:?}");
    say!(
        "empty after: {} {}",
        py_bool(requests.empty()),
        py_bool(replies.empty())
    );
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn task_worker(tasks: JoinableQueue<Option<i32>>, done: Queue<i32>) {
    loop {
        let item = tasks.get().unwrap();
        let Some(item) = item else {
            tasks.task_done().unwrap();
            break;
        };
        done.put(item).unwrap();
        tasks.task_done().unwrap();
    }
}

fn joinable_queue_task_done(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let (tasks, done) = (JoinableQueue::new().unwrap(), Queue::new().unwrap());
    let p = ctx.process(task_worker, (tasks.clone(), done.clone()));
    p.start().unwrap();
    for i in 0..5 {
        tasks.put(Some(i)).unwrap();
    }
    tasks.put(None).unwrap();
    tasks.join().unwrap();
    say!("join() returned");
    let mut items: Vec<i32> = (0..5).map(|_| done.get_timeout(HANG).unwrap()).collect();
    items.sort();
    say!("items the worker marked done: {items:?}");
    p.join().unwrap();
    say!("task_done() once too often: {}", outcome(tasks.task_done()));
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn consume_all_two(queue: Queue<String>, mut conn: Connection) {
    let got: Vec<String> = (0..2).map(|_| queue.get_timeout(HANG).unwrap()).collect();
    conn.send(&got).unwrap();
    conn.close();
}

fn queue_put_after_close(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let queue: Queue<String> = Queue::new().unwrap();
    queue.put("one".to_owned()).unwrap();
    queue.put("two".to_owned()).unwrap();
    let (mut here, there) = pipe(true).unwrap();
    let p = ctx.process(consume_all_two, (queue.clone(), there));
    p.start().unwrap();
    queue.close();
    say!(
        "put after close: {}",
        outcome(queue.put("three".to_owned()))
    );
    say!(
        "the child got: {}",
        py_list(here.recv::<Vec<String>>().unwrap())
    );
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

// ---- shared memory -----------------------------------------------------------------------------

const INCREMENTS: i32 = 2000;

#[multiprocessing::target]
fn add_locked(counter: Value<i32>) {
    for _ in 0..INCREMENTS {
        let guard = counter.lock().unwrap();
        guard.set(guard.get() + 1);
    }
}

fn value_locked_increments(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let counter = Value::new(0i32).unwrap();
    let processes: Vec<Process> = (0..4)
        .map(|_| ctx.process(add_locked, (counter.clone(),)))
        .collect();
    for p in &processes {
        p.start().unwrap();
    }
    for p in &processes {
        p.join().unwrap();
    }
    say!(
        "value: {} (expected {})",
        counter.get().unwrap(),
        4 * INCREMENTS
    );
    say!("exitcodes: {}", exitcodes(&processes));
}

#[multiprocessing::target]
fn squares(arr: Array<i32>) {
    for i in 0..arr.len() {
        arr.set(i, (i * i) as i32).unwrap();
    }
}

#[multiprocessing::target]
fn report_array(arr: Array<i32>) {
    say!("second child sees: {:?}", arr.to_vec().unwrap());
}

fn array_shared(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let arr: Array<i32> = Array::new(8).unwrap();
    say!("initially: {:?}", arr.to_vec().unwrap());
    let p = ctx.process(squares, (arr.clone(),));
    p.start().unwrap();
    p.join().unwrap();
    say!("parent sees: {:?}", arr.to_vec().unwrap());
    arr.lock().unwrap().set(0, -1).unwrap();
    let q = ctx.process(report_array, (arr.clone(),));
    q.start().unwrap();
    q.join().unwrap();
    say!("exitcodes: {} {}", exitcode(&p), exitcode(&q));
}

fn read_text(shm: &SharedMemory, len: usize) -> String {
    let mut buf = vec![0u8; len];
    shm.read_at(0, &mut buf).unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

#[multiprocessing::target]
fn attach_and_write(name: String) {
    let shm = SharedMemory::attach(&name).unwrap();
    say!("child attached to {{shm:{}}}", shm.name());
    shm.write_at(0, b"hello").unwrap();
    shm.close();
}

fn shared_memory_attach_by_name(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let shm = SharedMemory::create(64).unwrap();
    say!(
        "parent created {{shm:{}}}, size at least 64: {}",
        shm.name(),
        py_bool(shm.size() >= 64)
    );
    let mut first = [1u8; 5];
    shm.read_at(0, &mut first).unwrap();
    say!("initially zero: {}", py_bool(first == [0; 5]));
    let p = ctx.process(attach_and_write, (shm.name().to_owned(),));
    p.start().unwrap();
    p.join().unwrap();
    say!("parent reads: {}", read_text(&shm, 5));
    shm.unlink().unwrap();
    shm.close();
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn attach_and_read(name: String, len: usize) {
    match SharedMemory::attach(&name) {
        Ok(shm) => {
            say!("child attach: ok, reads {}", read_text(&shm, len));
            shm.close();
        }
        Err(err) => say!("child attach: {}", err.kind()),
    }
}

fn shared_memory_unlinked_not_found(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let shm = SharedMemory::create(16).unwrap();
    shm.write_at(0, b"hi").unwrap();
    let name = shm.name().to_owned();
    let mut shm = Some(shm);
    for when in ["before unlink", "after unlink"] {
        if when == "after unlink" {
            let shm = shm.take().unwrap();
            shm.unlink().unwrap();
            shm.close();
            say!("parent unlinked the segment");
        }
        let p = ctx.process(attach_and_read, (name.clone(), 2usize));
        p.start().unwrap();
        p.join().unwrap();
        say!("{when}: exitcode {}", exitcode(&p));
    }
    say!(
        "parent attach after unlink: {}",
        outcome(SharedMemory::attach(&name))
    );
}

#[multiprocessing::target]
fn create_again(name: String) {
    match SharedMemory::create_named(&name, 16) {
        Ok(other) => {
            say!("child create with the same name: ok");
            other.unlink().unwrap();
        }
        Err(err) => say!("child create with the same name: {}", err.kind()),
    }
}

fn shared_memory_create_existing(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let shm = SharedMemory::create(16).unwrap();
    shm.write_at(0, b"old").unwrap();
    say!(
        "create with the same name: {}",
        outcome(SharedMemory::create_named(shm.name(), 16))
    );
    let p = ctx.process(create_again, (shm.name().to_owned(),));
    p.start().unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
    say!("segment untouched: {}", read_text(&shm, 3));
    shm.unlink().unwrap();
}

#[multiprocessing::target]
fn create_and_wait(mut conn: Connection) {
    let shm = SharedMemory::create(16).unwrap();
    shm.write_at(0, b"alive").unwrap();
    conn.send(shm.name()).unwrap();
    let _never: String = conn.recv().unwrap();
}

fn shared_memory_creator_killed(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let (mut here, there) = pipe(true).unwrap();
    let p = ctx.process(create_and_wait, (there,));
    p.start().unwrap();
    let name: String = here.recv().unwrap();
    let seen = SharedMemory::attach(&name).unwrap();
    say!(
        "parent attached to {{shm:{name}}}, reads: {}",
        read_text(&seen, 5)
    );
    seen.close();
    p.kill().unwrap();
    p.join().unwrap();
    say!("creator exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn create_reply(request_name: String, names: Queue<String>) {
    let request = SharedMemory::attach(&request_name).unwrap();
    let mut size = [0u8; 1];
    request.read_at(0, &mut size).unwrap();
    request.close();
    create_write_send(usize::from(size[0]), b"kept!", &names);
}

/// Creates a segment, writes `text` into it, puts its name on `names`, and closes it.
fn create_write_send(size: usize, text: &[u8], names: &Queue<String>) {
    let shm = SharedMemory::create(size).unwrap();
    shm.write_at(0, text).unwrap();
    names.put(shm.name().to_owned()).unwrap();
    shm.close();
}

fn shared_memory_outlives_creator(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let request = SharedMemory::create(1).unwrap();
    request.write_at(0, &[16]).unwrap();
    let names: Queue<String> = Queue::new().unwrap();
    let p = ctx.process(create_reply, (request.name().to_owned(), names.clone()));
    p.start().unwrap();
    let name = names.get_timeout(Duration::from_secs(60)).unwrap();
    p.join().unwrap();
    say!("creator exitcode: {}", exitcode(&p));
    match SharedMemory::attach(&name) {
        Ok(reply) => {
            say!(
                "parent attach after the creator exited: ok, {{shm:{name}}} reads {}",
                read_text(&reply, 5)
            );
            reply.unlink().unwrap();
            reply.close();
        }
        Err(err) => say!("parent attach after the creator exited: {}", err.kind()),
    }
    request.unlink().unwrap();
    request.close();
    say!(
        "attach after unlink: {}",
        outcome(SharedMemory::attach(&name))
    );
}

fn shared_memory_close_keeps_segment(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let shm = SharedMemory::create(16).unwrap();
    shm.write_at(0, b"data").unwrap();
    let name = shm.name().to_owned();
    shm.close();
    say!("creator closed its only handle");
    let again = SharedMemory::attach(&name).unwrap();
    say!("attach after close: ok, reads {}", read_text(&again, 4));
    again.close();
    let p = ctx.process(attach_and_read, (name.clone(), 4usize));
    p.start().unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
    let last = SharedMemory::attach(&name).unwrap();
    last.unlink().unwrap();
    last.close();
    say!(
        "attach after unlink: {}",
        outcome(SharedMemory::attach(&name))
    );
}

#[multiprocessing::target]
fn create_and_leave(names: Queue<String>) {
    create_write_send(16, b"left", &names);
}

fn shared_memory_cleaned_at_exit(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let own = SharedMemory::create(16).unwrap();
    own.unlink().unwrap();
    own.close();
    let names: Queue<String> = Queue::new().unwrap();
    let p = ctx.process(create_and_leave, (names.clone(),));
    p.start().unwrap();
    let name = names.get_timeout(Duration::from_secs(60)).unwrap();
    p.join().unwrap();
    say!("creator exitcode: {}", exitcode(&p));
    let shm = SharedMemory::attach(&name).unwrap();
    say!(
        "parent attached to {{shm:{name}}}, reads {}",
        read_text(&shm, 4)
    );
    shm.close();
    say!("nobody unlinks it");
}

// ---- synchronization ---------------------------------------------------------------------------

const CRITICAL_N: i32 = 500;

#[multiprocessing::target]
fn critical_sections(
    lock: Lock,
    inside: RawValue<i32>,
    overlaps: RawValue<i32>,
    total: RawValue<i32>,
) {
    for _ in 0..CRITICAL_N {
        let _guard = lock.lock().unwrap();
        inside.set(inside.get() + 1);
        if inside.get() != 1 {
            overlaps.set(overlaps.get() + 1);
        }
        total.set(total.get() + 1);
        inside.set(inside.get() - 1);
    }
}

fn lock_mutual_exclusion(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let lock = Lock::new().unwrap();
    let [inside, overlaps, total] = [(); 3].map(|()| RawValue::new(0i32).unwrap());
    let processes: Vec<Process> = (0..4)
        .map(|_| {
            ctx.process(
                critical_sections,
                (
                    lock.clone(),
                    inside.clone(),
                    overlaps.clone(),
                    total.clone(),
                ),
            )
        })
        .collect();
    for p in &processes {
        p.start().unwrap();
    }
    for p in &processes {
        p.join().unwrap();
    }
    say!("overlaps seen: {}", overlaps.get());
    say!("total: {} (expected {})", total.get(), 4 * CRITICAL_N);
    say!(
        "lock free after: {}",
        py_bool(lock.acquire(false, None).unwrap())
    );
    lock.release().unwrap();
    say!("exitcodes: {}", exitcodes(&processes));
}

#[multiprocessing::target]
fn hold_rlock_twice(rlock: RLock, mut conn: Connection) {
    say!(
        "child acquire: {}",
        py_bool(rlock.acquire(true, None).unwrap())
    );
    say!(
        "child acquire again: {}",
        py_bool(rlock.acquire(true, Some(secs(5.0))).unwrap())
    );
    conn.send("held twice").unwrap();
    let _go: String = conn.recv().unwrap();
    rlock.release().unwrap();
    conn.send("released once").unwrap();
    let _go: String = conn.recv().unwrap();
    rlock.release().unwrap();
    conn.send("released twice").unwrap();
    conn.close();
}

fn parent_try(rlock: &RLock, when: &str) {
    let got = rlock.acquire(false, None).unwrap();
    say!("parent acquire(block=False) {when}: {}", py_bool(got));
    if got {
        rlock.release().unwrap();
    }
}

fn rlock_reentrant_and_owner(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let rlock = RLock::new().unwrap();
    let (mut here, there) = pipe(true).unwrap();
    let p = ctx.process(hold_rlock_twice, (rlock.clone(), there));
    p.start().unwrap();
    say!("child says: {}", here.recv::<String>().unwrap());
    parent_try(&rlock, "while the child holds it twice");
    say!(
        "parent release of the child's lock: {}",
        outcome(rlock.release())
    );
    here.send("go").unwrap();
    say!("child says: {}", here.recv::<String>().unwrap());
    parent_try(&rlock, "while the child holds it once");
    here.send("go").unwrap();
    say!("child says: {}", here.recv::<String>().unwrap());
    parent_try(&rlock, "after the child released it twice");
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn semaphore_child(sem: Semaphore, mut conn: Connection) {
    say!(
        "child acquire(block=False) at 0: {}",
        py_bool(sem.acquire(false, None).unwrap())
    );
    conn.send("tried").unwrap();
    say!(
        "child acquire(timeout=60) after the parent's release: {}",
        py_bool(sem.acquire(true, Some(HANG)).unwrap())
    );
    sem.release().unwrap();
    sem.release().unwrap();
    conn.send("released two").unwrap();
    conn.close();
}

fn semaphore_counting(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let sem = Semaphore::new(3).unwrap();
    say!(
        "acquires: {}",
        py_bools((0..4).map(|_| sem.acquire(false, None).unwrap()))
    );
    say!(
        "acquire(timeout=0.2) at 0: {}",
        py_bool(sem.acquire(true, Some(secs(0.2))).unwrap())
    );
    let (mut here, there) = pipe(true).unwrap();
    let p = ctx.process(semaphore_child, (sem.clone(), there));
    p.start().unwrap();
    say!("child says: {}", here.recv::<String>().unwrap());
    sem.release().unwrap();
    say!("child says: {}", here.recv::<String>().unwrap());
    p.join().unwrap();
    say!(
        "acquires after the child: {}",
        py_bools((0..3).map(|_| sem.acquire(false, None).unwrap()))
    );
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn bounded_child(sem: BoundedSemaphore) {
    say!(
        "child acquire: {}",
        py_bool(sem.acquire(true, Some(HANG)).unwrap())
    );
    sem.release().unwrap();
    say!("child release of what it acquired: ok");
    say!("child release beyond the bound: {}", outcome(sem.release()));
}

fn bounded_semaphore_over_release(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let sem = BoundedSemaphore::new(2).unwrap();
    say!(
        "parent release beyond the bound: {}",
        outcome(sem.release())
    );
    let p = ctx.process(bounded_child, (sem.clone(),));
    p.start().unwrap();
    p.join().unwrap();
    say!(
        "acquires after the child: {}",
        py_bools((0..3).map(|_| sem.acquire(false, None).unwrap()))
    );
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn event_waiter(event: Event, mut conn: Connection) {
    say!("child is_set before: {}", py_bool(event.is_set().unwrap()));
    say!(
        "child wait(0.2) before set: {}",
        py_bool(event.wait(Some(secs(0.2))).unwrap())
    );
    conn.send("waiting").unwrap();
    say!(
        "child wait() after set: {}",
        py_bool(event.wait(None).unwrap())
    );
    conn.send("saw it").unwrap();
    let _look: String = conn.recv().unwrap();
    say!(
        "child is_set after the parent's clear: {}",
        py_bool(event.is_set().unwrap())
    );
    conn.close();
}

fn event_set_wait(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let event = Event::new().unwrap();
    let (mut here, there) = pipe(true).unwrap();
    let p = ctx.process(event_waiter, (event.clone(), there));
    p.start().unwrap();
    let _waiting: String = here.recv().unwrap();
    event.set().unwrap();
    let _saw: String = here.recv().unwrap();
    say!(
        "parent set it, is_set: {}",
        py_bool(event.is_set().unwrap())
    );
    event.clear().unwrap();
    say!(
        "parent cleared it, is_set: {}",
        py_bool(event.is_set().unwrap())
    );
    here.send("look again").unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn lonely(cond: Condition) {
    let _guard = cond.lock().unwrap();
    say!(
        "lonely child wait(0.2) without notify: {}",
        py_bool(cond.wait(Some(secs(0.2))).unwrap())
    );
}

#[multiprocessing::target]
fn cond_waiter(cond: Condition, mut conn: Connection, who: String) {
    {
        let _guard = cond.lock().unwrap();
        conn.send("ready").unwrap(); // sent while holding the lock, which only wait() releases
        let woken = cond.wait(None).unwrap();
        say!("waiter {who} woken: {}", py_bool(woken));
    }
    conn.close();
}

fn condition_notify_all(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let cond = Condition::new().unwrap();
    let p = ctx.process(lonely, (cond.clone(),));
    p.start().unwrap();
    p.join().unwrap();
    let mut waiters: Vec<(Process, Connection)> = ["A", "B"]
        .into_iter()
        .map(|who| {
            let (here, there) = pipe(true).unwrap();
            let w = ctx.process(cond_waiter, (cond.clone(), there, who.to_owned()));
            w.start().unwrap();
            (w, here)
        })
        .collect();
    for (_, here) in &mut waiters {
        let _ready: String = here.recv().unwrap();
    }
    {
        let _guard = cond.lock().unwrap(); // both waiters have released the lock: both wait
        cond.notify_all().unwrap();
    }
    for (w, _) in &waiters {
        w.join().unwrap();
    }
    let codes: Vec<Process> = waiters.into_iter().map(|(w, _)| w).collect();
    say!("exitcodes: {} {}", exitcode(&p), exitcodes(&codes));
}

const PARTIES: usize = 3;

#[multiprocessing::target]
fn party(barrier: Barrier, arrived: Value<i32>, results: Queue<(usize, i32)>) {
    {
        let guard = arrived.lock().unwrap();
        guard.set(guard.get() + 1);
    }
    let index = barrier.wait(Some(HANG)).unwrap();
    results.put((index, arrived.get().unwrap())).unwrap();
}

fn barrier_n_processes(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let barrier = Barrier::new(PARTIES).unwrap();
    let arrived = Value::new(0i32).unwrap();
    let results = Queue::new().unwrap();
    let processes: Vec<Process> = (0..PARTIES)
        .map(|_| ctx.process(party, (barrier.clone(), arrived.clone(), results.clone())))
        .collect();
    for p in &processes {
        p.start().unwrap();
    }
    let got: Vec<(usize, i32)> = (0..PARTIES)
        .map(|_| results.get_timeout(HANG).unwrap())
        .collect();
    for p in &processes {
        p.join().unwrap();
    }
    say!("parties: {}", barrier.parties());
    let mut indices: Vec<usize> = got.iter().map(|(i, _)| *i).collect();
    indices.sort();
    say!("indices returned: {indices:?}");
    let seen: Vec<i32> = got.iter().map(|(_, s)| *s).collect();
    say!("arrivals each saw after passing: {seen:?}");
    say!("broken: {}", py_bool(barrier.broken().unwrap()));
    say!("exitcodes: {}", exitcodes(&processes));
}

#[multiprocessing::target]
fn alone_at_barrier(barrier: Barrier) {
    say!(
        "child wait(timeout=0.2): {}",
        outcome(barrier.wait(Some(secs(0.2))))
    );
}

fn barrier_timeout_broken(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let barrier = Barrier::new(2).unwrap();
    say!("broken at first: {}", py_bool(barrier.broken().unwrap()));
    let p = ctx.process(alone_at_barrier, (barrier.clone(),));
    p.start().unwrap();
    p.join().unwrap();
    say!(
        "broken after the child's timeout: {}",
        py_bool(barrier.broken().unwrap())
    );
    say!("parent wait(): {}", outcome(barrier.wait(Some(HANG))));
    barrier.reset().unwrap();
    say!(
        "broken after reset(): {}",
        py_bool(barrier.broken().unwrap())
    );
    say!("exitcode: {}", exitcode(&p));
}

// ---- every object as a Process argument --------------------------------------------------------

/// Every IPC object but SharedMemory, as one argument (Python passes them as 13 arguments).
#[derive(Serialize, Deserialize)]
struct Everything {
    conn: Connection,
    queue: Queue<String>,
    simple: SimpleQueue<String>,
    joinable: JoinableQueue<String>,
    value: Value<i32>,
    array: Array<i32>,
    lock: Lock,
    rlock: RLock,
    cond: Condition,
    sem: Semaphore,
    bsem: BoundedSemaphore,
    event: Event,
    barrier: Barrier,
}

#[multiprocessing::target]
fn uses_everything(mut all: Everything) {
    all.conn.send("from the child").unwrap();
    say!("child: Pipe end: sent");
    say!("child: Queue got: {}", all.queue.get_timeout(HANG).unwrap());
    all.queue.put("from the child".to_owned()).unwrap();
    all.simple.put("from the child".to_owned()).unwrap();
    say!("child: SimpleQueue: put");
    say!(
        "child: JoinableQueue got: {}",
        all.joinable.get_timeout(HANG).unwrap()
    );
    all.joinable.task_done().unwrap();
    all.value.set(42).unwrap();
    all.array.write(0, &[1, 2, 3]).unwrap();
    say!("child: Value: written");
    say!("child: Array: written");
    say!(
        "child: Lock acquire(block=False) while the parent holds it: {}",
        py_bool(all.lock.acquire(false, None).unwrap())
    );
    say!(
        "child: RLock acquire(block=False) while the parent holds it: {}",
        py_bool(all.rlock.acquire(false, None).unwrap())
    );
    say!(
        "child: Condition acquire(block=False) while the parent holds it: {}",
        py_bool(all.cond.acquire(false, None).unwrap())
    );
    say!(
        "child: BoundedSemaphore acquire(block=False) while the parent holds it: {}",
        py_bool(all.bsem.acquire(false, None).unwrap())
    );
    all.sem.release().unwrap();
    say!("child: Semaphore: released");
    all.event.set().unwrap();
    say!("child: Event: set");
    all.barrier.wait(Some(HANG)).unwrap();
}

fn ipc_objects_as_arguments(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let (mut here, there) = pipe(true).unwrap();
    let all = Everything {
        conn: there,
        queue: Queue::new().unwrap(),
        simple: SimpleQueue::new().unwrap(),
        joinable: JoinableQueue::new().unwrap(),
        value: Value::new(0).unwrap(),
        array: Array::new(3).unwrap(),
        lock: Lock::new().unwrap(),
        rlock: RLock::new().unwrap(),
        cond: Condition::new().unwrap(),
        sem: Semaphore::new(0).unwrap(),
        bsem: BoundedSemaphore::new(1).unwrap(),
        event: Event::new().unwrap(),
        barrier: Barrier::new(2).unwrap(),
    };
    let (queue, simple, joinable) = (all.queue.clone(), all.simple.clone(), all.joinable.clone());
    let (value, array, lock, rlock, cond) = (
        all.value.clone(),
        all.array.clone(),
        all.lock.clone(),
        all.rlock.clone(),
        all.cond.clone(),
    );
    let (sem, bsem, event, barrier) = (
        all.sem.clone(),
        all.bsem.clone(),
        all.event.clone(),
        all.barrier.clone(),
    );
    queue.put("to the child".to_owned()).unwrap();
    joinable.put("a task".to_owned()).unwrap();
    assert!(lock.acquire(true, None).unwrap());
    assert!(rlock.acquire(true, None).unwrap());
    assert!(cond.acquire(true, None).unwrap());
    assert!(bsem.acquire(true, None).unwrap());
    let p = ctx.process(uses_everything, (all,));
    p.start().unwrap();
    barrier.wait(Some(HANG)).unwrap();
    say!("parent: Barrier: passed");
    say!(
        "parent: Pipe end received: {}",
        here.recv::<String>().unwrap()
    );
    say!("parent: Queue got: {}", queue.get_timeout(HANG).unwrap());
    say!("parent: SimpleQueue got: {}", simple.get().unwrap());
    joinable.join().unwrap();
    say!("parent: JoinableQueue: join() returned");
    say!("parent: Value: {}", value.get().unwrap());
    say!("parent: Array: {:?}", array.to_vec().unwrap());
    say!(
        "parent: Semaphore acquire(block=False): {}",
        py_bool(sem.acquire(false, None).unwrap())
    );
    say!("parent: Event is_set: {}", py_bool(event.is_set().unwrap()));
    lock.release().unwrap();
    rlock.release().unwrap();
    cond.release().unwrap();
    bsem.release().unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn writes_shared(shm: SharedMemory) {
    shm.write_at(0, b"shared").unwrap();
    say!("child: SharedMemory written");
}

fn shared_memory_as_argument(method: &str) {
    main_guard();
    let shm = SharedMemory::create(16).unwrap();
    let p = ctx(method).process(writes_shared, (shm.clone(),));
    p.start().unwrap();
    p.join().unwrap();
    say!("parent: SharedMemory reads: {}", read_text(&shm, 6));
    say!("exitcode: {}", exitcode(&p));
    shm.unlink().unwrap();
}

// ---- Lock.locked(), and the reference's owned Lock (SPEC 12) ------------------------------------

#[multiprocessing::target]
fn observer(lock: Lock, rlock: RLock, mut conn: Connection) {
    while let Some(when) = conn.recv::<Option<String>>().unwrap() {
        say!(
            "child sees, {when}: Lock {}, RLock {}",
            py_bool(lock.locked()),
            py_bool(rlock.locked())
        );
        conn.send("seen").unwrap();
    }
}

fn lock_locked(method: &str) {
    main_guard();
    let ctx = ctx(method);
    let (lock, rlock) = (Lock::new().unwrap(), RLock::new().unwrap());
    let (mut here, there) = pipe(true).unwrap();
    let p = ctx.process(observer, (lock.clone(), rlock.clone(), there));
    p.start().unwrap();
    let parent_sees = |when: &str| {
        say!(
            "parent sees, {when}: Lock {}, RLock {}",
            py_bool(lock.locked()),
            py_bool(rlock.locked())
        )
    };
    let mut ask = |when: &str| {
        here.send(&Some(when)).unwrap();
        let _seen: String = here.recv().unwrap();
    };
    parent_sees("free");
    ask("free");
    assert!(lock.acquire(true, None).unwrap());
    assert!(rlock.acquire(true, None).unwrap());
    assert!(rlock.acquire(true, None).unwrap());
    parent_sees("held");
    ask("held by the parent (RLock twice)");
    rlock.release().unwrap();
    ask("RLock released once of twice");
    rlock.release().unwrap();
    lock.release().unwrap();
    ask("released");
    parent_sees("released");
    here.send(&None::<String>).unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn hold_lock(lock: Lock, mut conn: Connection) {
    say!(
        "child acquire: {}",
        py_bool(lock.acquire(true, None).unwrap())
    );
    conn.send("holding").unwrap();
    let _go: String = conn.recv().unwrap();
}

fn lock_release_by_other_process(method: &str) {
    main_guard();
    let lock = Lock::new().unwrap();
    let (mut here, there) = pipe(true).unwrap();
    let p = ctx(method).process(hold_lock, (lock.clone(), there));
    p.start().unwrap();
    say!("child says: {}", here.recv::<String>().unwrap());
    say!(
        "parent release of the child's Lock: {}",
        outcome(lock.release())
    );
    let got = lock.acquire(false, None).unwrap();
    say!("parent acquire(block=False): {}", py_bool(got));
    if got {
        lock.release().unwrap();
    }
    here.send("go").unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn reacquire(lock: Lock, mut conn: Connection) {
    say!(
        "child acquire: {}",
        py_bool(lock.acquire(true, None).unwrap())
    );
    conn.send("holding").unwrap();
    match lock.acquire(true, None) {
        Ok(got) => say!("child acquire again: {}", py_bool(got)),
        Err(err) => say!("child acquire again: {}", err.kind()),
    }
}

fn lock_reacquire_by_holder(method: &str) {
    main_guard();
    let lock = Lock::new().unwrap();
    let (mut here, there) = pipe(true).unwrap();
    let p = ctx(method).process(reacquire, (lock, there));
    p.start().unwrap();
    say!("child says: {}", here.recv::<String>().unwrap());
    p.join_timeout(secs(1.0)).unwrap();
    say!(
        "alive after join(timeout=1): {}",
        py_bool(p.is_alive().unwrap())
    );
    p.terminate().unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
}

#[multiprocessing::target]
fn hold_lock_for_ever(lock: Lock, mut conn: Connection) {
    lock.acquire(true, None).unwrap();
    conn.send("holding").unwrap();
    let _never: String = conn.recv().unwrap(); // nobody ever sends
}

/// `acquire(timeout=0.2)` as Python prints it, or the error's kind.
fn timed_acquire(lock: &Lock) -> String {
    match lock.acquire(true, Some(secs(0.2))) {
        Ok(got) => py_bool(got).to_owned(),
        Err(err) => err.kind().to_owned(),
    }
}

fn lock_holder_killed(method: &str) {
    main_guard();
    let lock = Lock::new().unwrap();
    let (mut here, there) = pipe(true).unwrap();
    let p = ctx(method).process(hold_lock_for_ever, (lock.clone(), there));
    p.start().unwrap();
    say!("child says: {}", here.recv::<String>().unwrap());
    p.kill().unwrap();
    p.join().unwrap();
    say!("exitcode: {}", exitcode(&p));
    say!("acquire(timeout=0.2): {}", timed_acquire(&lock));
    say!("acquire(timeout=0.2) again: {}", timed_acquire(&lock));
}
