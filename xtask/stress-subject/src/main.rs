//! One soak of the reference, run by `cargo xtask stress`:
//! `stress-subject <producer|consumer|load|barrier|condition> --method M --seconds N [--kills K]`
//! (stopping at K kills if sooner). It prints one JSON line of counts ([`Counts`]) and exits 0
//! (the caller judges the counts).
//!
//! * **producer**: two producer processes at a time put `(life, seq)` for `seq = 0, 1, ...`,
//!   each recording in shared memory how many of its puts returned; each is SIGKILLed a random
//!   0-300 µs after its first put returned, and replaced. A consumer process gets items all
//!   along. Items of one producer arrive in order, so for each life the items must be exactly
//!   `0..n` with `acked <= n <= acked + 1` (the one put that may have committed before the
//!   kill).
//! * **consumer**: one producer puts `0, 1, 2, ...` into a bounded queue (so it also sleeps for
//!   room); consumer processes, one at a time, get items and log each one in shared memory, and
//!   each is SIGKILLed a random 0-300 µs after its first get; then the next starts. The logs, in
//!   order, must be `0, 1, 2, ...`, except that a consumer killed inside `get` may take one item
//!   with it (it says when it is inside `get`).
//!
//! * **load** (no kills): 8 producer processes put 20 000 `(producer, seq)` each into one
//!   queue while 2 consumer processes get them, and 4 processes increment a shared `Value`
//!   10 000 times each under its lock, round after round: every item must arrive exactly once,
//!   each producer's in order, and the value must be exact (a lost increment counts as `lost`).
//! * **barrier**: 3 parties pass a `Barrier` round after round, each `wait` with a 1 s timeout
//!   (the first, while the parties start, with 30 s);
//!   one of them is SIGKILLed a random 0-2 ms after the first round passed (inside `wait` or
//!   between two). The survivors must end their rounds with `BrokenBarrier` (the barrier
//!   breaks, at once or at their timeout), never wedge, and never return from a `wait` later
//!   than its timeout allows; `reset` must make the barrier usable again. `broken` counts the
//!   trials whose barrier broke, `late` the waits that returned more than 1 s after their
//!   timeout, `hung` those that had not returned 30 s after it.
//! * **condition**: 3 waiter processes take turns consuming tokens that the parent issues one
//!   at a time with `notify(1)` under the condition's lock (each waits with no timeout); the
//!   parent SIGKILLs a random waiter at random points (before a notify, after it, while the
//!   waiter holds the lock) and starts another. Every token must be consumed by a live waiter:
//!   a notify absorbed by a dead waiter would leave the live ones asleep (`hung`: a token not
//!   consumed within 10 s, after which the soak wakes them with `notify_all` and goes on).
//!
//! `corrupt` counts errors from any queue operation and processes that ended otherwise than by
//! the kill; `lost` and `duplicated` count items; `hung` counts waits that outlasted a generous
//! hang guard (a process not starting to put or get, a kill not ending a process).

use std::time::{Duration, Instant};

use multiprocessing::queue::Queue;
use multiprocessing::shared::{RawArray, Value};
use multiprocessing::sync::{Barrier, Condition};
use multiprocessing::{Context, Error, Process};
use serde::Serialize;

/// A wait this long is a hang.
const HANG: Duration = Duration::from_secs(30);
/// Producer lives in one producer soak (the acknowledgement table's size).
const MAX_LIVES: usize = 1 << 20;
/// Items one consumer soak logs at most.
const MAX_LOG: usize = 1 << 24;
/// The producer soak starts no producer while more items than this wait in the queue.
const BACKLOG: usize = 100_000;
/// Producers alive at once in the producer soak.
const PRODUCERS: usize = 2;
/// The longest a process runs before it is killed, after its first operation.
const MAX_DELAY_US: u64 = 300;

#[derive(Serialize, Default, Debug)]
struct Counts {
    soak: String,
    method: String,
    kills: u64,
    corrupt: u64,
    lost: u64,
    duplicated: u64,
    hung: u64,
    /// Barrier soak: trials whose barrier broke (expected after a kill: informative).
    broken: u64,
    /// Barrier soak: waits that returned more than [`LATE`] after their timeout.
    late: u64,
    items: u64,
    seconds: f64,
    /// What went wrong first, if anything.
    first_problem: Option<String>,
}

impl Counts {
    fn problem(&mut self, what: String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(what);
        }
    }
}

/// Puts `(life, 0), (life, 1), ...` until killed; `acked[life]` counts the puts that returned.
#[multiprocessing::target]
fn produce(queue: Queue<(u32, u64)>, life: u32, acked: RawArray<u64>) {
    for seq in 0.. {
        if let Err(err) = queue.put((life, seq)) {
            eprintln!("stress producer: {err}");
            std::process::exit(3);
        }
        let _ = acked.set(life as usize, seq + 1);
    }
}

/// Puts `0, 1, 2, ...` until killed; `acked[0]` counts the puts that returned.
#[multiprocessing::target]
fn produce_numbers(queue: Queue<u64>, acked: RawArray<u64>) {
    for n in 0.. {
        if let Err(err) = queue.put(n) {
            eprintln!("stress producer: {err}");
            std::process::exit(3);
        }
        let _ = acked.set(0, n + 1);
    }
}

/// Log layout for the consumer soak: `state[0]` the next free log index, `state[1]` 1 while a
/// consumer is inside `get` (set before, cleared after the item is logged).
#[multiprocessing::target]
fn consume(queue: Queue<u64>, log: RawArray<u64>, state: RawArray<u64>) {
    loop {
        let _ = state.set(1, 1);
        let item = match queue.get() {
            Ok(item) => item,
            Err(err) => {
                eprintln!("stress consumer: {err}");
                std::process::exit(3);
            }
        };
        let n = state.get(0).unwrap_or(0);
        if log.set(n as usize, item).is_err() {
            std::process::exit(4); // the log is full
        }
        let _ = state.set(0, n + 1);
        let _ = state.set(1, 0);
    }
}

/// A random delay before a kill.
fn random_delay() -> Duration {
    Duration::from_micros(fastrand::u64(0..=MAX_DELAY_US))
}

/// Kills `p` a random delay after `started()` says it is at work; `true` if the kill ended it.
fn kill_when_working(p: &Process, started: impl Fn() -> bool, counts: &mut Counts) -> bool {
    let hang = Instant::now() + HANG;
    while !started() && Instant::now() < hang && p.is_alive().unwrap_or(false) {
        std::hint::spin_loop();
    }
    let until = Instant::now() + random_delay();
    while Instant::now() < until {
        std::hint::spin_loop();
    }
    kill_and_judge(p, started(), counts)
}

/// Kills `p` and judges how it ended: `true` if the kill ended it; a process that had not
/// started working is a hang, one that ended otherwise is corrupt.
fn kill_and_judge(p: &Process, was_working: bool, counts: &mut Counts) -> bool {
    let _ = p.kill();
    if !p.join_timeout(HANG).unwrap_or(false) {
        counts.hung += 1;
        counts.problem(format!("{p:?} did not end after SIGKILL"));
        return false;
    }
    match p.exitcode() {
        Ok(Some(-9)) if was_working => {
            counts.kills += 1;
            true
        }
        other if !was_working => {
            counts.hung += 1;
            counts.problem(format!("{p:?} never started working: {other:?}"));
            false
        }
        other => {
            counts.corrupt += 1;
            counts.problem(format!("{p:?} ended with {other:?}"));
            false
        }
    }
}

/// A producer of the producer soak.
struct Life {
    life: u32,
    p: Process,
    started: Instant,
    kill_at: Option<Instant>,
}

/// Indices into the producer soak checker's results.
const ITEMS: usize = 0;
const DUPLICATED: usize = 1;
const LOST: usize = 2;
const ERRORS: usize = 3;

/// The producer soak's consumer: gets items until `(u32::MAX, _)`, checking that each life's
/// items come in order, `next[life]` being the one expected; counts into `results`.
#[multiprocessing::target]
fn check_producers(queue: Queue<(u32, u64)>, next: RawArray<u64>, results: RawArray<u64>) {
    let bump = |i: usize, by: u64| {
        let _ = results.set(i, results.get(i).unwrap_or(0) + by);
    };
    loop {
        match queue.get() {
            Ok((u32::MAX, _)) => return,
            Ok((life, seq)) => {
                bump(ITEMS, 1);
                let expected = next.get(life as usize).unwrap_or(u64::MAX);
                if seq < expected {
                    bump(DUPLICATED, 1);
                    eprintln!("stress: item ({life}, {seq}) arrived twice");
                } else {
                    if seq > expected {
                        bump(LOST, seq - expected);
                        eprintln!("stress: items ({life}, {expected}..{seq}) are lost");
                    }
                    let _ = next.set(life as usize, seq + 1);
                }
            }
            Err(err) => {
                bump(ERRORS, 1);
                eprintln!("stress: get: {err}");
                return;
            }
        }
    }
}

fn producer_soak(ctx: &Context, seconds: f64, kills: u64, counts: &mut Counts) {
    // Unbounded: a producer that waited for room would mostly be killed asleep, not inside the
    // steps of `put` this soak is about. Each lives a few hundred microseconds, and a consumer
    // process gets all along, so the backlog stays small.
    let queue = Queue::<(u32, u64)>::new().unwrap();
    let acked = RawArray::<u64>::new(MAX_LIVES).unwrap();
    let next = RawArray::<u64>::new(MAX_LIVES).unwrap();
    let results = RawArray::<u64>::new(4).unwrap();
    let checker = ctx.process(
        check_producers,
        (queue.clone(), next.clone(), results.clone()),
    );
    checker.start().unwrap();
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut lives: u32 = 0;
    let mut running: Vec<Life> = Vec::new();
    let mut usable = true;
    while Instant::now() < end
        && counts.kills < kills
        && (lives as usize) < MAX_LIVES - 8
        && usable
        && checker.is_alive().unwrap_or(false)
    {
        // Producers put faster than one consumer gets (by far in a debug build): start new ones
        // only while the backlog is small, so the consumer keeps up.
        while running.len() < PRODUCERS && queue.qsize() < BACKLOG {
            let p = ctx.process(produce, (queue.clone(), lives, acked.clone()));
            if let Err(err) = p.start() {
                counts.corrupt += 1;
                counts.problem(format!("start: {err}"));
                usable = false;
                break;
            }
            running.push(Life {
                life: lives,
                p,
                started: Instant::now(),
                kill_at: None,
            });
            lives += 1;
        }
        // Each producer is killed its own random delay after its first put returned.
        let now = Instant::now();
        running.retain_mut(|life| {
            let working = acked.get(life.life as usize).unwrap_or(0) > 0;
            if working && life.kill_at.is_none() {
                life.kill_at = Some(now + random_delay());
            }
            let due = life.kill_at.is_some_and(|at| now >= at);
            if due || (!working && now - life.started > HANG) {
                kill_and_judge(&life.p, working, counts);
                return false;
            }
            true
        });
        // Sleep, not spin: on a loaded machine a spinning parent gets its share of a CPU only,
        // and its kills come late; a sleeper is woken on time.
        let soonest = running.iter().filter_map(|life| life.kill_at).min();
        let poll = Instant::now() + Duration::from_micros(20);
        let wake = soonest.map_or(poll, |at| at.min(poll));
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
    }
    for life in &running {
        let _ = life.p.kill();
        let _ = life.p.join_timeout(HANG);
    }
    // The end: after every producer's items.
    if let Err(err) = queue.put((u32::MAX, 0)) {
        counts.corrupt += 1;
        counts.problem(format!("put: {err}"));
    }
    // The consumer may still have a backlog to get through: a hang is no progress for HANG.
    let (mut seen, mut since) = (results.get(ITEMS).unwrap_or(0), Instant::now());
    let mut ended = false;
    while !ended && since.elapsed() < HANG {
        ended = checker
            .join_timeout(Duration::from_millis(200))
            .unwrap_or(false);
        let now = results.get(ITEMS).unwrap_or(0);
        if now != seen {
            (seen, since) = (now, Instant::now());
        }
    }
    if !ended {
        counts.hung += 1;
        counts.problem("the consumer did not get to the end of the queue".into());
        let _ = checker.kill();
        let _ = checker.join_timeout(HANG);
    } else if checker.exitcode().ok().flatten() != Some(0) {
        counts.corrupt += 1;
        counts.problem(format!("the consumer ended with {:?}", checker.exitcode()));
    }
    let result = |i: usize| results.get(i).unwrap_or(0);
    counts.items = result(ITEMS);
    counts.duplicated += result(DUPLICATED);
    counts.lost += result(LOST);
    counts.corrupt += result(ERRORS);
    if result(DUPLICATED) + result(LOST) + result(ERRORS) > 0 {
        counts.problem("the consumer found items out of order (see stderr)".into());
    }
    // Every put that returned arrived; at most the one after it too (an unacknowledged put that
    // committed).
    for life in 0..lives as usize {
        let (acked, next) = (acked.get(life).unwrap_or(0), next.get(life).unwrap_or(0));
        if next < acked {
            counts.lost += acked - next;
            counts.problem(format!("life {life}: {next} of {acked} items arrived"));
        } else if next > acked + 1 {
            counts.duplicated += next - acked - 1;
            counts.problem(format!("life {life}: more items than puts"));
        }
    }
    // The queue still works.
    if queue.put((0, 0)).is_err() || queue.get_nowait().is_err() {
        counts.corrupt += 1;
        counts.problem("the queue is unusable at the end".into());
    }
}

fn consumer_soak(ctx: &Context, seconds: f64, kills: u64, counts: &mut Counts) {
    let queue = Queue::<u64>::with_maxsize(256).unwrap();
    let acked = RawArray::<u64>::new(1).unwrap();
    let log = RawArray::<u64>::new(MAX_LOG).unwrap();
    let state = RawArray::<u64>::new(2).unwrap();
    let producer = ctx.process(produce_numbers, (queue.clone(), acked.clone()));
    producer.start().unwrap();
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    // The expected next item, and whether the last consumer may have taken one unlogged.
    let mut expected = 0u64;
    let mut may_have_taken_one = false;
    let mut check = |item: u64, counts: &mut Counts, may: &mut bool| {
        counts.items += 1;
        if item < expected {
            counts.duplicated += 1;
            counts.problem(format!("item {item} arrived twice"));
            return;
        }
        let gap = item - expected;
        let allowed = u64::from(*may);
        if gap > allowed {
            counts.lost += gap - allowed;
            counts.problem(format!("items {expected}..{item} are lost"));
        }
        *may = false;
        expected = item + 1;
    };
    while Instant::now() < end
        && counts.kills < kills
        && state.get(0).unwrap_or(0) < (MAX_LOG - 1_000_000) as u64
    {
        let first = state.get(0).unwrap_or(0);
        let consumer = ctx.process(consume, (queue.clone(), log.clone(), state.clone()));
        if let Err(err) = consumer.start() {
            counts.corrupt += 1;
            counts.problem(format!("start: {err}"));
            break;
        }
        let killed = kill_when_working(&consumer, || state.get(0).unwrap_or(0) > first, counts);
        let last = state.get(0).unwrap_or(0);
        for i in first..last {
            check(
                log.get(i as usize).unwrap_or(u64::MAX),
                counts,
                &mut may_have_taken_one,
            );
        }
        // Killed inside `get`: it may have taken the next item with it.
        may_have_taken_one = killed && state.get(1).unwrap_or(0) == 1;
        let _ = state.set(1, 0);
        if !killed {
            break;
        }
    }
    let _ = producer.kill();
    if !producer.join_timeout(HANG).unwrap_or(false) {
        counts.hung += 1;
        counts.problem("the producer did not end after SIGKILL".into());
    } else if producer.exitcode().ok().flatten() != Some(-9) {
        counts.corrupt += 1;
        counts.problem(format!("the producer ended with {:?}", producer.exitcode()));
    }
    loop {
        match queue.get_nowait() {
            Ok(item) => check(item, counts, &mut may_have_taken_one),
            Err(Error::Empty) => break,
            Err(err) => {
                counts.corrupt += 1;
                counts.problem(format!("get: {err}"));
                break;
            }
        }
    }
    // Every put that returned arrived (the producer's last put may have committed unacked).
    let acked = acked.get(0).unwrap_or(0);
    if expected < acked {
        counts.lost += acked - expected;
        counts.problem(format!("{expected} of {acked} items arrived"));
    } else if expected > acked + 1 {
        counts.duplicated += expected - acked - 1;
        counts.problem("more items than puts".into());
    }
}

// ---------------------------------------------------------------------------------------------
// The load soak.

/// Producers, consumers and items per producer of one load round.
const LOAD_PRODUCERS: u32 = 8;
const LOAD_CONSUMERS: usize = 2;
const LOAD_ITEMS: u64 = 20_000;
/// Processes incrementing the shared value, and increments each, per round.
const LOAD_INCREMENTERS: u64 = 4;
const LOAD_INCREMENTS: u64 = 10_000;

/// Puts `(id, 0..LOAD_ITEMS)`.
#[multiprocessing::target]
fn load_produce(queue: Queue<(u32, u64)>, id: u32) {
    for seq in 0..LOAD_ITEMS {
        if let Err(err) = queue.put((id, seq)) {
            eprintln!("stress load producer: {err}");
            std::process::exit(3);
        }
    }
}

/// Gets items until `(u32::MAX, _)`, recording for each producer the next `seq` it expects;
/// `results`: items, duplicated, lost, errors (indices as in the producer soak).
#[multiprocessing::target]
fn load_consume(queue: Queue<(u32, u64)>, seen: RawArray<u64>, results: RawArray<u64>) {
    loop {
        match queue.get() {
            Ok((u32::MAX, _)) => return,
            Ok((id, seq)) => {
                // Each of the two consumers counts what it got; arrivals are checked as a set
                // (a bit per item), since two consumers interleave.
                let index = id as usize * LOAD_ITEMS as usize + seq as usize;
                let word = seen.get(index).unwrap_or(u64::MAX);
                let _ = seen.set(index, word + 1);
                let _ = results.set(ITEMS, results.get(ITEMS).unwrap_or(0) + 1);
            }
            Err(err) => {
                let _ = results.set(ERRORS, results.get(ERRORS).unwrap_or(0) + 1);
                eprintln!("stress load consumer: {err}");
                return;
            }
        }
    }
}

#[multiprocessing::target]
fn load_increment(value: Value<u64>) {
    for _ in 0..LOAD_INCREMENTS {
        let guard = match value.lock() {
            Ok(guard) => guard,
            Err(err) => {
                eprintln!("stress load incrementer: {err}");
                std::process::exit(3);
            }
        };
        guard.set(guard.get() + 1);
    }
}

/// Joins `p`, which must end with status 0 by itself within [`HANG`].
fn join_clean(p: &Process, what: &str, counts: &mut Counts) {
    if !p.join_timeout(HANG).unwrap_or(false) {
        counts.hung += 1;
        counts.problem(format!("{what} {p:?} did not end"));
        let _ = p.kill();
        let _ = p.join_timeout(HANG);
    } else if p.exitcode().ok().flatten() != Some(0) {
        counts.corrupt += 1;
        counts.problem(format!("{what} {p:?} ended with {:?}", p.exitcode()));
    }
}

fn load_soak(ctx: &Context, seconds: f64, counts: &mut Counts) {
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    loop {
        // Each consumer writes its own counts, the parent sums them; arrivals are counted per
        // item in one shared table (the consumers' increments of one item never race: an item
        // arrives once, or twice only by a bug, which the race could then hide only partly).
        let queue = Queue::<(u32, u64)>::new().unwrap();
        let seen = RawArray::<u64>::new(LOAD_PRODUCERS as usize * LOAD_ITEMS as usize).unwrap();
        let value = Value::new(0u64).unwrap();
        let consumers: Vec<(Process, RawArray<u64>)> = (0..LOAD_CONSUMERS)
            .map(|_| {
                let results = RawArray::<u64>::new(4).unwrap();
                let p = ctx.process(load_consume, (queue.clone(), seen.clone(), results.clone()));
                p.start().unwrap();
                (p, results)
            })
            .collect();
        let producers: Vec<Process> = (0..LOAD_PRODUCERS)
            .map(|id| {
                let p = ctx.process(load_produce, (queue.clone(), id));
                p.start().unwrap();
                p
            })
            .collect();
        let incrementers: Vec<Process> = (0..LOAD_INCREMENTERS)
            .map(|_| {
                let p = ctx.process(load_increment, (value.clone(),));
                p.start().unwrap();
                p
            })
            .collect();
        for p in &producers {
            join_clean(p, "a producer", counts);
        }
        for _ in 0..LOAD_CONSUMERS {
            let _ = queue.put((u32::MAX, 0));
        }
        for (p, results) in &consumers {
            join_clean(p, "a consumer", counts);
            counts.items += results.get(ITEMS).unwrap_or(0);
            counts.corrupt += results.get(ERRORS).unwrap_or(0);
        }
        for p in &incrementers {
            join_clean(p, "an incrementer", counts);
        }
        for index in 0..seen.len() {
            match seen.get(index).unwrap_or(0) {
                1 => {}
                0 => {
                    counts.lost += 1;
                    counts.problem(format!("load: item {index} never arrived"));
                }
                n => {
                    counts.duplicated += n - 1;
                    counts.problem(format!("load: item {index} arrived {n} times"));
                }
            }
        }
        let total = value.get().unwrap_or(0);
        let expected = LOAD_INCREMENTERS * LOAD_INCREMENTS;
        if total != expected {
            counts.lost += expected.abs_diff(total);
            counts.problem(format!("load: the value is {total}, not {expected}"));
        }
        if Instant::now() >= end {
            break;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The barrier soak.

/// Parties of the barrier soak, and the timeout of each of their waits.
const PARTIES: usize = 3;
const PARTY_TIMEOUT: Duration = Duration::from_secs(1);
/// A wait that returns later than its timeout by more than this is `late`.
const LATE: Duration = Duration::from_secs(1);
/// Per party in the barrier soak's shared table: rounds passed, then the microseconds its last
/// wait overshot its timeout, then how it ended (1: broken, 2: another error).
const PARTY_ROUNDS: usize = 0;
const PARTY_OVERSHOOT: usize = 1;
const PARTY_END: usize = 2;

/// Passes `barrier` round after round until a wait fails.
#[multiprocessing::target]
fn party(barrier: Barrier, table: RawArray<u64>, me: usize) {
    let at = |field: usize| me * 3 + field;
    // The first round waits for every party to have started, which on a loaded machine can
    // take longer than a round: it is not what the soak is about.
    let mut timeout = HANG;
    loop {
        let started = Instant::now();
        let result = barrier.wait(Some(timeout));
        let took = started.elapsed();
        let overshoot = took.saturating_sub(timeout).as_micros() as u64;
        timeout = PARTY_TIMEOUT;
        let _ = table.set(at(PARTY_OVERSHOOT), overshoot);
        match result {
            Ok(_) => {
                let rounds = table.get(at(PARTY_ROUNDS)).unwrap_or(0);
                let _ = table.set(at(PARTY_ROUNDS), rounds + 1);
            }
            Err(Error::BrokenBarrier) => {
                let _ = table.set(at(PARTY_END), 1);
                return;
            }
            Err(err) => {
                let _ = table.set(at(PARTY_END), 2);
                eprintln!("stress party: {err}");
                std::process::exit(3);
            }
        }
    }
}

fn barrier_soak(ctx: &Context, seconds: f64, kills: u64, counts: &mut Counts) {
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < end && counts.kills < kills {
        let barrier = Barrier::new(PARTIES).unwrap();
        let table = RawArray::<u64>::new(PARTIES * 3).unwrap();
        let parties: Vec<Process> = (0..PARTIES)
            .map(|me| {
                let p = ctx.process(party, (barrier.clone(), table.clone(), me));
                p.start().unwrap();
                p
            })
            .collect();
        let rounds = |table: &RawArray<u64>| {
            (0..PARTIES)
                .map(|me| table.get(me * 3 + PARTY_ROUNDS).unwrap_or(0))
                .sum::<u64>()
        };
        let hang = Instant::now() + HANG;
        while rounds(&table) == 0 && Instant::now() < hang {
            std::thread::sleep(Duration::from_micros(50));
        }
        let until = Instant::now() + Duration::from_micros(fastrand::u64(0..=2_000));
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        let victim = fastrand::usize(0..PARTIES);
        // A party may have ended already (its round broke on a timeout under load): the kill
        // then finds it gone, and the trial counts no kill.
        let was_working = table.get(victim * 3 + PARTY_END).unwrap_or(0) == 0;
        if was_working {
            kill_and_judge(&parties[victim], true, counts);
        }
        for (me, p) in parties
            .iter()
            .enumerate()
            .filter(|&(me, _)| me != victim || !was_working)
        {
            // The survivors end with BrokenBarrier within their timeout: at once when the dead
            // party is counted out while the barrier fills, at their timeout otherwise.
            let limit = PARTY_TIMEOUT + HANG;
            if !p.join_timeout(limit).unwrap_or(false) {
                counts.hung += 1;
                counts.problem(format!(
                    "party {me} wedged: no return from wait in {limit:?}"
                ));
                let _ = p.kill();
                let _ = p.join_timeout(HANG);
                continue;
            }
            match (
                p.exitcode().ok().flatten(),
                table.get(me * 3 + PARTY_END).unwrap_or(0),
            ) {
                (Some(0), 1) => {}
                other => {
                    counts.corrupt += 1;
                    counts.problem(format!("party {me} ended with {other:?}"));
                }
            }
            let overshoot = Duration::from_micros(table.get(me * 3 + PARTY_OVERSHOOT).unwrap_or(0));
            if overshoot > LATE {
                counts.late += 1;
                counts.problem(format!("party {me}: a wait returned {overshoot:?} late"));
            }
        }
        counts.items += rounds(&table) / PARTIES as u64;
        match barrier.broken() {
            Ok(true) => counts.broken += 1,
            Ok(false) => {}
            Err(err) => {
                counts.corrupt += 1;
                counts.problem(format!("broken(): {err}"));
            }
        }
        // Reset makes it usable again: nobody waits, and it is not broken.
        if barrier.reset().is_err()
            || barrier.n_waiting().ok() != Some(0)
            || barrier.broken().ok() != Some(false)
        {
            counts.corrupt += 1;
            counts.problem("the barrier is unusable after reset".into());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The condition soak.

/// Waiters of the condition soak; a token not consumed within this is a lost wake-up.
const WAITERS: usize = 3;
const TOKEN_HANG: Duration = Duration::from_secs(10);

/// Consumes tokens: `tokens[0]` issued (by the parent), `tokens[1]` consumed (by the waiters),
/// both under the condition's lock; `tokens[2 + me]` says this waiter holds the lock.
#[multiprocessing::target]
fn waiter(cond: Condition, tokens: RawArray<u64>, me: usize) {
    loop {
        // A holder killed with the lock: `lock` recovers it (and releases it); try again.
        let guard = match cond.lock() {
            Ok(guard) => guard,
            Err(Error::OwnerDied) => continue,
            Err(err) => {
                eprintln!("stress waiter: {err}");
                std::process::exit(3);
            }
        };
        let _ = tokens.set(2 + me, 1);
        while tokens.get(1).unwrap_or(0) >= tokens.get(0).unwrap_or(0) {
            let _ = tokens.set(2 + me, 0);
            match cond.wait(None) {
                // Re-acquired after a dead holder: the lock is held, as after any wait.
                Ok(_) | Err(Error::OwnerDied) => {}
                Err(err) => {
                    eprintln!("stress waiter: {err}");
                    std::process::exit(3);
                }
            }
            let _ = tokens.set(2 + me, 1);
        }
        // One store: killed before it, the token is still there; after it, consumed.
        let _ = tokens.set(1, tokens.get(1).unwrap_or(0) + 1);
        let _ = tokens.set(2 + me, 0);
        drop(guard);
    }
}

fn condition_soak(ctx: &Context, seconds: f64, kills: u64, counts: &mut Counts) {
    let cond = Condition::new().unwrap();
    let tokens = RawArray::<u64>::new(2 + WAITERS).unwrap();
    let start = |me: usize| {
        let p = ctx.process(waiter, (cond.clone(), tokens.clone(), me));
        p.start().unwrap();
        p
    };
    let mut waiters: Vec<Process> = (0..WAITERS).map(start).collect();
    let lock = |counts: &mut Counts| loop {
        match cond.lock() {
            Ok(guard) => return Some(guard),
            Err(Error::OwnerDied) => {}
            Err(err) => {
                counts.corrupt += 1;
                counts.problem(format!("lock: {err}"));
                return None;
            }
        }
    };
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < end && counts.kills < kills {
        // Where the kill lands this step: 0 none, 1 before the notify, 2 just after it, 3 a
        // random moment while the token is being consumed.
        let kill = match fastrand::u32(0..4) {
            0 | 1 => 0,
            n => n - 1,
        };
        let victim = fastrand::usize(0..WAITERS);
        if kill == 1 {
            let _ = waiters[victim].kill(); // not reaped: its slot still looks occupied
        }
        let Some(guard) = lock(counts) else { break };
        let issued = tokens.get(0).unwrap_or(0) + 1;
        let _ = tokens.set(0, issued);
        if let Err(err) = cond.notify(1) {
            counts.corrupt += 1;
            counts.problem(format!("notify: {err}"));
        }
        drop(guard);
        if kill == 2 {
            let _ = waiters[victim].kill();
        } else if kill == 3 {
            std::thread::sleep(Duration::from_micros(fastrand::u64(0..=200)));
            let _ = waiters[victim].kill();
        }
        if kill != 0 {
            // Judged by how it ended: killed, or (never) ended by itself.
            let holding = tokens.get(2 + victim).unwrap_or(0) == 1;
            kill_and_judge(&waiters[victim], true, counts);
            if holding {
                let _ = tokens.set(2 + victim, 0);
            }
            waiters[victim] = start(victim);
        }
        // The token must be consumed by a live waiter.
        let hang = Instant::now() + TOKEN_HANG;
        while tokens.get(1).unwrap_or(0) < issued && Instant::now() < hang {
            std::thread::sleep(Duration::from_micros(20));
        }
        if tokens.get(1).unwrap_or(0) < issued {
            counts.hung += 1;
            counts.problem(format!(
                "token {issued}: no live waiter woke in {TOKEN_HANG:?}"
            ));
            if let Some(_guard) = lock(counts) {
                let _ = cond.notify_all();
            }
        } else {
            counts.items += 1;
        }
    }
    for p in &waiters {
        let _ = p.kill();
        if !p.join_timeout(HANG).unwrap_or(false) {
            counts.hung += 1;
            counts.problem(format!("{p:?} did not end after SIGKILL"));
        }
    }
}

fn main() {
    multiprocessing::main_guard();
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: stress-subject <producer|consumer|load|barrier|condition> --method M \
                 --seconds N [--kills K]";
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (Some(soak), Some(method), Some(seconds)) = (
        args.get(1).cloned(),
        option("--method"),
        option("--seconds").and_then(|s| s.parse::<f64>().ok()),
    ) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let ctx = multiprocessing::get_context(Some(&method)).unwrap_or_else(|err| {
        eprintln!("{err}");
        std::process::exit(2);
    });
    let kills = option("--kills")
        .and_then(|k| k.parse::<u64>().ok())
        .filter(|&k| k > 0)
        .unwrap_or(u64::MAX);
    let mut counts = Counts {
        soak: soak.clone(),
        method,
        ..Counts::default()
    };
    let started = Instant::now();
    match soak.as_str() {
        "producer" => producer_soak(&ctx, seconds, kills, &mut counts),
        "consumer" => consumer_soak(&ctx, seconds, kills, &mut counts),
        "load" => load_soak(&ctx, seconds, &mut counts),
        "barrier" => barrier_soak(&ctx, seconds, kills, &mut counts),
        "condition" => condition_soak(&ctx, seconds, kills, &mut counts),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    }
    counts.seconds = started.elapsed().as_secs_f64();
    println!("{}", serde_json::to_string(&counts).unwrap());
}
