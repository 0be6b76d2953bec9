//! Synchronization between processes (CPython's `multiprocessing.synchronize`): [`Lock`],
//! [`RLock`], [`Semaphore`], [`BoundedSemaphore`], [`Condition`], [`Barrier`] and [`Event`].
//!
//! Every primitive lives in shared memory (an anonymous, sealed `memfd` on Linux) and crosses into
//! a child as a `Process` argument under every start method: a `fork` child inherits the mapping,
//! a `spawn` or `forkserver` child is handed its descriptor. Clones share the primitive. The
//! method names are CPython's (`acquire(block, timeout) -> bool`, `release`, `wait`, `notify`,
//! ...), and RAII guards ([`Lock::lock`], [`Semaphore::permit`], ...) release on drop, as
//! Python's `with` statement does.
//!
//! # Implementation
//!
//! * [`Lock`] and [`RLock`] are `pthread` mutexes in shared memory, `PTHREAD_PROCESS_SHARED`,
//!   `PTHREAD_MUTEX_ERRORCHECK` and, on Linux, `PTHREAD_MUTEX_ROBUST`. Uncontended, acquire and
//!   release are two atomic instructions each (the mutex's, and the holder's thread id beside
//!   it, which says whether it is `locked()`); a waiter sleeps in the kernel (futex). The
//!   recursion depth of an `RLock` is a counter next to the mutex, which only the owner touches.
//!   Only the thread that
//!   acquired a lock may release it (unlike CPython's `Lock`, which any process may release: a
//!   deliberate deviation, `conformance/SPEC.md` section 12).
//! * [`Semaphore`] and [`BoundedSemaphore`] are a counter and a futex, with no lock.
//! * [`Condition`] keeps one slot per waiting thread, so `notify(n)` wakes exactly the `n`
//!   longest-waiting live threads, and each wakes on its own futex word.
//! * [`Barrier`] is an internal robust mutex and a futex word, with `threading.Barrier`'s state
//!   machine (filling, draining, resetting, broken).
//!
//! # When a holder dies
//!
//! On Linux, when a process (or thread) dies holding a [`Lock`] or [`RLock`], the kernel marks
//! the mutex (robust futex list) and wakes one waiter; nobody deadlocks. The next acquirer gets
//! [`Error::OwnerDied`], promptly, and the lock is made consistent again:
//!
//! * [`Lock::acquire`]/[`RLock::acquire`] return `Err(OwnerDied)` **with the lock held** by the
//!   caller: check or repair the protected state, then `release()`.
//! * The guard-returning methods ([`Lock::lock`], ...), and [`Value`](crate::shared::Value)'s
//!   `get`/`set`/`lock`, **release** the recovered lock before returning `Err(OwnerDied)`, so a
//!   `?` cannot leave it held without a guard. The next call succeeds.
//! * A [`Condition::wait`] that recovers the lock while re-acquiring it returns
//!   `Err(OwnerDied)` with the lock held, as after any `wait`.
//! * A [`Barrier`] whose internal mutex was held by a dying process becomes broken.
//!
//! A [`Semaphore`] has no owner: a count held by a dead process is lost, as in CPython.
//! [`Condition`] and [`Barrier`] keep a slot per waiting thread, and the waiter holds a robust
//! mutex in it, its *token*, for as long as it waits. The kernel marks the token of a thread
//! that dies as it exits (before its process is even a zombie), so the others know at once:
//!
//! * `notify` skips (and frees) the slot of a waiter that died, and wakes a live one instead;
//! * a party that died inside [`Barrier::wait`] is counted out: while the barrier fills, that
//!   breaks it (as a timeout does); after its round passed, the round stands. Waiting parties
//!   look for dead ones at least every 100 ms, and every call on entry, so a death never
//!   wedges the barrier, and every `wait` honours its timeout.
//!
//! # macOS
//!
//! macOS has no robust mutexes and no `pthread_mutex_timedlock`: there a lock whose holder died
//! stays held (a timed `acquire` returns `false`), and a timed acquire polls with a short sleep.
//! Futex waits use `__ulock_wait`. This fallback is kept simple and is not built by this
//! project's CI, which runs on Linux only.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::shared::{Region, RegionRef};
use crate::{sys, wire};

// ---------------------------------------------------------------------------------------------
// The process-shared mutex under Lock, RLock, Condition and Barrier.

/// Layout of a mutex area: the `pthread_mutex_t`, then the recursion counter, then the holder's
/// thread id (0 when free; what `locked()` reads, and on macOS what tells "held by me"). A holder
/// killed at any instruction leaves its id there until the next holder, which the robust mutex
/// tells it has arrived after a dead one, overwrites it.
const MUTEX_SIZE: usize = std::mem::size_of::<libc::pthread_mutex_t>();
const EXTRA_OFFSET: usize = MUTEX_SIZE.next_multiple_of(8);
const OWNER_OFFSET: usize = EXTRA_OFFSET + 8;
const MUTEX_AREA: usize = (EXTRA_OFFSET + 16).next_multiple_of(16);

/// How long to wait for a lock.
#[derive(Debug, Clone, Copy)]
enum Wait {
    Try,
    Until(Instant),
    Forever,
}

impl Wait {
    fn new(block: bool, timeout: Option<Duration>) -> Wait {
        match (block, timeout) {
            (false, _) => Wait::Try,
            (true, None) => Wait::Forever,
            (true, Some(timeout)) => {
                sys::deadline_after(timeout).map_or(Wait::Forever, Wait::Until)
            }
        }
    }
}

/// What one attempt to lock found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Raw {
    /// Now held by the caller.
    Acquired,
    /// Already held by the calling thread.
    Mine,
    /// Held by someone else (after the wait asked for).
    Busy,
    /// Now held by the caller; the previous holder died holding it.
    OwnerDied,
}

/// A process-shared, error-checking (and on Linux robust) mutex at `offset` in `region`.
#[derive(Debug)]
struct RawMutex {
    region: Arc<Region>,
    offset: usize,
}

impl RawMutex {
    /// Initializes a mutex in fresh (zeroed, unused) shared memory.
    fn create(region: Arc<Region>, offset: usize) -> Result<RawMutex> {
        let raw = RawMutex::attach(region, offset)?;
        // SAFETY: `attach` checked that the area is inside the mapping and aligned; the memory is
        // zeroed and no other process knows this region yet.
        unsafe { init_mutex(raw.mutex()) }
            .map_err(|e| Error::os("initializing a process-shared mutex", e))?;
        Ok(raw)
    }

    /// A mutex already initialized at `offset` in `region`.
    fn attach(region: Arc<Region>, offset: usize) -> Result<RawMutex> {
        if !offset.is_multiple_of(16)
            || offset
                .checked_add(MUTEX_AREA)
                .is_none_or(|end| end > region.len())
        {
            return Err(Error::InvalidOperation(
                "a lock arrived with a corrupt location".to_owned(),
            ));
        }
        Ok(RawMutex { region, offset })
    }

    fn mutex(&self) -> *mut libc::pthread_mutex_t {
        // SAFETY: in bounds (checked in `attach`).
        unsafe { self.region.ptr().add(self.offset).cast() }
    }

    /// Recursion levels beyond the first (an `RLock`'s); only the holder reads or writes it.
    fn extra(&self) -> &AtomicU32 {
        // SAFETY: inside the area (checked in `attach`), 8-aligned.
        unsafe { self.region.atomic_u32(self.offset + EXTRA_OFFSET) }
    }

    /// The holder's thread id, 0 when free: set once the mutex is acquired, cleared before it is
    /// released, so a process that sees the lock held sees a non-zero id. (On macOS it is also
    /// what tells "held by me", which the mutex cannot.)
    fn owner(&self) -> &std::sync::atomic::AtomicU64 {
        // SAFETY: inside the area (checked in `attach`), 8-aligned; accessed atomically only.
        unsafe {
            std::sync::atomic::AtomicU64::from_ptr(
                self.region.ptr().add(self.offset + OWNER_OFFSET).cast(),
            )
        }
    }

    fn lock(&self, wait: Wait) -> Result<Raw> {
        let m = self.mutex();
        #[cfg(target_os = "macos")]
        if self.owner().load(Ordering::Relaxed) == thread_id() {
            return Ok(Raw::Mine);
        }
        // SAFETY: `m` is an initialized process-shared mutex that lives as long as `self`.
        let rc = unsafe {
            match wait {
                Wait::Try => libc::pthread_mutex_trylock(m),
                Wait::Forever => lock_rechecking(m, None),
                Wait::Until(deadline) => lock_rechecking(m, Some(deadline)),
            }
        };
        let raw =
            match rc {
                0 => Raw::Acquired,
                libc::EDEADLK => return Ok(Raw::Mine),
                libc::EBUSY | libc::ETIMEDOUT => return Ok(Raw::Busy),
                libc::EOWNERDEAD => {
                    // SAFETY: we hold `m` (EOWNERDEAD returns with the mutex locked).
                    unsafe { make_consistent(m) };
                    self.extra().store(0, Ordering::Relaxed);
                    Raw::OwnerDied
                }
                libc::ENOTRECOVERABLE => return Err(Error::os(
                    "acquiring a lock",
                    io::Error::other(
                        "the lock is unusable: a previous owner died holding it and it was not \
                         made consistent",
                    ),
                )),
                errno => {
                    return Err(Error::os(
                        "acquiring a lock",
                        io::Error::from_raw_os_error(errno),
                    ))
                }
            };
        self.region.pin();
        self.owner().store(thread_id(), Ordering::Release);
        Ok(raw)
    }

    /// Unlocks; `Ok(false)` if the calling thread does not hold the mutex.
    fn unlock(&self) -> Result<bool> {
        let me = thread_id();
        // Cleared before the mutex is released, so it never erases the next holder's id.
        let cleared = self
            .owner()
            .compare_exchange(me, 0, Ordering::Release, Ordering::Relaxed)
            .is_ok();
        #[cfg(target_os = "macos")]
        if !cleared {
            return Ok(false);
        }
        // SAFETY: an initialized process-shared mutex; error-checking, so a non-owner gets EPERM.
        match unsafe { libc::pthread_mutex_unlock(self.mutex()) } {
            0 => {
                self.region.unpin();
                Ok(true)
            }
            libc::EPERM => {
                // Not ours after all (a dead holder's thread id reused here): put it back.
                if cleared {
                    self.owner().store(me, Ordering::Relaxed);
                }
                Ok(false)
            }
            errno => Err(Error::os(
                "releasing a lock",
                io::Error::from_raw_os_error(errno),
            )),
        }
    }

    /// Whether the calling thread holds the mutex.
    fn is_mine(&self) -> Result<bool> {
        #[cfg(target_os = "macos")]
        {
            Ok(self.owner().load(Ordering::Relaxed) == thread_id())
        }
        #[cfg(not(target_os = "macos"))]
        {
            // A robust error-checking mutex answers EDEADLK to its holder's trylock.
            match self.lock(Wait::Try)? {
                Raw::Mine => Ok(true),
                Raw::Busy => Ok(false),
                Raw::Acquired => {
                    self.unlock()?;
                    Ok(false)
                }
                Raw::OwnerDied => {
                    self.unlock()?;
                    Err(Error::OwnerDied)
                }
            }
        }
    }

    /// Whether any thread of any process holds the mutex (CPython 3.14's `locked()`). A
    /// snapshot: a lock being acquired or released at that moment may be reported either way.
    fn locked(&self) -> bool {
        self.owner().load(Ordering::Acquire) != 0
    }
}

/// # Safety
/// `m` points to zeroed, writable shared memory for a `pthread_mutex_t` that nobody uses yet.
unsafe fn init_mutex(m: *mut libc::pthread_mutex_t) -> io::Result<()> {
    let check = |rc: libc::c_int| match rc {
        0 => Ok(()),
        rc => Err(io::Error::from_raw_os_error(rc)),
    };
    let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
    // SAFETY: initializing attribute storage we own.
    check(unsafe { libc::pthread_mutexattr_init(attr.as_mut_ptr()) })?;
    let attr = attr.as_mut_ptr();
    // SAFETY: `attr` is initialized (above) and destroyed below; `m` is as the caller promised.
    let result = unsafe {
        check(libc::pthread_mutexattr_setpshared(
            attr,
            libc::PTHREAD_PROCESS_SHARED,
        ))
        .and_then(|()| {
            check(libc::pthread_mutexattr_settype(
                attr,
                libc::PTHREAD_MUTEX_ERRORCHECK,
            ))
        })
        .and_then(|()| set_robust(attr))
        .and_then(|()| check(libc::pthread_mutex_init(m, attr)))
    };
    // SAFETY: `attr` was initialized above.
    unsafe { libc::pthread_mutexattr_destroy(attr) };
    result
}

/// # Safety
/// `attr` is an initialized mutex attribute object.
#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe fn set_robust(attr: *mut libc::pthread_mutexattr_t) -> io::Result<()> {
    // SAFETY: as the caller promised.
    match unsafe { libc::pthread_mutexattr_setrobust(attr, libc::PTHREAD_MUTEX_ROBUST) } {
        0 => Ok(()),
        rc => Err(io::Error::from_raw_os_error(rc)),
    }
}

/// macOS has no robust mutexes.
///
/// # Safety
/// None needed; `unsafe` to match the Linux signature.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
unsafe fn set_robust(_attr: *mut libc::pthread_mutexattr_t) -> io::Result<()> {
    Ok(())
}

/// # Safety
/// The calling thread holds `m` after `EOWNERDEAD`.
#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe fn make_consistent(m: *mut libc::pthread_mutex_t) {
    // SAFETY: as the caller promised.
    unsafe { libc::pthread_mutex_consistent(m) };
}

/// # Safety
/// None needed (never reached on macOS); `unsafe` to match the Linux signature.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
unsafe fn make_consistent(_m: *mut libc::pthread_mutex_t) {}

/// How long a blocked acquire sleeps at most before it looks at the mutex again.
pub(crate) const RECHECK: Duration = Duration::from_millis(100);

/// Locks `m`, until `deadline` (`None`: for as long as it takes), asleep at most [`RECHECK`] at
/// a time, then trying again.
///
/// A robust mutex can lose its wake-up when processes are killed around it: an unlock wakes
/// one waiter, that waiter is killed before it takes the lock, a process that never waited
/// takes it (so the mutex word no longer says anyone waits) and is killed holding it. The
/// kernel marks the owner dead but, seeing no waiter, wakes nobody: a plain
/// `pthread_mutex_lock` would sleep for ever, a timed one until its deadline (the kill soaks of
/// `cargo xtask stress` found it). Trying again reads the word afresh and takes an abandoned
/// mutex with `EOWNERDEAD`. Every blocking lock of the crate goes through here (`Lock`,
/// `RLock`, `Condition`, `Barrier`, `Value`, the queue's header lock).
///
/// # Safety
/// `m` is an initialized process-shared mutex.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) unsafe fn lock_rechecking(
    m: *mut libc::pthread_mutex_t,
    deadline: Option<Instant>,
) -> libc::c_int {
    loop {
        let step = Instant::now() + RECHECK;
        let until = deadline.map_or(step, |deadline| deadline.min(step));
        // SAFETY: as the caller promised.
        match unsafe { timed_lock(m, until) } {
            libc::ETIMEDOUT if deadline.is_none_or(|deadline| until < deadline) => {}
            rc => return rc,
        }
    }
}

/// Elsewhere there are no robust mutexes, so no lost wake-up of that kind: a plain lock, or
/// the timed one.
///
/// # Safety
/// `m` is an initialized process-shared mutex.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) unsafe fn lock_rechecking(
    m: *mut libc::pthread_mutex_t,
    deadline: Option<Instant>,
) -> libc::c_int {
    // SAFETY: as the caller promised.
    unsafe {
        match deadline {
            None => libc::pthread_mutex_lock(m),
            Some(deadline) => timed_lock(m, deadline),
        }
    }
}

/// `pthread_mutex_timedlock` until `deadline` (which it wants as wall-clock time).
///
/// # Safety
/// `m` is an initialized mutex.
#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe fn timed_lock(m: *mut libc::pthread_mutex_t, deadline: Instant) -> libc::c_int {
    let left = deadline.saturating_duration_since(Instant::now());
    // SAFETY: an all-zero timespec is valid; clock_gettime fills it.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    let nanos = now.tv_nsec as u64 + u64::from(left.subsec_nanos());
    let secs = (now.tv_sec as i64)
        .saturating_add(i64::try_from(left.as_secs()).unwrap_or(i64::MAX))
        .saturating_add((nanos / 1_000_000_000) as i64);
    let at = libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: as the caller promised; `at` is a valid timespec.
    unsafe { libc::pthread_mutex_timedlock(m, &at) }
}

/// macOS has no `pthread_mutex_timedlock`: poll with `trylock`, sleeping up to a millisecond.
///
/// # Safety
/// `m` is an initialized mutex.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
unsafe fn timed_lock(m: *mut libc::pthread_mutex_t, deadline: Instant) -> libc::c_int {
    let mut pause = Duration::from_micros(20);
    loop {
        // SAFETY: as the caller promised.
        let rc = unsafe { libc::pthread_mutex_trylock(m) };
        if rc != libc::EBUSY {
            return rc;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return libc::ETIMEDOUT;
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(1));
    }
}

/// A system-wide unique, non-zero id of the calling thread, for [`RawMutex::owner`].
#[cfg(target_os = "macos")]
fn thread_id() -> u64 {
    let mut id = 0u64;
    // SAFETY: a null thread means the calling thread; `id` is a valid out-pointer.
    unsafe { libc::pthread_threadid_np(0, &mut id) };
    id
}

/// A system-wide unique, non-zero id of the calling thread, for [`RawMutex::owner`]: its tid,
/// cached per thread (a `gettid` system call per acquire would double its cost). A `fork` child's
/// thread has a new tid, so the cache is emptied in every `fork` child.
#[cfg(not(target_os = "macos"))]
fn thread_id() -> u64 {
    use std::cell::Cell;
    thread_local!(static TID: Cell<u64> = const { Cell::new(0) });
    extern "C" fn forget_in_fork_child() {
        // Async-signal-safe: a store to this thread's (const-initialized) thread-local.
        TID.with(|tid| tid.set(0));
    }
    static AT_FORK: std::sync::Once = std::sync::Once::new();
    TID.with(|tid| {
        if tid.get() == 0 {
            AT_FORK.call_once(|| {
                // SAFETY: registers a handler that only does an async-signal-safe store.
                unsafe { libc::pthread_atfork(None, None, Some(forget_in_fork_child)) };
            });
            // SAFETY: gettid has no preconditions.
            tid.set(u64::try_from(unsafe { libc::gettid() }).unwrap_or(u64::MAX));
        }
        tid.get()
    })
}

impl Serialize for RawMutex {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&*self.region, self.offset as u64).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawMutex {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (RegionRef(region), offset) = <(RegionRef, u64)>::deserialize(deserializer)?;
        RawMutex::attach(region, usize::try_from(offset).unwrap_or(usize::MAX))
            .map_err(serde::de::Error::custom)
    }
}

fn not_owned(recursive: bool) -> Error {
    Error::InvalidOperation(if recursive {
        "attempt to release recursive lock not owned by thread: only the thread that acquired \
         an RLock may release it"
            .to_owned()
    } else {
        "cannot release un-acquired lock: the Lock is not held by this thread (only the thread \
         that acquired it may release it)"
            .to_owned()
    })
}

/// `acquire(block, timeout)` of a `Lock` (`recursive == false`) or an `RLock`.
fn acquire(
    raw: &RawMutex,
    recursive: bool,
    block: bool,
    timeout: Option<Duration>,
) -> Result<bool> {
    let wait = Wait::new(block, timeout);
    match raw.lock(wait)? {
        Raw::Acquired => Ok(true),
        Raw::Busy => Ok(false),
        Raw::OwnerDied => Err(Error::OwnerDied),
        Raw::Mine if recursive => {
            let extra = raw.extra();
            let depth = extra.load(Ordering::Relaxed);
            let deeper = depth.checked_add(1).ok_or_else(|| {
                Error::InvalidOperation("an RLock cannot be acquired more than 2^32 times".into())
            })?;
            extra.store(deeper, Ordering::Relaxed);
            Ok(true)
        }
        Raw::Mine => match wait {
            Wait::Forever => Err(Error::InvalidOperation(
                "this thread already holds the Lock: acquiring it again would wait for ever; use \
                 an RLock to acquire a lock recursively"
                    .to_owned(),
            )),
            // Held (by us) for the whole wait: not acquired, as CPython reports.
            Wait::Try | Wait::Until(_) => Ok(false),
        },
    }
}

/// `release()` of a `Lock` or an `RLock`.
fn release(raw: &RawMutex, recursive: bool) -> Result<()> {
    if recursive {
        let extra = raw.extra();
        // Only the holder writes `extra`; anyone else finds it 0 (and fails to unlock below) or
        // fails the ownership check.
        let depth = extra.load(Ordering::Relaxed);
        if depth > 0 {
            if !raw.is_mine()? {
                return Err(not_owned(true));
            }
            extra.store(depth - 1, Ordering::Relaxed);
            return Ok(());
        }
    }
    if raw.unlock()? {
        Ok(())
    } else {
        Err(not_owned(recursive))
    }
}

/// A guard for the lock-like primitives; see [`Lock::lock`].
fn guard<'a>(
    raw: &'a RawMutex,
    recursive: bool,
    block: bool,
    timeout: Option<Duration>,
) -> Result<Option<LockGuard<'a>>> {
    match acquire(raw, recursive, block, timeout) {
        Ok(true) => Ok(Some(LockGuard { raw, recursive })),
        Ok(false) => Ok(None),
        Err(Error::OwnerDied) => {
            // No guard can be returned with the error: release, so a `?` leaves nothing held.
            release(raw, recursive)?;
            Err(Error::OwnerDied)
        }
        Err(err) => Err(err),
    }
}

fn guard_blocking(raw: &RawMutex, recursive: bool) -> Result<LockGuard<'_>> {
    guard(raw, recursive, true, None)?.ok_or_else(|| {
        Error::os(
            "acquiring a lock",
            io::Error::other("a blocking acquire returned without the lock"),
        )
    })
}

/// A held [`Lock`], [`RLock`] or [`Condition`] lock; dropping it releases one level.
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct LockGuard<'a> {
    raw: &'a RawMutex,
    recursive: bool,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // Cannot fail: this thread holds the lock.
        let _ = release(self.raw, self.recursive);
    }
}

// ---------------------------------------------------------------------------------------------
// Lock and RLock.

/// A mutual-exclusion lock shared between processes (CPython's `multiprocessing.Lock`).
///
/// Only the thread that acquired it may release it. Acquiring it again from the thread that
/// holds it never deadlocks: a blocking [`acquire`](Self::acquire) or [`lock`](Self::lock) is an
/// [`Error::InvalidOperation`], a non-blocking or timed one returns `false`/`None`. See the
/// [module docs](self) for what happens when a holder dies (on Linux: [`Error::OwnerDied`]).
/// CPython's `Lock` is a semaphore instead: any process may release it, a re-acquire by its
/// holder deadlocks, and a dead holder's lock stays held for ever. The reference's ownership is
/// a deliberate deviation (`conformance/SPEC.md` section 12); to hand a permit from one process
/// to another, use a [`Semaphore`] or [`BoundedSemaphore`].
///
/// ```
/// use multiprocessing::sync::Lock;
/// let lock = Lock::new()?;
/// {
///     let _guard = lock.lock()?; // Python: `with lock:`
///     assert!(!lock.acquire(false, None)?); // held
/// }
/// assert!(lock.acquire(true, Some(std::time::Duration::from_secs(1)))?);
/// lock.release()?;
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Lock {
    raw: Arc<RawMutex>,
}

impl Lock {
    /// A new, unlocked lock.
    pub fn new() -> Result<Lock> {
        let region = Region::new(MUTEX_AREA)?;
        Ok(Lock {
            raw: Arc::new(RawMutex::create(region, 0)?),
        })
    }

    /// CPython's `acquire(block=True, timeout=None)`: `Ok(true)` once acquired, `Ok(false)` if
    /// `block` is false and the lock is held, or `timeout` passed first.
    ///
    /// `Err(Error::OwnerDied)`: the previous holder died holding the lock, and **the caller now
    /// holds it**; check the protected state, then [`release`](Self::release).
    pub fn acquire(&self, block: bool, timeout: Option<Duration>) -> Result<bool> {
        acquire(&self.raw, false, block, timeout)
    }

    /// Releases the lock; an [`Error::InvalidOperation`] if this thread does not hold it.
    pub fn release(&self) -> Result<()> {
        release(&self.raw, false)
    }

    /// Acquires the lock, blocking, and returns a guard that releases it when dropped.
    ///
    /// `Err(Error::OwnerDied)`: the previous holder died holding the lock; it was made
    /// consistent and **released** again, so the next `lock()` succeeds.
    pub fn lock(&self) -> Result<LockGuard<'_>> {
        guard_blocking(&self.raw, false)
    }

    /// Acquires the lock if it is free at once.
    pub fn try_lock(&self) -> Result<Option<LockGuard<'_>>> {
        guard(&self.raw, false, false, None)
    }

    /// Whether the lock is held, by any thread of any process (CPython 3.14's `locked()`).
    ///
    /// A snapshot: a lock being acquired or released at that moment may be reported either way.
    /// A lock whose holder died holding it stays locked until the next acquire (which reports
    /// [`Error::OwnerDied`]).
    ///
    /// ```
    /// use multiprocessing::sync::Lock;
    /// let lock = Lock::new()?;
    /// assert!(!lock.locked());
    /// let guard = lock.lock()?;
    /// assert!(lock.locked());
    /// drop(guard);
    /// assert!(!lock.locked());
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn locked(&self) -> bool {
        self.raw.locked()
    }

    /// Acquires the lock, waiting at most `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> Result<Option<LockGuard<'_>>> {
        guard(&self.raw, false, true, Some(timeout))
    }
}

impl Serialize for Lock {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Lock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Lock {
            raw: Arc::new(RawMutex::deserialize(deserializer)?),
        })
    }
}

/// A recursive lock shared between processes (CPython's `multiprocessing.RLock`): the thread
/// that holds it may acquire it again, and must release it as many times.
///
/// ```
/// use multiprocessing::sync::RLock;
/// let lock = RLock::new()?;
/// let outer = lock.lock()?;
/// let inner = lock.lock()?; // the same thread: fine
/// drop(inner);
/// drop(outer);
/// assert!(lock.release().is_err()); // not held any more
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RLock {
    raw: Arc<RawMutex>,
}

impl RLock {
    /// The bytes an `RLock` takes at the start of a region ([`RLock::in_region`]).
    pub(crate) const AREA: usize = MUTEX_AREA;

    /// A new, unlocked recursive lock.
    pub fn new() -> Result<RLock> {
        RLock::in_region(Region::new(MUTEX_AREA)?, 0)
    }

    /// A new lock at `offset` (16-aligned, [`RLock::AREA`] bytes) in a fresh region.
    pub(crate) fn in_region(region: Arc<Region>, offset: usize) -> Result<RLock> {
        Ok(RLock {
            raw: Arc::new(RawMutex::create(region, offset)?),
        })
    }

    pub(crate) fn region(&self) -> &Arc<Region> {
        &self.raw.region
    }

    /// CPython's `acquire(block=True, timeout=None)`; the holder acquires again at once.
    ///
    /// `Err(Error::OwnerDied)`: the previous holder died holding the lock, and **the caller now
    /// holds it** (once); check the protected state, then [`release`](Self::release).
    pub fn acquire(&self, block: bool, timeout: Option<Duration>) -> Result<bool> {
        acquire(&self.raw, true, block, timeout)
    }

    /// Releases one level; an [`Error::InvalidOperation`] if this thread does not hold it.
    pub fn release(&self) -> Result<()> {
        release(&self.raw, true)
    }

    /// Acquires the lock, blocking, and returns a guard that releases one level when dropped.
    ///
    /// `Err(Error::OwnerDied)`: the previous holder died holding the lock; it was made
    /// consistent and **released** again, so the next `lock()` succeeds.
    pub fn lock(&self) -> Result<LockGuard<'_>> {
        guard_blocking(&self.raw, true)
    }

    /// Acquires the lock if it is free (or already held by this thread) at once.
    pub fn try_lock(&self) -> Result<Option<LockGuard<'_>>> {
        guard(&self.raw, true, false, None)
    }

    /// Whether the lock is held, by any thread of any process, the calling one included
    /// (CPython 3.14's `locked()`); it stays held until as many releases as acquires. A
    /// snapshot, as [`Lock::locked`].
    ///
    /// ```
    /// use multiprocessing::sync::RLock;
    /// let lock = RLock::new()?;
    /// let (outer, inner) = (lock.lock()?, lock.lock()?);
    /// drop(inner);
    /// assert!(lock.locked()); // one level still held
    /// drop(outer);
    /// assert!(!lock.locked());
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn locked(&self) -> bool {
        self.raw.locked()
    }

    /// Acquires the lock, waiting at most `timeout`.
    pub fn lock_timeout(&self, timeout: Duration) -> Result<Option<LockGuard<'_>>> {
        guard(&self.raw, true, true, Some(timeout))
    }
}

impl Serialize for RLock {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RLock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(RLock {
            raw: Arc::new(RawMutex::deserialize(deserializer)?),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Semaphores.

/// The counter of a semaphore: `value`, `waiters` (threads blocked or about to block) and the
/// bound, at the start of a region.
#[derive(Debug)]
struct Counter {
    region: Arc<Region>,
}

const COUNTER_VALUE: usize = 0;
const COUNTER_WAITERS: usize = 4;
const COUNTER_MAX: usize = 8;
const COUNTER_AREA: usize = 12;

/// CPython's `SEM_VALUE_MAX` on Linux.
const SEM_VALUE_MAX: u32 = i32::MAX as u32;

impl Counter {
    fn new(value: u32, max: u32) -> Result<Counter> {
        if value > max {
            return Err(Error::InvalidOperation(format!(
                "a semaphore's value must be at most {max}, not {value}"
            )));
        }
        let counter = Counter {
            region: Region::new(COUNTER_AREA)?,
        };
        counter.value().store(value, Ordering::Relaxed);
        counter.max().store(max, Ordering::Relaxed);
        Ok(counter)
    }

    fn attach(region: Arc<Region>) -> Result<Counter> {
        if region.len() < COUNTER_AREA {
            return Err(Error::InvalidOperation(
                "a semaphore arrived with corrupt memory".to_owned(),
            ));
        }
        Ok(Counter { region })
    }

    fn value(&self) -> &AtomicU32 {
        // SAFETY: inside the region (checked at construction), aligned.
        unsafe { self.region.atomic_u32(COUNTER_VALUE) }
    }

    fn waiters(&self) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { self.region.atomic_u32(COUNTER_WAITERS) }
    }

    fn max(&self) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { self.region.atomic_u32(COUNTER_MAX) }
    }

    fn try_decrement(&self) -> bool {
        let value = self.value();
        let mut current = value.load(Ordering::SeqCst);
        while current > 0 {
            match value.compare_exchange_weak(
                current,
                current - 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
        false
    }

    fn acquire(&self, block: bool, timeout: Option<Duration>) -> bool {
        if self.try_decrement() {
            return true;
        }
        if !block {
            return false;
        }
        let deadline = timeout.and_then(sys::deadline_after);
        let forever = timeout.is_none() || deadline.is_none();
        // Registered before the last look at the value: a `release` that increments after that
        // look sees the waiter and wakes it (both sides are SeqCst).
        self.waiters().fetch_add(1, Ordering::SeqCst);
        let acquired = loop {
            if self.try_decrement() {
                break true;
            }
            let left = if forever {
                None
            } else {
                sys::remaining(deadline)
            };
            if left.is_some_and(|left| left.is_zero()) {
                break false;
            }
            sys::futex_wait(self.value(), 0, left);
        };
        self.waiters().fetch_sub(1, Ordering::SeqCst);
        acquired
    }

    fn release(&self) -> Result<()> {
        let value = self.value();
        let max = self.max().load(Ordering::Relaxed);
        let mut current = value.load(Ordering::SeqCst);
        loop {
            if current >= max {
                return Err(Error::InvalidOperation(
                    "semaphore or lock released too many times".to_owned(),
                ));
            }
            match value.compare_exchange_weak(
                current,
                current + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break,
                Err(seen) => current = seen,
            }
        }
        if self.waiters().load(Ordering::SeqCst) > 0 {
            sys::futex_wake(value, 1);
        }
        Ok(())
    }
}

/// A counting semaphore shared between processes (CPython's `multiprocessing.Semaphore`).
///
/// ```
/// use multiprocessing::sync::Semaphore;
/// let slots = Semaphore::new(2)?;
/// let a = slots.permit()?; // Python: `with slots:`
/// assert!(slots.acquire(false, None)?);
/// assert!(!slots.acquire(false, None)?); // none left
/// slots.release()?;
/// drop(a);
/// assert_eq!(slots.get_value(), 2);
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Semaphore {
    counter: Arc<Counter>,
}

impl Semaphore {
    /// A semaphore with an initial value (CPython's default is 1).
    pub fn new(value: u32) -> Result<Semaphore> {
        Ok(Semaphore {
            counter: Arc::new(Counter::new(value, SEM_VALUE_MAX)?),
        })
    }

    /// CPython's `acquire(block=True, timeout=None)`: decrements the value, waiting while it is
    /// zero; `false` if `block` is false or `timeout` passes first.
    pub fn acquire(&self, block: bool, timeout: Option<Duration>) -> Result<bool> {
        Ok(self.counter.acquire(block, timeout))
    }

    /// Increments the value, waking one waiter. Any thread of any process may release.
    pub fn release(&self) -> Result<()> {
        self.counter.release()
    }

    /// The current value (CPython's `get_value()`).
    pub fn get_value(&self) -> u32 {
        self.counter.value().load(Ordering::SeqCst)
    }

    /// Acquires, blocking, and returns a guard that releases when dropped.
    pub fn permit(&self) -> Result<SemaphoreGuard<'_>> {
        self.counter.acquire(true, None);
        Ok(SemaphoreGuard {
            counter: &self.counter,
        })
    }
}

/// A semaphore whose value may not exceed its initial value (CPython's
/// `multiprocessing.BoundedSemaphore`): releasing more than was acquired is an error.
///
/// ```
/// use multiprocessing::sync::BoundedSemaphore;
/// let sem = BoundedSemaphore::new(1)?;
/// assert!(sem.release().is_err()); // "semaphore or lock released too many times"
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BoundedSemaphore {
    counter: Arc<Counter>,
}

impl BoundedSemaphore {
    /// A semaphore with an initial (and maximum) value.
    pub fn new(value: u32) -> Result<BoundedSemaphore> {
        Ok(BoundedSemaphore {
            counter: Arc::new(Counter::new(value, value)?),
        })
    }

    /// CPython's `acquire(block=True, timeout=None)`.
    pub fn acquire(&self, block: bool, timeout: Option<Duration>) -> Result<bool> {
        Ok(self.counter.acquire(block, timeout))
    }

    /// Increments the value; [`Error::InvalidOperation`] if it would exceed the initial value
    /// (CPython: `ValueError: semaphore or lock released too many times`).
    pub fn release(&self) -> Result<()> {
        self.counter.release()
    }

    /// The current value.
    pub fn get_value(&self) -> u32 {
        self.counter.value().load(Ordering::SeqCst)
    }

    /// Acquires, blocking, and returns a guard that releases when dropped.
    pub fn permit(&self) -> Result<SemaphoreGuard<'_>> {
        self.counter.acquire(true, None);
        Ok(SemaphoreGuard {
            counter: &self.counter,
        })
    }
}

/// An acquired [`Semaphore`] or [`BoundedSemaphore`]; dropping it releases.
#[must_use = "the semaphore is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct SemaphoreGuard<'a> {
    counter: &'a Counter,
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        // Cannot exceed the bound: this guard holds one count.
        let _ = self.counter.release();
    }
}

macro_rules! counter_serde {
    ($t:ident) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.counter.region.serialize(serializer)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let RegionRef(region) = RegionRef::deserialize(deserializer)?;
                Ok($t {
                    counter: Arc::new(Counter::attach(region).map_err(serde::de::Error::custom)?),
                })
            }
        }
    };
}
counter_serde!(Semaphore);
counter_serde!(BoundedSemaphore);

// ---------------------------------------------------------------------------------------------
// Waiter slots, for Condition and Barrier: knowing that a waiter died.

/// A waiter slot: a robust mutex (the waiter's *token*, held by the waiting thread for as long as
/// it occupies the slot), then its state word, a ticket and a pid.
const SLOT_SIZE: usize = MUTEX_AREA + 16;
const SLOT_STATE: usize = MUTEX_AREA;
const SLOT_TICKET: usize = MUTEX_AREA + 4;
const SLOT_PID: usize = MUTEX_AREA + 8;
/// Slot states. Both users: free or not; a `Condition` also tells waiting from signalled.
const SLOT_FREE: u32 = 0;
const SLOT_WAITING: u32 = 1;
const SLOT_SIGNALLED: u32 = 2;

/// `count` waiter slots at `base` in a region. Whether the waiter in a slot is alive is asked of
/// its token: the kernel marks a robust mutex whose holder died (`EOWNERDEAD`) as the thread
/// exits, before the process is a zombie, let alone reaped. So a killed waiter is known dead at
/// once, which a pid cannot tell (a zombie's pid still exists). Every slot change happens under
/// the user's own lock (the condition's lock, the barrier's mutex).
struct Slots<'a> {
    region: &'a Arc<Region>,
    base: usize,
    count: usize,
}

impl<'a> Slots<'a> {
    fn new(region: &'a Arc<Region>, base: usize) -> Slots<'a> {
        Slots {
            region,
            base,
            count: region.len().saturating_sub(base) / SLOT_SIZE,
        }
    }

    /// Initializes every token of fresh (zeroed) slots.
    fn init(&self) -> Result<()> {
        for i in 0..self.count {
            RawMutex::create(self.region.clone(), self.offset(i))?;
        }
        Ok(())
    }

    fn offset(&self, i: usize) -> usize {
        self.base + i * SLOT_SIZE
    }

    fn token(&self, i: usize) -> RawMutex {
        RawMutex {
            region: self.region.clone(),
            offset: self.offset(i),
        }
    }

    fn word(&self, i: usize, field: usize) -> &'a AtomicU32 {
        // SAFETY: `i < count` (callers iterate `0..count`), so the slot lies inside the region;
        // `base` and `SLOT_SIZE` are multiples of 16, the fields of 4.
        unsafe { self.region.atomic_u32(self.offset(i) + field) }
    }

    fn state(&self, i: usize) -> &'a AtomicU32 {
        self.word(i, SLOT_STATE)
    }

    /// Takes a free slot for the calling thread, holding its token; `None` if none is free.
    fn claim(&self) -> Result<Option<usize>> {
        for i in 0..self.count {
            if self.state(i).load(Ordering::Relaxed) != SLOT_FREE {
                continue;
            }
            match self.token(i).lock(Wait::Try)? {
                // A token left held by a waiter that died after freeing its slot is recovered.
                Raw::Acquired | Raw::OwnerDied => {
                    self.word(i, SLOT_PID)
                        .store(std::process::id(), Ordering::Relaxed);
                    return Ok(Some(i));
                }
                Raw::Busy | Raw::Mine => {}
            }
        }
        Ok(None)
    }

    /// Gives up slot `i` (the caller's): free, then its token released.
    fn leave(&self, i: usize) {
        self.state(i).store(SLOT_FREE, Ordering::Release);
        let _ = self.token(i).unlock();
    }

    /// Whether the waiter in occupied slot `i` is alive. A dead one's token is recovered and
    /// released, and the caller frees the slot.
    fn alive(&self, i: usize) -> Result<bool> {
        let alive = match self.token(i).lock(Wait::Try)? {
            Raw::Busy | Raw::Mine => true,
            Raw::Acquired | Raw::OwnerDied => {
                self.token(i).unlock()?;
                false
            }
        };
        // Without robust mutexes (macOS) a dead holder's token stays busy: ask for its pid too.
        Ok(alive
            && (cfg!(any(target_os = "linux", target_os = "android"))
                || process_exists(self.word(i, SLOT_PID).load(Ordering::Relaxed))))
    }
}

// ---------------------------------------------------------------------------------------------
// Condition.

mod sealed {
    /// The mutex and kind of a lock a `Condition` can use.
    pub struct LockParts(pub(super) std::sync::Arc<super::RawMutex>, pub(super) bool);

    pub trait Sealed {
        fn parts(&self) -> LockParts;
    }
}

/// A lock a [`Condition`] can be built on: [`Lock`] or [`RLock`]. Sealed.
pub trait ConditionLock: sealed::Sealed {}

impl sealed::Sealed for Lock {
    fn parts(&self) -> sealed::LockParts {
        sealed::LockParts(self.raw.clone(), false)
    }
}

impl sealed::Sealed for RLock {
    fn parts(&self) -> sealed::LockParts {
        sealed::LockParts(self.raw.clone(), true)
    }
}

impl ConditionLock for Lock {}
impl ConditionLock for RLock {}

/// Condition layout: a header (next ticket, waiting count), then one [`Slots`] slot per waiting
/// thread, whose state word is the futex it sleeps on.
const COND_NEXT: usize = 0;
const COND_WAITING: usize = 4;
const COND_SLOTS: usize = 64;
/// The condition's region: five pages, 255 slots.
const COND_AREA: usize = 5 * 4096;

/// A condition variable shared between processes (CPython's `multiprocessing.Condition`).
///
/// `wait` and `notify` must be called with the lock held (by this thread), which they check.
/// `notify(n)` wakes the `n` threads that have waited longest, exactly; a woken `wait` returns
/// `true`, a timed-out one `false`. At most 255 threads may wait at once on one condition. A
/// waiter killed while waiting never absorbs a `notify`: the kernel marks its slot's robust
/// token as it dies, and `notify` skips it.
///
/// ```
/// use multiprocessing::sync::Condition;
/// let cond = Condition::new()?; // with a new RLock, as CPython's default
/// let guard = cond.lock()?;
/// assert!(!cond.wait(Some(std::time::Duration::from_millis(1)))?); // nobody notifies
/// cond.notify(1)?; // no waiter: nothing happens
/// drop(guard);
/// assert!(cond.wait(None).is_err()); // not held
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Condition {
    lock: Arc<RawMutex>,
    recursive: bool,
    region: Arc<Region>,
}

impl Condition {
    /// A condition with a new [`RLock`].
    pub fn new() -> Result<Condition> {
        Condition::with_lock(RLock::new()?)
    }

    /// A condition on an existing [`Lock`] or [`RLock`] (CPython's `Condition(lock)`).
    pub fn with_lock(lock: impl ConditionLock) -> Result<Condition> {
        let sealed::LockParts(lock, recursive) = lock.parts();
        let region = Region::new(COND_AREA)?;
        Slots::new(&region, COND_SLOTS).init()?;
        Ok(Condition {
            lock,
            recursive,
            region,
        })
    }

    fn slots(&self) -> Slots<'_> {
        Slots::new(&self.region, COND_SLOTS)
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: callers pass header offsets (below `COND_SLOTS`), 4-aligned, inside the region
        // (at least one page).
        unsafe { self.region.atomic_u32(offset) }
    }

    /// Acquires the underlying lock (CPython's `Condition.acquire`).
    pub fn acquire(&self, block: bool, timeout: Option<Duration>) -> Result<bool> {
        acquire(&self.lock, self.recursive, block, timeout)
    }

    /// Releases the underlying lock (CPython's `Condition.release`).
    pub fn release(&self) -> Result<()> {
        release(&self.lock, self.recursive)
    }

    /// Acquires the underlying lock with a guard (Python's `with cond:`).
    pub fn lock(&self) -> Result<LockGuard<'_>> {
        guard_blocking(&self.lock, self.recursive)
    }

    fn check_held(&self, what: &str) -> Result<()> {
        if self.lock.is_mine()? {
            Ok(())
        } else {
            Err(Error::InvalidOperation(format!(
                "must acquire() condition before using {what}"
            )))
        }
    }

    /// Releases the lock (every level of an `RLock`), waits until notified or `timeout`
    /// passes, and re-acquires it (CPython's `wait(timeout=None)`). Returns whether it was
    /// notified.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        self.check_held("wait()")?;
        let slots = self.slots();
        let slot = match slots.claim()? {
            Some(slot) => Some(slot),
            // Every slot taken: the dead waiters' are freed (`notify` frees only those it
            // meets before a live one), then one is claimed.
            None => {
                self.free_dead_slots(&slots)?;
                slots.claim()?
            }
        };
        let slot = slot.ok_or_else(|| {
            Error::InvalidOperation(format!(
                "too many threads are waiting on this Condition (at most {})",
                slots.count
            ))
        })?;
        let ticket = self.word(COND_NEXT).fetch_add(1, Ordering::Relaxed);
        slots
            .word(slot, SLOT_TICKET)
            .store(ticket, Ordering::Relaxed);
        slots.state(slot).store(SLOT_WAITING, Ordering::Release);
        self.word(COND_WAITING).fetch_add(1, Ordering::Relaxed);

        // Release every level, keeping the depth to restore.
        let depth = self.lock.extra().swap(0, Ordering::Relaxed);
        if let Err(err) = self.lock.unlock() {
            slots.leave(slot);
            return Err(err);
        }
        let deadline = timeout.and_then(sys::deadline_after);
        let forever = timeout.is_none() || deadline.is_none();
        let state = slots.state(slot);
        while state.load(Ordering::Acquire) == SLOT_WAITING {
            let left = if forever {
                None
            } else {
                sys::remaining(deadline)
            };
            if left.is_some_and(|left| left.is_zero()) {
                break;
            }
            sys::futex_wait(state, SLOT_WAITING, left);
        }
        let relocked = match self.lock.lock(Wait::Forever) {
            Ok(Raw::Acquired) => Ok(()),
            Ok(Raw::OwnerDied) => Err(Error::OwnerDied),
            Ok(Raw::Mine | Raw::Busy) => Err(Error::os(
                "re-acquiring a Condition's lock",
                io::Error::other("the lock was not released"),
            )),
            Err(err) => {
                // Without the lock the slot cannot be touched safely; leave it to `notify`,
                // which frees the slots of waiters that are gone.
                return Err(err);
            }
        };
        self.lock.extra().store(depth, Ordering::Relaxed);
        let notified = state.load(Ordering::Acquire) == SLOT_SIGNALLED;
        if !notified {
            // Timed out still counted as waiting.
            self.word(COND_WAITING).fetch_sub(1, Ordering::Relaxed);
        }
        slots.leave(slot);
        relocked.map(|()| notified)
    }

    /// Waits until `predicate()` is true, at most `timeout` in all; returns the last value of
    /// the predicate (CPython's `wait_for`). The lock must be held; the predicate runs with it
    /// held.
    ///
    /// ```
    /// use multiprocessing::{shared::Value, sync::Condition};
    /// let (cond, ready) = (Condition::new()?, Value::new(true)?);
    /// let _guard = cond.lock()?;
    /// assert!(cond.wait_for(|| ready.get().unwrap_or(false), None)?);
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn wait_for(
        &self,
        mut predicate: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Result<bool> {
        let deadline = timeout.and_then(sys::deadline_after);
        let forever = timeout.is_none() || deadline.is_none();
        loop {
            if predicate() {
                return Ok(true);
            }
            let left = if forever {
                None
            } else {
                sys::remaining(deadline)
            };
            if left.is_some_and(|left| left.is_zero()) {
                return Ok(false);
            }
            self.wait(left)?;
        }
    }

    /// Frees the slots of waiters that died (the lock is held): a waiter killed while it waits
    /// leaves its slot occupied until someone looks.
    fn free_dead_slots(&self, slots: &Slots<'_>) -> Result<()> {
        let waiting = self.word(COND_WAITING);
        for i in 0..slots.count {
            let state = slots.state(i).load(Ordering::Relaxed);
            if state == SLOT_FREE || slots.alive(i)? {
                continue;
            }
            if state == SLOT_WAITING {
                let _ = waiting
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
            }
            slots.state(i).store(SLOT_FREE, Ordering::Release);
        }
        Ok(())
    }

    /// Wakes the `n` longest-waiting threads, if there are that many (CPython's `notify(n=1)`).
    /// The lock must be held.
    pub fn notify(&self, n: usize) -> Result<()> {
        self.check_held("notify()")?;
        let slots = self.slots();
        let waiting = self.word(COND_WAITING);
        let next = self.word(COND_NEXT).load(Ordering::Relaxed);
        let mut left = n;
        while left > 0 && waiting.load(Ordering::Relaxed) > 0 {
            // The oldest waiting slot (tickets wrap: compare their age).
            let oldest = (0..slots.count)
                .filter(|&i| slots.state(i).load(Ordering::Relaxed) == SLOT_WAITING)
                .max_by_key(|&i| {
                    next.wrapping_sub(slots.word(i, SLOT_TICKET).load(Ordering::Relaxed))
                });
            let Some(slot) = oldest else {
                waiting.store(0, Ordering::Relaxed); // the count drifted (a waiter died): resync
                break;
            };
            let state = slots.state(slot);
            waiting.fetch_sub(1, Ordering::Relaxed);
            if !slots.alive(slot)? {
                state.store(SLOT_FREE, Ordering::Release); // its waiter died: skip it
                continue;
            }
            state.store(SLOT_SIGNALLED, Ordering::Release);
            sys::futex_wake(state, 1);
            left -= 1;
        }
        Ok(())
    }

    /// Wakes every waiting thread (CPython's `notify_all()`). The lock must be held.
    pub fn notify_all(&self) -> Result<()> {
        self.notify(usize::MAX)
    }
}

/// Whether a process with this pid exists (a zombie counts).
fn process_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(Errno::ESRCH)
    )
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&*self.lock, self.recursive, &*self.region).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (lock, recursive, RegionRef(region)) =
            <(RawMutex, bool, RegionRef)>::deserialize(deserializer)?;
        if region.len() < COND_AREA {
            return Err(serde::de::Error::custom(
                "a Condition arrived with corrupt memory",
            ));
        }
        Ok(Condition {
            lock: Arc::new(lock),
            recursive,
            region,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Barrier.

/// Barrier layout: an internal mutex, then state, count, the futex word, parties, then one
/// [`Slots`] slot per party (a party occupies one while it is inside `wait`).
const BARRIER_STATE: usize = MUTEX_AREA;
const BARRIER_COUNT: usize = MUTEX_AREA + 4;
const BARRIER_SEQ: usize = MUTEX_AREA + 8;
const BARRIER_PARTIES: usize = MUTEX_AREA + 12;
const BARRIER_SLOTS: usize = MUTEX_AREA + 16;
/// The most parties a barrier takes (a slot each: 5 MiB of address space at most).
const BARRIER_MAX_PARTIES: usize = 1 << 16;
/// The longest a party sleeps before it looks for dead parties again.
const BARRIER_RECHECK: Duration = Duration::from_millis(100);

/// `threading.Barrier`'s states.
const FILLING: i32 = 0;
const DRAINING: i32 = 1;
const RESETTING: i32 = -1;
const BROKEN: i32 = -2;

/// A barrier for a fixed number of threads across processes (CPython's
/// `multiprocessing.Barrier`, i.e. `threading.Barrier` on shared state).
///
/// [`wait`](Self::wait) blocks until `parties` threads have called it, then releases them all
/// and returns each a different arrival index in `0..parties`. A timeout, [`abort`](Self::abort)
/// or [`reset`](Self::reset) while threads wait breaks the barrier: they (and later callers,
/// until `reset`) get [`Error::BrokenBarrier`]. No `action` callable (CPython's `action=`).
///
/// **A party that dies inside `wait`** never wedges the barrier (a CPython barrier stays
/// draining for ever when a party dies there). Each waiting party holds a robust token that the
/// kernel marks as it dies; the parties still waiting look for such tokens at least every
/// 100 ms, and every call looks on entry. A party that died while the barrier was filling
/// breaks it, as a timeout would (the others get [`Error::BrokenBarrier`]; `reset` makes it
/// usable again); one that died after its round passed is only counted out. Every `wait`
/// honours its timeout, also while it waits for the previous round to drain: then it returns
/// [`Error::BrokenBarrier`] without breaking the barrier, whose round belongs to others.
///
/// ```
/// use multiprocessing::{sync::Barrier, Error};
/// let barrier = Barrier::new(1)?;
/// assert_eq!(barrier.wait(None)?, 0); // one party: passes at once
/// barrier.abort()?;
/// assert!(matches!(barrier.wait(None), Err(Error::BrokenBarrier)));
/// barrier.reset()?;
/// assert_eq!(barrier.wait(None)?, 0);
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Barrier {
    inner: Arc<BarrierInner>,
}

#[derive(Debug)]
struct BarrierInner {
    mutex: RawMutex,
}

/// The barrier's internal mutex, held.
struct Held<'a> {
    barrier: &'a BarrierInner,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let _ = self.barrier.mutex.unlock();
    }
}

impl BarrierInner {
    fn word(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: the barrier's fields, inside the region (checked at construction), aligned.
        unsafe { self.mutex.region.atomic_u32(offset) }
    }

    fn state(&self) -> &AtomicI32 {
        // SAFETY: as in `word`; an AtomicI32 has the layout of an AtomicU32.
        unsafe { AtomicI32::from_ptr(self.word(BARRIER_STATE).as_ptr().cast()) }
    }

    fn parties(&self) -> u32 {
        self.word(BARRIER_PARTIES).load(Ordering::Relaxed)
    }

    fn slots(&self) -> Slots<'_> {
        let slots = Slots::new(&self.mutex.region, BARRIER_SLOTS);
        Slots {
            count: slots.count.min(self.parties() as usize),
            ..slots
        }
    }

    /// Wakes every thread waiting for a state change; the mutex is held.
    fn notify_all(&self) {
        let seq = self.word(BARRIER_SEQ);
        seq.fetch_add(1, Ordering::Release);
        sys::futex_wake(seq, u32::MAX);
    }

    /// Takes the internal mutex. If a process died holding it, the state it was changing is
    /// unknown: the barrier breaks, and the count is taken again from the occupied slots.
    /// Parties that died inside `wait` are counted out ([`reap`](Self::reap)).
    fn hold(&self) -> Result<Held<'_>> {
        let owner_died = match self.mutex.lock(Wait::Forever)? {
            Raw::Acquired => false,
            Raw::OwnerDied => true,
            Raw::Mine | Raw::Busy => {
                return Err(Error::os(
                    "locking a Barrier",
                    io::Error::other("the barrier's mutex is in an unexpected state"),
                ))
            }
        };
        let held = Held { barrier: self };
        if owner_died {
            self.state().store(BROKEN, Ordering::Relaxed);
            let slots = self.slots();
            let occupied = (0..slots.count)
                .filter(|&i| slots.state(i).load(Ordering::Relaxed) != SLOT_FREE)
                .count();
            self.word(BARRIER_COUNT)
                .store(occupied as u32, Ordering::Relaxed);
            self.notify_all();
        }
        self.reap(&held)?;
        Ok(held)
    }

    /// Counts out the parties that died inside `wait`: a death while filling breaks the
    /// barrier; the last one out of a drain or reset refills it.
    fn reap(&self, _held: &Held<'_>) -> Result<()> {
        let slots = self.slots();
        let mut died = false;
        for i in 0..slots.count {
            if slots.state(i).load(Ordering::Relaxed) != SLOT_FREE && !slots.alive(i)? {
                slots.state(i).store(SLOT_FREE, Ordering::Relaxed);
                let count = self.word(BARRIER_COUNT);
                count.store(
                    count.load(Ordering::Relaxed).saturating_sub(1),
                    Ordering::Relaxed,
                );
                died = true;
            }
        }
        if died {
            match self.state().load(Ordering::Relaxed) {
                FILLING => self.state().store(BROKEN, Ordering::Relaxed),
                DRAINING | RESETTING if self.word(BARRIER_COUNT).load(Ordering::Relaxed) == 0 => {
                    self.state().store(FILLING, Ordering::Relaxed)
                }
                _ => {}
            }
            self.notify_all();
        }
        Ok(())
    }

    /// Releases the mutex, waits for a state change (or `deadline`, or [`BARRIER_RECHECK`]),
    /// takes the mutex again.
    fn wait_change(&self, held: Held<'_>, deadline: Option<Instant>) -> Result<Held<'_>> {
        let seq = self.word(BARRIER_SEQ);
        let seen = seq.load(Ordering::Acquire);
        drop(held);
        let left = sys::remaining(deadline).map_or(BARRIER_RECHECK, |l| l.min(BARRIER_RECHECK));
        if !left.is_zero() {
            sys::futex_wait(seq, seen, Some(left));
        }
        if self.state().load(Ordering::Relaxed) == DRAINING {
            crate::fault::point("barrier: the round passed, the mutex not taken again");
        }
        self.hold()
    }
}

impl Barrier {
    /// A barrier for `parties` threads (1 to 65 536).
    pub fn new(parties: usize) -> Result<Barrier> {
        let parties = u32::try_from(parties)
            .ok()
            .filter(|&p| p > 0 && p as usize <= BARRIER_MAX_PARTIES)
            .ok_or_else(|| {
                Error::InvalidOperation(format!(
                    "a Barrier needs between 1 and {BARRIER_MAX_PARTIES} parties, not {parties}"
                ))
            })?;
        let region = Region::new(BARRIER_SLOTS + parties as usize * SLOT_SIZE)?;
        let inner = BarrierInner {
            mutex: RawMutex::create(region, 0)?,
        };
        inner
            .word(BARRIER_PARTIES)
            .store(parties, Ordering::Relaxed);
        inner.slots().init()?;
        Ok(Barrier {
            inner: Arc::new(inner),
        })
    }

    /// Waits until `parties` threads are waiting, at most `timeout` (CPython's
    /// `wait(timeout=None)`); returns this thread's arrival index. A timeout breaks the
    /// barrier; a broken barrier is [`Error::BrokenBarrier`].
    pub fn wait(&self, timeout: Option<Duration>) -> Result<usize> {
        let b = &*self.inner;
        let deadline = timeout.and_then(sys::deadline_after);
        let forever = timeout.is_none() || deadline.is_none();
        let timed_out = || !forever && sys::remaining(deadline).is_some_and(|l| l.is_zero());
        let mut held = b.hold()?;
        // Wait for a previous round to drain or a reset to finish.
        loop {
            match b.state().load(Ordering::Relaxed) {
                DRAINING | RESETTING if timed_out() => return Err(Error::BrokenBarrier),
                DRAINING | RESETTING => {
                    held = b.wait_change(held, if forever { None } else { deadline })?
                }
                BROKEN => return Err(Error::BrokenBarrier),
                _ => break,
            }
        }
        let slots = b.slots();
        let Some(slot) = slots.claim()? else {
            return Err(Error::os(
                "waiting on a Barrier",
                io::Error::other("every party's slot is taken while the barrier fills"),
            ));
        };
        slots.state(slot).store(SLOT_WAITING, Ordering::Relaxed);
        let count = b.word(BARRIER_COUNT);
        let index = count.fetch_add(1, Ordering::Relaxed);
        let outcome = if index + 1 >= b.parties() {
            b.state().store(DRAINING, Ordering::Relaxed);
            b.notify_all();
            Ok(index as usize)
        } else {
            loop {
                let state = b.state().load(Ordering::Relaxed);
                if state != FILLING {
                    break if state < 0 {
                        Err(Error::BrokenBarrier)
                    } else {
                        Ok(index as usize)
                    };
                }
                if timed_out() {
                    b.state().store(BROKEN, Ordering::Relaxed);
                    b.notify_all();
                    break Err(Error::BrokenBarrier);
                }
                match b.wait_change(held, if forever { None } else { deadline }) {
                    Ok(again) => held = again,
                    Err(err) => {
                        // The mutex could not be taken again: leave the slot to be reaped.
                        return Err(err);
                    }
                }
            }
        };
        // Leave: the last one out of a drain or reset refills the barrier.
        let left = count.load(Ordering::Relaxed).saturating_sub(1);
        count.store(left, Ordering::Relaxed);
        slots.leave(slot);
        if left == 0 && matches!(b.state().load(Ordering::Relaxed), DRAINING | RESETTING) {
            b.state().store(FILLING, Ordering::Relaxed);
            b.notify_all();
        }
        drop(held);
        outcome
    }

    /// Returns the barrier to its initial state; threads waiting now get
    /// [`Error::BrokenBarrier`] (CPython's `reset()`).
    pub fn reset(&self) -> Result<()> {
        let b = &*self.inner;
        let _held = b.hold()?;
        let state = b.state();
        if b.word(BARRIER_COUNT).load(Ordering::Relaxed) > 0 {
            match state.load(Ordering::Relaxed) {
                FILLING | BROKEN => state.store(RESETTING, Ordering::Relaxed),
                _ => {}
            }
        } else {
            state.store(FILLING, Ordering::Relaxed);
        }
        b.notify_all();
        Ok(())
    }

    /// Breaks the barrier: waiting threads, and later callers until [`reset`](Self::reset),
    /// get [`Error::BrokenBarrier`] (CPython's `abort()`).
    pub fn abort(&self) -> Result<()> {
        let b = &*self.inner;
        let _held = b.hold()?;
        b.state().store(BROKEN, Ordering::Relaxed);
        b.notify_all();
        Ok(())
    }

    /// The number of threads needed to pass (CPython's `parties`).
    pub fn parties(&self) -> usize {
        self.inner.parties() as usize
    }

    /// The number of threads waiting now (CPython's `n_waiting`).
    pub fn n_waiting(&self) -> Result<usize> {
        let b = &*self.inner;
        let _held = b.hold()?;
        Ok(if b.state().load(Ordering::Relaxed) == FILLING {
            b.word(BARRIER_COUNT).load(Ordering::Relaxed) as usize
        } else {
            0
        })
    }

    /// Whether the barrier is broken (CPython's `broken`).
    pub fn broken(&self) -> Result<bool> {
        let b = &*self.inner;
        let _held = b.hold()?;
        Ok(b.state().load(Ordering::Relaxed) == BROKEN)
    }
}

impl Serialize for Barrier {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.inner.mutex.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Barrier {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mutex = RawMutex::deserialize(deserializer)?;
        let corrupt = || serde::de::Error::custom("a Barrier arrived with corrupt memory");
        if mutex.offset != 0 || mutex.region.len() < BARRIER_SLOTS {
            return Err(corrupt());
        }
        let inner = BarrierInner { mutex };
        let parties = inner.parties() as usize;
        if parties == 0 || inner.mutex.region.len() < BARRIER_SLOTS + parties * SLOT_SIZE {
            return Err(corrupt());
        }
        Ok(Barrier {
            inner: Arc::new(inner),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Event.

/// A flag that processes can set, clear and wait for (CPython's `multiprocessing.Event`).
///
/// Pass it to a child as a `Process` argument, under any start method: under `fork` the child
/// inherits it; under `spawn` and `forkserver` its descriptors are handed over. Clones share the
/// flag.
///
/// It is a pipe: *set* means "one byte is in the pipe". Waiters poll for readability and never
/// consume the byte, so every waiter sees it; `clear` drains it.
///
/// ```
/// let event = multiprocessing::Event::new()?;
/// assert!(!event.is_set()?);
/// event.set()?;
/// assert!(event.wait(None)?);
/// event.clear()?;
/// assert!(!event.wait(Some(std::time::Duration::from_millis(1)))?);
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Event {
    ends: Arc<Ends>,
}

#[derive(Debug)]
struct Ends {
    read: OwnedFd,
    write: OwnedFd,
}

impl Event {
    /// A new event, not set.
    pub fn new() -> Result<Event> {
        let (read, write) = sys::pipe(true).map_err(|err| Error::os("pipe for an Event", err))?;
        Ok(Event {
            ends: Arc::new(Ends { read, write }),
        })
    }

    /// Whether the event is set.
    pub fn is_set(&self) -> Result<bool> {
        self.wait(Some(Duration::ZERO))
    }

    /// Sets the event, waking every waiter.
    pub fn set(&self) -> Result<()> {
        if self.is_set()? {
            return Ok(());
        }
        match nix::unistd::write(self.ends.write.as_fd(), b"1") {
            // EAGAIN: the pipe is full of bytes from racing setters, so it is set.
            Ok(_) | Err(Errno::EAGAIN) => Ok(()),
            Err(errno) => Err(Error::os("setting an Event", errno)),
        }
    }

    /// Clears the event.
    pub fn clear(&self) -> Result<()> {
        let mut sink = [0u8; 64];
        loop {
            match nix::unistd::read(&self.ends.read, &mut sink) {
                Ok(0) | Err(Errno::EAGAIN) => return Ok(()),
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => return Err(Error::os("clearing an Event", errno)),
            }
        }
    }

    /// Waits until the event is set, at most `timeout`; returns whether it is set.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        sys::wait_readable(self.ends.read.as_fd(), timeout)
            .map_err(|e| Error::os("waiting on an Event", e))
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        struct Fd<'a>(&'a OwnedFd);
        impl Serialize for Fd<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                wire::serialize_fd(self.0.as_fd(), serializer)
            }
        }
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&Fd(&self.ends.read))?;
        tuple.serialize_element(&Fd(&self.ends.write))?;
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fd(OwnedFd);
        impl<'de> Deserialize<'de> for Fd {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                wire::deserialize_fd(deserializer).map(Fd)
            }
        }
        let (Fd(read), Fd(write)) = <(Fd, Fd)>::deserialize(deserializer)?;
        for fd in [&read, &write] {
            nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
                .map_err(serde::de::Error::custom)?;
        }
        Ok(Event {
            ends: Arc::new(Ends { read, write }),
        })
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// glibc's robust mutex word: the owner's tid, and this bit while a thread sleeps on it.
    const FUTEX_WAITERS: u32 = 0x8000_0000;
    /// Only so that the old bug fails instead of hanging the test binary.
    const HANG_GUARD: Duration = Duration::from_secs(60);

    fn word(lock: &Lock) -> &AtomicU32 {
        // SAFETY: glibc's `pthread_mutex_t` starts with its futex word (`__data.__lock`, an
        // aligned `int`), inside the mapping that `lock` keeps alive.
        unsafe { AtomicU32::from_ptr(lock.raw.mutex().cast()) }
    }

    /// The lost wake-up the kill soaks found, made deterministic. A waiter sleeps in the kernel
    /// on a lock; the holder's word is then left saying that nobody waits (as when an unlock
    /// woke a waiter that was killed before it took the lock, and a process that never waited
    /// took it), and the holder dies holding it. The kernel marks the owner dead and, seeing no
    /// waiter, wakes nobody: a plain `pthread_mutex_lock` slept for ever, and a timed acquire
    /// until its timeout. Now each finds the abandoned lock within 100 ms (`RECHECK`).
    fn abandoned_without_a_wake_up(timeout: Option<Duration>) {
        let lock = Lock::new().unwrap();
        let (held_tx, held_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let holder = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                assert!(lock.acquire(true, None).unwrap());
                held_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                word(&lock).fetch_and(!FUTEX_WAITERS, Ordering::SeqCst);
                // The thread ends holding the lock (the kernel walks its robust list).
            })
        };
        held_rx.recv().unwrap();
        let (done_tx, done_rx) = mpsc::channel();
        {
            let lock = lock.clone();
            std::thread::spawn(move || {
                let _ = done_tx.send(lock.acquire(true, timeout));
            });
        }
        let hang = Instant::now() + HANG_GUARD;
        while word(&lock).load(Ordering::SeqCst) & FUTEX_WAITERS == 0 {
            assert!(Instant::now() < hang, "the waiter never slept on the lock");
            std::thread::sleep(Duration::from_millis(1));
        }
        let asked = Instant::now();
        go_tx.send(()).unwrap();
        holder.join().unwrap();
        let got = done_rx
            .recv_timeout(HANG_GUARD)
            .expect("the waiter slept on: its wake-up was lost");
        assert!(matches!(got, Err(Error::OwnerDied)), "{got:?}");
        if let Some(timeout) = timeout {
            assert!(
                asked.elapsed() < timeout,
                "the waiter slept until its timeout"
            );
        }
    }

    #[test]
    fn a_blocking_acquire_takes_a_lock_abandoned_without_a_wake_up() {
        abandoned_without_a_wake_up(None);
    }

    #[test]
    fn a_timed_acquire_takes_a_lock_abandoned_without_a_wake_up_before_its_timeout() {
        abandoned_without_a_wake_up(Some(Duration::from_secs(600)));
    }
}
