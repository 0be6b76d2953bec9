//! The synchronization primitives across processes, under every start method: each test calls
//! the main guard first (children take over before the harness's `main`), passes the primitives
//! to its children as `Process` arguments, and synchronizes with them through the primitives
//! themselves or an `Event`, never by sleeping. Timeouts are hang guards only, except where a
//! timeout is the behaviour under test.

// The synchronization primitives are Unix-only in this crate (README, "What is verified where").
#![cfg(unix)]

mod common;
use common::ctx;

use std::time::{Duration, Instant};

use multiprocessing::shared::{RawArray, RawValue, Value};
use multiprocessing::sync::{Barrier, BoundedSemaphore, Condition, Lock, RLock, Semaphore};
use multiprocessing::{Error, Event, Process};
use rstest::rstest;

/// Long enough never to fire on a loaded machine; only there so a bug fails instead of hanging.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn join_ok(p: &Process) {
    assert!(p.join_timeout(HANG_GUARD).unwrap(), "{p:?} hung");
    assert_eq!(p.exitcode().unwrap(), Some(0), "{p:?}");
}

// ---------------------------------------------------------------------------------------------
// Lock and RLock.

/// Non-atomic read-modify-writes of a raw shared counter, made exact by the lock.
#[multiprocessing::target]
fn increments_under_lock(lock: Lock, counter: RawValue<u64>, times: u32) {
    for _ in 0..times {
        let _guard = lock.lock().unwrap();
        counter.set(counter.get() + 1);
    }
}

#[rstest]
fn a_lock_excludes_across_processes(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let lock = Lock::new().unwrap();
    let counter = RawValue::new(0u64).unwrap();
    let workers: Vec<Process> = (0..4)
        .map(|_| {
            ctx.process(
                increments_under_lock,
                (lock.clone(), counter.clone(), 5_000),
            )
        })
        .collect();
    for p in &workers {
        p.start().unwrap();
    }
    for p in &workers {
        join_ok(p);
    }
    assert_eq!(counter.get(), 20_000);
}

#[test]
fn lock_misuse_is_an_error_not_a_deadlock() {
    let lock = Lock::new().unwrap();
    assert!(matches!(lock.release(), Err(Error::InvalidOperation(_))));
    assert!(!lock.locked());
    let guard = lock.lock().unwrap();
    assert!(lock.locked());
    // Held by this very thread: a blocking acquire would wait for ever.
    assert!(matches!(
        lock.acquire(true, None),
        Err(Error::InvalidOperation(_))
    ));
    assert!(!lock.acquire(false, None).unwrap());
    assert!(!lock.acquire(true, Some(Duration::from_millis(1))).unwrap());
    assert!(lock.try_lock().unwrap().is_none());
    // Another thread may not release it, and cannot take it.
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(matches!(lock.release(), Err(Error::InvalidOperation(_))));
            assert!(!lock.acquire(false, None).unwrap());
            assert!(lock.locked()); // by another thread: still locked
        });
    });
    drop(guard);
    assert!(!lock.locked());
    assert!(lock
        .lock_timeout(Duration::from_millis(1))
        .unwrap()
        .is_some());
}

#[test]
fn an_rlock_counts_its_levels_and_belongs_to_its_thread() {
    let lock = RLock::new().unwrap();
    assert!(lock.acquire(true, None).unwrap());
    assert!(lock.acquire(false, None).unwrap());
    let guard = lock.lock().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(!lock.acquire(false, None).unwrap());
            assert!(matches!(lock.release(), Err(Error::InvalidOperation(_))));
        });
    });
    drop(guard);
    lock.release().unwrap();
    lock.release().unwrap();
    assert!(matches!(lock.release(), Err(Error::InvalidOperation(_))));
    std::thread::scope(|s| {
        s.spawn(|| {
            // Free again, for anyone.
            let _guard = lock.lock().unwrap();
        });
    });
}

/// Takes the lock and never lets go: it is killed holding it.
#[multiprocessing::target]
fn holds_lock_until_killed(lock: Lock, rlock: RLock, value: Value<u32>, held: Event, never: Event) {
    assert!(lock.acquire(true, None).unwrap());
    assert!(rlock.acquire(true, None).unwrap());
    assert!(rlock.acquire(true, None).unwrap()); // two levels
    let _value = value.lock().unwrap();
    held.set().unwrap();
    never.wait(None).unwrap();
}

/// The outcome a waiter gets when the holder dies: `Err(OwnerDied)` with the lock held (for
/// `acquire`), or released again (for the guard methods).
#[rstest]
fn a_holder_killed_holding_a_lock_gives_owner_died(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let (lock, rlock, value) = (
        Lock::new().unwrap(),
        RLock::new().unwrap(),
        Value::new(7u32).unwrap(),
    );
    let (held, never) = (Event::new().unwrap(), Event::new().unwrap());
    let p = ctx.process(
        holds_lock_until_killed,
        (
            lock.clone(),
            rlock.clone(),
            value.clone(),
            held.clone(),
            never.clone(),
        ),
    );
    p.start().unwrap();
    assert!(held.wait(Some(HANG_GUARD)).unwrap());
    assert!(lock.locked() && rlock.locked()); // by the child

    // A waiter already blocked when the holder dies is woken by the kernel.
    let started = Instant::now();
    let blocked = std::thread::spawn({
        let lock = lock.clone();
        move || {
            let outcome = lock.acquire(true, Some(HANG_GUARD));
            if matches!(outcome, Err(Error::OwnerDied)) {
                lock.release().unwrap(); // it holds the lock: release for the checks below
            }
            outcome
        }
    });
    p.kill().unwrap();
    join_ignoring_code(&p);
    assert!(matches!(blocked.join().unwrap(), Err(Error::OwnerDied)));
    assert!(
        started.elapsed() < HANG_GUARD / 2,
        "not prompt: {:?}",
        started.elapsed()
    );

    // The lock is consistent again.
    assert!(!lock.locked());
    assert!(lock.acquire(false, None).unwrap());
    lock.release().unwrap();

    // RLock through `acquire`: held once (the dead holder's levels are gone). Until then it
    // is locked: by the dead holder.
    assert!(rlock.locked());
    assert!(matches!(rlock.acquire(false, None), Err(Error::OwnerDied)));
    assert!(rlock.locked());
    rlock.release().unwrap();
    assert!(!rlock.locked());
    assert!(matches!(rlock.release(), Err(Error::InvalidOperation(_))));

    // Value: its lock was held too; `get` reports it once, then works.
    assert!(matches!(value.get(), Err(Error::OwnerDied)));
    assert_eq!(value.get().unwrap(), 7);
}

fn join_ignoring_code(p: &Process) {
    assert!(p.join_timeout(HANG_GUARD).unwrap(), "{p:?} hung");
}

/// The guard methods report `OwnerDied` and leave the lock free.
#[multiprocessing::target]
fn takes_lock_and_dies(lock: Lock) {
    let guard = lock.lock().unwrap();
    std::mem::forget(guard);
    // SAFETY: ending the process abruptly is the point; no destructor runs, as with SIGKILL.
    unsafe { libc::_exit(0) };
}

#[rstest]
fn a_guard_method_recovers_and_releases_a_dead_holders_lock(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let lock = Lock::new().unwrap();
    let p = ctx(method).process(takes_lock_and_dies, (lock.clone(),));
    p.start().unwrap();
    join_ok(&p);
    assert!(matches!(lock.lock(), Err(Error::OwnerDied)));
    let guard = lock.lock().unwrap();
    drop(guard);
}

// ---------------------------------------------------------------------------------------------
// Semaphores.

#[multiprocessing::target]
fn releases(sem: Semaphore, times: u32) {
    for _ in 0..times {
        sem.release().unwrap();
    }
}

#[rstest]
fn a_semaphore_counts_across_processes(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let sem = Semaphore::new(0).unwrap();
    let workers: Vec<Process> = (0..3)
        .map(|_| ctx.process(releases, (sem.clone(), 2)))
        .collect();
    for p in &workers {
        p.start().unwrap();
    }
    for _ in 0..6 {
        assert!(sem.acquire(true, Some(HANG_GUARD)).unwrap());
    }
    for p in &workers {
        join_ok(p);
    }
    assert!(!sem.acquire(false, None).unwrap());
    assert_eq!(sem.get_value(), 0);
}

/// Holds one of `slots` permits while checking that at most `slots` holders overlap.
#[multiprocessing::target]
fn uses_a_slot(slots: BoundedSemaphore, lock: Lock, inside: RawValue<u32>, peak: RawValue<u32>) {
    for _ in 0..200 {
        let _permit = slots.permit().unwrap();
        {
            let _guard = lock.lock().unwrap();
            inside.set(inside.get() + 1);
            peak.set(peak.get().max(inside.get()));
        }
        std::hint::spin_loop();
        let _guard = lock.lock().unwrap();
        inside.set(inside.get() - 1);
    }
}

#[rstest]
fn a_bounded_semaphore_bounds_concurrency(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let slots = BoundedSemaphore::new(2).unwrap();
    let (lock, inside, peak) = (
        Lock::new().unwrap(),
        RawValue::new(0u32).unwrap(),
        RawValue::new(0u32).unwrap(),
    );
    let workers: Vec<Process> = (0..4)
        .map(|_| {
            ctx.process(
                uses_a_slot,
                (slots.clone(), lock.clone(), inside.clone(), peak.clone()),
            )
        })
        .collect();
    for p in &workers {
        p.start().unwrap();
    }
    for p in &workers {
        join_ok(p);
    }
    assert!((1..=2).contains(&peak.get()), "peak {}", peak.get());
    assert_eq!(inside.get(), 0);
    assert_eq!(slots.get_value(), 2);
    let err = slots.release().unwrap_err();
    assert_eq!(err.to_string(), "semaphore or lock released too many times");
}

#[test]
fn a_semaphore_times_out_when_empty() {
    let sem = Semaphore::new(1).unwrap();
    let permit = sem.permit().unwrap();
    let started = Instant::now();
    assert!(!sem.acquire(true, Some(Duration::from_millis(20))).unwrap());
    assert!(started.elapsed() >= Duration::from_millis(20));
    drop(permit);
    assert!(sem.acquire(true, Some(Duration::ZERO)).unwrap());
}

// ---------------------------------------------------------------------------------------------
// Condition.

/// Waits for the parent's `1`, answers `2`.
#[multiprocessing::target]
fn answers_on_condition(cond: Condition, state: RawValue<u32>) {
    let _guard = cond.lock().unwrap();
    assert!(cond
        .wait_for(|| state.get() == 1, Some(HANG_GUARD))
        .unwrap());
    state.set(2);
    cond.notify_all().unwrap();
}

#[rstest]
fn a_condition_signals_across_processes(#[values("fork", "spawn", "forkserver")] method: &str) {
    let cond = Condition::new().unwrap();
    let state = RawValue::new(0u32).unwrap();
    let p = ctx(method).process(answers_on_condition, (cond.clone(), state.clone()));
    p.start().unwrap();
    {
        let _guard = cond.lock().unwrap();
        state.set(1);
        cond.notify(1).unwrap();
        assert!(cond
            .wait_for(|| state.get() == 2, Some(HANG_GUARD))
            .unwrap());
    }
    join_ok(&p);
}

#[test]
fn notify_wakes_exactly_n_waiters_oldest_first() {
    let cond = Condition::with_lock(Lock::new().unwrap()).unwrap();
    let registered = RawValue::new(0u32).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut waiters = Vec::new();
    for i in 0..3 {
        let (cond2, registered2, tx) = (cond.clone(), registered.clone(), tx.clone());
        waiters.push(std::thread::spawn(move || {
            let _guard = cond2.lock().unwrap();
            registered2.set(i + 1);
            let notified = cond2.wait(Some(HANG_GUARD)).unwrap();
            tx.send((i, notified)).unwrap();
        }));
        // Once the count is i + 1 under the lock, waiter i is inside `wait` (it sets the count
        // and waits without releasing the lock in between): the waiting order is 0, 1, 2.
        loop {
            let _guard = cond.lock().unwrap();
            if registered.get() == i + 1 {
                break;
            }
        }
    }
    {
        let _guard = cond.lock().unwrap();
        cond.notify(1).unwrap();
    }
    assert_eq!(
        rx.recv_timeout(HANG_GUARD).unwrap(),
        (0, true),
        "the oldest first"
    );
    {
        let _guard = cond.lock().unwrap();
        assert!(rx.try_recv().is_err(), "notify(1) woke more than one");
        cond.notify(1).unwrap();
    }
    assert_eq!(rx.recv_timeout(HANG_GUARD).unwrap(), (1, true));
    {
        let _guard = cond.lock().unwrap();
        cond.notify_all().unwrap();
    }
    assert_eq!(rx.recv_timeout(HANG_GUARD).unwrap(), (2, true));
    for w in waiters {
        w.join().unwrap();
    }
}

#[test]
fn a_condition_requires_its_lock_and_restores_rlock_levels() {
    let lock = RLock::new().unwrap();
    let cond = Condition::with_lock(lock.clone()).unwrap();
    assert!(matches!(cond.notify(1), Err(Error::InvalidOperation(_))));
    assert!(matches!(
        cond.wait(Some(Duration::ZERO)),
        Err(Error::InvalidOperation(_))
    ));
    assert!(lock.acquire(true, None).unwrap());
    assert!(lock.acquire(true, None).unwrap());
    // Every level is released while waiting (another thread can take the lock)...
    let other = std::thread::spawn({
        let cond = cond.clone();
        move || {
            let _guard = cond.lock().unwrap();
            cond.notify(1).unwrap();
        }
    });
    assert!(cond.wait(Some(HANG_GUARD)).unwrap());
    other.join().unwrap();
    // ...and both are held again afterwards.
    lock.release().unwrap();
    lock.release().unwrap();
    assert!(lock.release().is_err());
}

// ---------------------------------------------------------------------------------------------
// Barrier.

#[multiprocessing::target]
fn meets_at_barrier(barrier: Barrier, indices: RawArray<u32>, slot: usize) {
    let index = barrier.wait(Some(HANG_GUARD)).unwrap();
    indices.set(slot, index as u32 + 1).unwrap();
    // A second round works too.
    barrier.wait(Some(HANG_GUARD)).unwrap();
}

#[rstest]
fn a_barrier_releases_all_parties_together(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let barrier = Barrier::new(4).unwrap();
    let indices = RawArray::<u32>::new(4).unwrap();
    let workers: Vec<Process> = (0..3)
        .map(|slot| ctx.process(meets_at_barrier, (barrier.clone(), indices.clone(), slot)))
        .collect();
    for p in &workers {
        p.start().unwrap();
    }
    let mine = barrier.wait(Some(HANG_GUARD)).unwrap();
    indices.set(3, mine as u32 + 1).unwrap();
    barrier.wait(Some(HANG_GUARD)).unwrap();
    for p in &workers {
        join_ok(p);
    }
    let mut seen = indices.to_vec();
    seen.sort();
    assert_eq!(seen, vec![1, 2, 3, 4], "each party gets a different index");
    assert_eq!(barrier.n_waiting().unwrap(), 0);
    assert!(!barrier.broken().unwrap());
}

#[test]
fn a_barrier_breaks_on_timeout_abort_and_reset() {
    let barrier = Barrier::new(2).unwrap();
    assert_eq!(barrier.parties(), 2);
    // Nobody else comes: the timeout breaks it, for everyone, until reset.
    assert!(matches!(
        barrier.wait(Some(Duration::from_millis(10))),
        Err(Error::BrokenBarrier)
    ));
    assert!(barrier.broken().unwrap());
    assert!(matches!(barrier.wait(None), Err(Error::BrokenBarrier)));
    barrier.reset().unwrap();
    assert!(!barrier.broken().unwrap());

    // A waiter is released with BrokenBarrier by abort().
    let waiter = std::thread::spawn({
        let barrier = barrier.clone();
        move || barrier.wait(Some(HANG_GUARD))
    });
    while barrier.n_waiting().unwrap() == 0 {
        std::thread::yield_now();
    }
    barrier.abort().unwrap();
    assert!(matches!(waiter.join().unwrap(), Err(Error::BrokenBarrier)));

    // ... and by reset().
    barrier.reset().unwrap();
    let waiter = std::thread::spawn({
        let barrier = barrier.clone();
        move || barrier.wait(Some(HANG_GUARD))
    });
    while barrier.n_waiting().unwrap() == 0 {
        std::thread::yield_now();
    }
    barrier.reset().unwrap();
    assert!(matches!(waiter.join().unwrap(), Err(Error::BrokenBarrier)));
    // Usable again once the broken round has drained.
    let other = std::thread::spawn({
        let barrier = barrier.clone();
        move || barrier.wait(Some(HANG_GUARD))
    });
    let mine = barrier.wait(Some(HANG_GUARD)).unwrap();
    let theirs = other.join().unwrap().unwrap();
    assert_eq!(mine + theirs, 1);
    assert!(matches!(Barrier::new(0), Err(Error::InvalidOperation(_))));
}

// ---------------------------------------------------------------------------------------------
// Crossing boundaries.

#[multiprocessing::target]
fn uses_everything(
    lock: Lock,
    rlock: RLock,
    sem: Semaphore,
    cond: Condition,
    barrier: Barrier,
    done: Event,
) {
    drop(lock.lock().unwrap());
    drop(rlock.lock().unwrap());
    sem.release().unwrap();
    drop(cond.lock().unwrap());
    barrier.wait(Some(HANG_GUARD)).unwrap();
    done.set().unwrap();
}

#[rstest]
fn every_primitive_crosses_every_start_method(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let barrier = Barrier::new(1).unwrap();
    let sem = Semaphore::new(0).unwrap();
    let done = Event::new().unwrap();
    let p = ctx(method).process(
        uses_everything,
        (
            Lock::new().unwrap(),
            RLock::new().unwrap(),
            sem.clone(),
            Condition::new().unwrap(),
            barrier,
            done.clone(),
        ),
    );
    p.start().unwrap();
    join_ok(&p);
    assert!(done.is_set().unwrap());
    assert_eq!(sem.get_value(), 1);
}

#[test]
fn a_primitive_cannot_cross_outside_a_process_argument() {
    let err = serde_json::to_string(&Lock::new().unwrap()).unwrap_err();
    assert!(
        err.to_string().contains("only as an argument of a Process"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Dead parties and waiters.

/// Waits until `p` has died (a zombie or reaped), without reaping it: its robust tokens are
/// marked by then.
fn until_dead(p: &Process) {
    let pid = p.pid().unwrap().expect("started");
    let hang = Instant::now() + HANG_GUARD;
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return,
            Ok(stat) => {
                let state = stat.rsplit(')').next().unwrap().trim_start();
                if state.starts_with('Z') || state.starts_with('X') {
                    return;
                }
            }
        }
        assert!(Instant::now() < hang, "{p:?} did not die");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits on `barrier` for as long as it takes (it is killed there).
#[multiprocessing::target]
fn waits_at_barrier_forever(barrier: Barrier) {
    let _ = barrier.wait(None);
    panic!("nobody should have passed this barrier");
}

/// Waits on `barrier` with the fault points armed: it dies when woken by its round passing,
/// before it can take the barrier's mutex again and count itself out.
#[multiprocessing::target]
fn dies_as_its_round_passes(barrier: Barrier) {
    multiprocessing::fault::kill_at(1);
    let _ = barrier.wait(Some(HANG_GUARD));
    panic!("the fault point did not kill this party");
}

#[multiprocessing::target]
fn passes_barrier(barrier: Barrier) {
    barrier.wait(Some(HANG_GUARD)).unwrap();
}

/// A party killed while the barrier fills breaks it (the others learn it at once, not at their
/// timeouts), and `reset` makes it usable again. Before, the round passed with the dead party
/// counted, and the barrier then stayed draining: every later `wait`, timeout or not, blocked
/// for ever.
#[rstest]
fn a_party_killed_while_waiting_breaks_the_barrier_and_reset_recovers_it(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let barrier = Barrier::new(2).unwrap();
    let doomed = ctx.process(waits_at_barrier_forever, (barrier.clone(),));
    doomed.start().unwrap();
    while barrier.n_waiting().unwrap() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    doomed.kill().unwrap();
    until_dead(&doomed); // not reaped: a zombie
    assert!(matches!(
        barrier.wait(Some(HANG_GUARD)),
        Err(Error::BrokenBarrier)
    ));
    assert!(barrier.broken().unwrap());
    let started = Instant::now();
    assert!(matches!(
        barrier.wait(Some(Duration::from_secs(2))),
        Err(Error::BrokenBarrier)
    ));
    assert!(started.elapsed() < HANG_GUARD);
    barrier.reset().unwrap();
    assert_eq!(barrier.n_waiting().unwrap(), 0);
    let partner = ctx.process(passes_barrier, (barrier.clone(),));
    partner.start().unwrap();
    barrier.wait(Some(HANG_GUARD)).unwrap();
    join_ok(&partner);
    assert!(doomed.join_timeout(HANG_GUARD).unwrap());
}

/// A party killed after its round passed, before it counted itself out: the round stands, the
/// dead party is counted out, and the next round fills as usual. A later wait with a timeout
/// returns at its timeout, never blocks for ever.
#[rstest]
fn a_party_killed_as_its_round_passes_is_counted_out(
    #[values("fork", "spawn", "forkserver")] method: &str,
) {
    let ctx = ctx(method);
    let barrier = Barrier::new(2).unwrap();
    let doomed = ctx.process(dies_as_its_round_passes, (barrier.clone(),));
    doomed.start().unwrap();
    while barrier.n_waiting().unwrap() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    barrier.wait(Some(HANG_GUARD)).unwrap(); // the round passes
    assert!(doomed.join_timeout(HANG_GUARD).unwrap());
    assert_eq!(doomed.exitcode().unwrap(), Some(-9));
    assert!(!barrier.broken().unwrap());
    // Alone, this party waits its timeout out (and breaks the barrier, as a timeout does).
    let started = Instant::now();
    assert!(matches!(
        barrier.wait(Some(Duration::from_millis(300))),
        Err(Error::BrokenBarrier)
    ));
    assert!(started.elapsed() >= Duration::from_millis(300));
    barrier.reset().unwrap();
    let partner = ctx.process(passes_barrier, (barrier.clone(),));
    partner.start().unwrap();
    barrier.wait(Some(HANG_GUARD)).unwrap();
    join_ok(&partner);
}

/// Takes the condition's lock, says so, and waits to be notified; `notified` counts it.
#[multiprocessing::target]
fn waits_on_condition(cond: Condition, waiting: Event, notified: RawValue<u32>) {
    let _guard = cond.lock().unwrap();
    waiting.set().unwrap();
    if cond.wait(Some(HANG_GUARD)).unwrap() {
        notified.set(notified.get() + 1);
    }
}

/// Starts a waiter and returns once it waits (its `wait` released the lock the parent then
/// takes).
fn start_waiter(
    ctx: &multiprocessing::Context,
    cond: &Condition,
    notified: &RawValue<u32>,
) -> Process {
    let waiting = Event::new().unwrap();
    let p = ctx.process(
        waits_on_condition,
        (cond.clone(), waiting.clone(), notified.clone()),
    );
    p.start().unwrap();
    assert!(waiting.wait(Some(HANG_GUARD)).unwrap());
    drop(cond.lock().unwrap()); // taken only once the waiter waits
    p
}

/// `notify(1)` goes to a live waiter, even when the longest-waiting one was killed and is not
/// reaped yet (a zombie's pid still exists, so a pid check was fooled).
#[rstest]
fn notify_skips_a_waiter_that_was_killed(#[values("fork", "spawn", "forkserver")] method: &str) {
    let ctx = ctx(method);
    let cond = Condition::new().unwrap();
    let notified = RawValue::new(0u32).unwrap();
    let doomed = start_waiter(&ctx, &cond, &notified);
    let live = start_waiter(&ctx, &cond, &notified);
    doomed.kill().unwrap();
    until_dead(&doomed);
    {
        let _guard = cond.lock().unwrap();
        cond.notify(1).unwrap();
    }
    join_ok(&live);
    assert_eq!(notified.get(), 1);
    assert!(doomed.join_timeout(HANG_GUARD).unwrap());
}

/// A waiter killed while it waits leaves its slot taken until someone looks: when no slot is
/// free, `wait` frees the dead waiters' slots, so more waiters than a condition has slots (255)
/// can die over its life. (Before, the 256th waiter got "too many threads are waiting" for ever
/// after; the condition kill soak of `cargo xtask stress` found it.)
#[test]
fn waiters_killed_while_waiting_do_not_use_up_the_slots() {
    let ctx = ctx("fork");
    let cond = Condition::new().unwrap();
    let notified = RawValue::new(0u32).unwrap();
    for _ in 0..300 {
        let doomed = start_waiter(&ctx, &cond, &notified);
        doomed.kill().unwrap();
        assert!(doomed.join_timeout(HANG_GUARD).unwrap());
    }
    let live = start_waiter(&ctx, &cond, &notified);
    {
        let _guard = cond.lock().unwrap();
        cond.notify(1).unwrap();
    }
    join_ok(&live);
    assert_eq!(notified.get(), 1);
}
