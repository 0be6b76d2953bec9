//! Queues between processes (CPython's `multiprocessing.queues`): [`Queue`], [`SimpleQueue`]
//! and [`JoinableQueue`].
//!
//! ```
//! use multiprocessing::queue::Queue;
//!
//! let queue: Queue<(u32, String)> = Queue::new()?;
//! queue.put((1, "one".to_string()))?;
//! queue.put(&(2, "two".to_string()))?;
//! assert_eq!(queue.qsize(), 2);
//! assert_eq!(queue.get()?, (1, "one".to_string()));
//! assert_eq!(queue.get()?.0, 2);
//! assert!(matches!(queue.get_nowait(), Err(multiprocessing::Error::Empty)));
//! # Ok::<(), multiprocessing::Error>(())
//! ```
//!
//! # Design
//!
//! A queue is **a ring buffer in shared memory**: an anonymous `memfd` (no name in `/dev/shm`,
//! so nothing to clean up: the kernel frees it when the last process holding it closes it),
//! mapped `MAP_SHARED` by every process that has the queue. A `fork` child inherits the mapping; a
//! `spawn` or `forkserver` child receives the descriptor as a [`Process`](crate::Process)
//! argument and maps it.
//!
//! * **Items are serialized in [`put`](Queue::put), at the call**, then copied into the ring
//!   under the queue's lock, as a length-prefixed record. A value that cannot be serialized is
//!   [`Error::Serialization`] returned to the caller, and the queue is untouched. (CPython pickles
//!   in a feeder thread, and a failing item is lost with only a traceback on stderr.)
//! * **The delivery guarantee**: when `put` returns `Ok`, the item is in the shared ring. It does
//!   not depend on the producer living on: an item is delivered even if its producer exits, or is
//!   killed, right after `put` returns. (CPython buffers in a feeder thread, so it needs
//!   the producer to exit normally and flush.) Every item is delivered to exactly one `get`, in
//!   the order the `put`s took the lock, so items from one producer arrive in the order it put
//!   them.
//! * **Mutual exclusion** is a process-shared, *robust* `pthread` mutex in the mapping. If a
//!   process dies holding it, the next process to lock it is told so by the kernel, and carries
//!   on: **a process killed at any instruction of `put`, `get` or `task_done` leaves the queue as
//!   it was before that operation or as it is after it**. The ring's bookkeeping (capacity, head,
//!   bytes, items, unfinished tasks) is double-buffered in the header: a change writes the copy
//!   not in force, then makes it the one in force with one store. A record's bytes are written
//!   into free space before that store and read out before the store that frees them. So no
//!   item of another process is lost or repeated; a consumer killed after its `get` took an
//!   item takes that item with it. `tests/queue.rs` kills a process at every step of each
//!   operation (the test-only fault points of `fault.rs`) to show it. (Without robust mutexes,
//!   on macOS, such a death leaves the queue locked, as it would a CPython queue.)
//! * **A corrupted header** (a stray write into the shared mapping) is [`Error::Corrupt`], in
//!   every process from then on, never a crash: the state in force is checked under the lock
//!   before any index into the ring is used (capacity within the file and the mapping, head and
//!   bytes within the capacity, record lengths within the bytes).
//! * **Waiting** (an empty queue in `get`, a full one in `put`, unfinished tasks in
//!   [`join`](JoinableQueue::join)) is a Linux `futex` on a sequence counter in the mapping, after a
//!   spin of a few microseconds. A producer makes a system call only when a consumer sleeps, so a
//!   busy queue costs two lock round trips and two copies per item, and no system call: that is
//!   what makes it over ten times as fast as CPython's (a pipe, a lock, a feeder thread).
//!   Elsewhere, waiting polls with sleeps of up to a millisecond. A sleeper looks again at least
//!   every 100 ms, so a process killed between changing the queue and waking the sleepers
//!   delays them by that much at most, never for ever.
//! * **Readiness for [`wait`](crate::connection::wait)**: each queue has a pipe besides its
//!   mapping, its *readiness handle*. While a process waits on the queue in `wait` (a count in
//!   the header says so), a `put` writes a byte to it, so `wait` wakes; `wait` itself judges
//!   readiness by the item count, and looks again at least every 100 ms. A busy queue nobody
//!   waits on makes no system call for it.
//! * **Unbounded**: the ring starts at 64 KiB and doubles as needed (`ftruncate` of the `memfd`;
//!   every process maps a 4 GiB window up front, so none has to remap), up to 4 GiB of items in
//!   flight; a `put` beyond that waits for room, like a bounded queue. When the queue empties, a
//!   ring grown past 16 MiB shrinks back, returning its memory (on Linux; the file keeps its
//!   length, with a hole punched in it, so no process can touch a page past its end).
//! * **Bounded** (`maxsize`): the count of items is in the mapping, next to the ring; a `put`
//!   waits while it is at `maxsize`, as CPython's semaphore makes it.
//! * [`qsize`](Queue::qsize) and [`empty`](Queue::empty) read that count: exact when read, and as
//!   CPython documents, stale as soon as another process puts or gets.

use std::borrow::Borrow;
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, Ordering::Acquire, Ordering::Relaxed,
    Ordering::Release, Ordering::SeqCst,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::fault::point;
use crate::{sys, wire};

/// Identifies a queue's mapping (and its layout version: 2, the double-buffered state).
const MAGIC: u64 = u64::from_le_bytes(*b"mpqueue2");
/// The ring starts after one page of header.
const DATA: u64 = 4096;
/// The ring's first capacity; capacities are powers of two.
const INITIAL_CAPACITY: u64 = 64 * 1024;
/// An empty ring larger than this shrinks back to [`INITIAL_CAPACITY`]. Not less: a stream of
/// megabyte items empties and regrows a ring of a few MiB all along, and the hole punched at
/// each shrink and the fresh pages of each regrowth cost more than the copies (`queue-1mib`
/// went from 0.3-0.8 to 0.9-2.3 GB/s when this went from 4 to 64 MiB).
const SHRINK_ABOVE: u64 = 16 << 20;
/// The largest ring: the window every process maps.
#[cfg(target_pointer_width = "64")]
const LIMIT: u64 = 1 << 32;
#[cfg(not(target_pointer_width = "64"))]
const LIMIT: u64 = 1 << 28;
/// Each record starts with its length.
const RECORD_HEADER: u64 = 8;
/// How long an empty `get` (or a full `put`) spins before it sleeps.
const SPIN: Duration = Duration::from_micros(20);
/// The longest a sleeper sleeps before it looks again. A process killed after changing the
/// queue but before waking the sleepers (a window of a few instructions) delays them by at most
/// this much; nothing else relies on it.
const RECHECK: Duration = Duration::from_millis(100);

/// One version of the ring's bookkeeping: all that a `put`, a `get` or a `task_done` changes.
#[repr(C)]
struct State {
    /// The ring's size in bytes (a power of two).
    capacity: AtomicU64,
    /// Where the oldest record starts.
    head: AtomicU64,
    /// Bytes of records in the ring.
    used: AtomicU64,
    /// Records in the ring.
    count: AtomicU64,
    /// Items put and not yet marked done (`JoinableQueue`).
    unfinished: AtomicU64,
}

/// A [`State`] read out of the mapping and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ring {
    capacity: u64,
    head: u64,
    used: u64,
    count: u64,
    unfinished: u64,
}

/// The shared state, at the start of the mapping. Every field but the mutex is an atomic, as other
/// processes read and write them; all but the sequence counters and waiter counts are changed
/// only under the mutex.
///
/// **Surviving a process killed at any instruction.** The bookkeeping is double-buffered: of the
/// two [`State`]s, `current` names the one in force. A change writes the *other* one in full,
/// then flips `current`: one aligned store, the commit. A process killed before that store leaves
/// the state in force untouched (the half-written one is simply written again by the next
/// change); killed after it, the change is complete. The ring bytes of a record are written
/// into free space before the commit that makes them part of the queue, and read out before the
/// commit that frees them. So the next process to take the robust mutex (told `EOWNERDEAD` by
/// the kernel) has nothing to repair: the queue loses or repeats no item of a live process. Only
/// the item of a killed consumer that had committed its `get` goes with it.
#[repr(C)]
struct Header {
    magic: AtomicU64,
    /// The largest capacity ([`LIMIT`] of the creating process).
    limit: AtomicU64,
    /// 0: unbounded.
    maxsize: AtomicU64,
    mutex: UnsafeCell<libc::pthread_mutex_t>,
    /// Which of `states` is in force: 0 or 1.
    current: AtomicU32,
    /// Set when the header was found inconsistent (a stray write into the mapping): the queue
    /// is unusable.
    broken: AtomicU32,
    states: [State; 2],
    waiting_getters: AtomicU32,
    waiting_putters: AtomicU32,
    waiting_joiners: AtomicU32,
    /// Bumped by every put: getters sleep on it.
    put_seq: AtomicU32,
    /// Bumped by every get: putters sleep on it.
    get_seq: AtomicU32,
    /// Bumped when `unfinished` drops to 0: joiners sleep on it.
    done_seq: AtomicU32,
    /// Threads in [`connection::wait`](crate::connection::wait) on this queue: while non-zero,
    /// a `put` writes a byte to the readiness pipe. A waiter killed inside `wait` leaves it
    /// too high, which costs later `put`s a needless write, nothing else.
    pollers: AtomicU32,
}

const _: () = assert!(std::mem::size_of::<Header>() <= DATA as usize);

impl Header {
    /// The state in force, for the lock-free readers (`qsize`, the spin): a value read from it
    /// was true at some moment, which is all they promise.
    fn state(&self) -> &State {
        &self.states[(self.current.load(Acquire) & 1) as usize]
    }
}

/// A mapped queue segment.
struct Segment {
    fd: OwnedFd,
    /// The readiness pipe (non-blocking): see the module docs.
    ready_read: OwnedFd,
    ready_write: OwnedFd,
    base: NonNull<u8>,
    len: usize,
    /// The ring's largest capacity in this process's mapping (`len - DATA`).
    window: u64,
    /// Bytes of ring the file is known to hold: the file never shrinks (an emptied ring returns
    /// its memory by punching a hole), so a capacity up to this is safe to touch.
    file_ring: AtomicU64,
    /// `close()` was called in this process.
    closed: AtomicBool,
}

// SAFETY: the mapping is shared memory meant for concurrent use: every field of the header is an
// atomic or the process-shared mutex, and the ring is only touched under that mutex.
unsafe impl Send for Segment {}
// SAFETY: as above.
unsafe impl Sync for Segment {}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` is the mapping this segment made, unmapped once; no reference into
        // it outlives the segment (guards borrow it).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!(
        "the queue's shared header is inconsistent ({what}): something wrote into its memory"
    ))
}

impl Segment {
    fn create(maxsize: usize) -> Result<Segment> {
        let fd = anonymous_file()?;
        set_file_ring(&fd, INITIAL_CAPACITY)?;
        let ready = sys::pipe(true).map_err(|e| Error::os("pipe", e))?;
        let segment = Segment::map(fd, LIMIT, ready)?;
        segment.file_ring.store(INITIAL_CAPACITY, Relaxed);
        let header = segment.header();
        header.limit.store(LIMIT, Relaxed);
        header.maxsize.store(maxsize as u64, Relaxed);
        header.states[0].capacity.store(INITIAL_CAPACITY, Relaxed);
        init_mutex(header.mutex.get())?;
        header.magic.store(MAGIC, Release);
        Ok(segment)
    }

    /// Maps a queue segment handed to this process.
    fn attach(fd: OwnedFd, ready: (OwnedFd, OwnedFd)) -> Result<Segment> {
        let mut prefix = [0u8; 16];
        match nix::sys::uio::pread(fd.as_fd(), &mut prefix, 0) {
            Ok(16) => {}
            Ok(_) => {
                return Err(Error::Corrupt(
                    "not a queue: the segment is too short".into(),
                ))
            }
            Err(errno) => return Err(Error::os("reading a queue's header", errno)),
        }
        let word = |i: usize| {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&prefix[i * 8..i * 8 + 8]);
            u64::from_le_bytes(bytes)
        };
        if word(0) != MAGIC {
            return Err(Error::Corrupt("not a queue: bad magic number".into()));
        }
        let limit = word(1);
        if !limit.is_power_of_two() || !(INITIAL_CAPACITY..=LIMIT).contains(&limit) {
            return Err(Error::Corrupt(format!(
                "a queue with a {limit}-byte window cannot be mapped by this process"
            )));
        }
        Segment::map(fd, limit, ready)
    }

    fn map(fd: OwnedFd, limit: u64, ready: (OwnedFd, OwnedFd)) -> Result<Segment> {
        let len = usize::try_from(DATA + limit)
            .map_err(|_| Error::Corrupt("a queue window larger than the address space".into()))?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let flags = libc::MAP_SHARED | libc::MAP_NORESERVE;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let flags = libc::MAP_SHARED;
        // SAFETY: a fresh mapping of `len` bytes of a file we own; nothing else is at that
        // address. Pages past the file's end are never touched: only the first `DATA + capacity`
        // bytes are, and `Segment::ring` checks that the file is at least that long.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(Error::os(
                "mmap of a queue",
                std::io::Error::last_os_error(),
            ));
        }
        let base = NonNull::new(base.cast()).ok_or_else(|| {
            Error::os(
                "mmap of a queue",
                std::io::Error::other("mapped at address 0"),
            )
        })?;
        Ok(Segment {
            fd,
            ready_read: ready.0,
            ready_write: ready.1,
            base,
            len,
            window: limit,
            file_ring: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        })
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a `Header` (page-aligned, zero-initialized by the
        // kernel, then initialized by `create`); it lives as long as `self`.
        unsafe { &*self.base.as_ptr().cast::<Header>() }
    }

    /// Locks the queue's mutex (spinning briefly first).
    fn lock(&self) -> Result<Locked<'_>> {
        let mutex = self.header().mutex.get();
        // SAFETY: `mutex` is an initialized process-shared mutex in our mapping.
        let mut rc = unsafe { libc::pthread_mutex_trylock(mutex) };
        if rc == libc::EBUSY {
            let spin_until = Instant::now() + SPIN;
            while rc == libc::EBUSY && Instant::now() < spin_until {
                for _ in 0..16 {
                    std::hint::spin_loop();
                }
                // SAFETY: as above.
                rc = unsafe { libc::pthread_mutex_trylock(mutex) };
            }
        }
        if rc == libc::EBUSY {
            // Asleep at most 100 ms at a time: a robust mutex can lose its wake-up when
            // processes are killed around it (`sync::lock_rechecking` says how).
            // SAFETY: as above.
            rc = unsafe { crate::sync::lock_rechecking(mutex, None) };
        }
        match rc {
            0 => {}
            #[cfg(any(target_os = "linux", target_os = "android"))]
            libc::EOWNERDEAD => {
                // The previous holder died: the lock is ours. The state in force is consistent
                // whatever instruction it died at (see `Header`), so marking the mutex usable
                // again is all the recovery there is.
                // SAFETY: we hold `mutex`, which the kernel marked as abandoned.
                unsafe { libc::pthread_mutex_consistent(mutex) };
            }
            rc => {
                return Err(Error::Corrupt(format!(
                    "the queue's lock cannot be taken ({})",
                    std::io::Error::from_raw_os_error(rc)
                )))
            }
        }
        let guard = Locked { segment: self };
        if self.header().broken.load(Relaxed) != 0 {
            return Err(corrupt("found so earlier"));
        }
        Ok(guard)
    }

    /// The state in force, checked so that no later step can index outside the ring, the file
    /// or the mapping, or overflow. An inconsistency breaks the queue for good.
    fn ring(&self, guard: &Locked<'_>) -> Result<Ring> {
        let _ = guard;
        let header = self.header();
        let current = header.current.load(Relaxed);
        if current > 1 {
            return Err(self.broken(format!("state index {current}")));
        }
        let state = &header.states[current as usize];
        let ring = Ring {
            capacity: state.capacity.load(Relaxed),
            head: state.head.load(Relaxed),
            used: state.used.load(Relaxed),
            count: state.count.load(Relaxed),
            unfinished: state.unfinished.load(Relaxed),
        };
        let consistent = ring.capacity.is_power_of_two()
            && (INITIAL_CAPACITY..=self.window).contains(&ring.capacity)
            && ring.head < ring.capacity
            && ring.used <= ring.capacity
            && ring.count <= ring.used / RECORD_HEADER
            && (ring.count == 0) == (ring.used == 0)
            && (ring.count > 0 || ring.head == 0);
        if !consistent {
            return Err(self.broken(format!("{ring:?}")));
        }
        if ring.capacity > self.file_ring.load(Relaxed) {
            let known = self.refresh_file_ring()?;
            if ring.capacity > known {
                return Err(self.broken(format!(
                    "a capacity of {} bytes in a file of {known}",
                    ring.capacity
                )));
            }
        }
        Ok(ring)
    }

    /// Marks the queue broken, for every process, and says why.
    fn broken(&self, what: String) -> Error {
        self.header().broken.store(1, Relaxed);
        corrupt(what)
    }

    /// Reads the file's length again: how many bytes of ring it holds.
    fn refresh_file_ring(&self) -> Result<u64> {
        let stat = nix::sys::stat::fstat(&self.fd)
            .map_err(|errno| Error::os("fstat of a queue", errno))?;
        let ring = u64::try_from(stat.st_size)
            .unwrap_or(0)
            .saturating_sub(DATA)
            .min(self.window);
        self.file_ring.store(ring, Relaxed);
        Ok(ring)
    }

    /// Puts `next` in force: writes it into the state not in force, then flips `current`.
    fn commit(&self, guard: &Locked<'_>, next: Ring) {
        let _ = guard;
        let header = self.header();
        let other = 1 - (header.current.load(Relaxed) & 1);
        let state = &header.states[other as usize];
        state.capacity.store(next.capacity, Relaxed);
        point("commit: the next capacity written");
        state.head.store(next.head, Relaxed);
        point("commit: the next head written");
        state.used.store(next.used, Relaxed);
        point("commit: the next byte count written");
        state.count.store(next.count, Relaxed);
        point("commit: the next item count written");
        state.unfinished.store(next.unfinished, Relaxed);
        point("commit: the next state written, not in force");
        // Release: the state's stores, and the ring bytes written before this call, cannot be
        // moved after the flip, by the compiler or the processor; the flip is one store.
        fence(Release);
        header.current.store(other, Release);
        point("commit: the next state in force");
    }

    /// The state with room for `need` more bytes, growing the ring if needed; `None` if the ring
    /// is at its limit and the bytes do not fit yet.
    fn make_room(&self, guard: &Locked<'_>, ring: Ring, need: u64) -> Result<Option<Ring>> {
        if ring.capacity - ring.used >= need {
            return Ok(Some(ring));
        }
        if self.window - ring.used < need {
            return Ok(None);
        }
        let mut grown = ring.capacity;
        while grown - ring.used < need {
            grown *= 2;
        }
        // Nothing the ring in force uses changes until the commit: the file grows, and the
        // wrapped records are copied to free space past the old end. A death (or a failed
        // `ftruncate`) before the commit leaves the old ring intact in a longer file.
        if grown > self.file_ring.load(Relaxed) && grown > self.refresh_file_ring()? {
            set_file_ring(&self.fd, grown)?;
            self.file_ring.store(grown, Relaxed);
        }
        point("grow: the file is longer");
        if ring.head + ring.used > ring.capacity {
            // The records wrap: copy the wrapped part after the old end, where it continues the
            // rest. `grown >= 2 * capacity`, so it fits.
            let wrapped = (ring.head + ring.used - ring.capacity) as usize;
            // SAFETY: both ranges lie inside the ring's `grown` bytes (the file is that long now)
            // and do not overlap (`wrapped < used <= capacity`).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.data(),
                    self.data().add(ring.capacity as usize),
                    wrapped,
                );
            }
            point("grow: the wrapped records copied");
        }
        let grown = Ring {
            capacity: grown,
            ..ring
        };
        self.commit(guard, grown);
        Ok(Some(grown))
    }

    fn data(&self) -> *mut u8 {
        // SAFETY: `DATA` is within the mapping.
        unsafe { self.base.as_ptr().add(DATA as usize) }
    }

    /// Copies `bytes` into the ring at `pos`, wrapping at the end.
    fn write_ring(&self, ring: &Ring, pos: u64, bytes: &[u8]) {
        let first = bytes.len().min((ring.capacity - pos) as usize);
        // SAFETY: under the lock (a `Ring` comes from `Segment::ring`, which takes a guard);
        // `pos < capacity`, which the file holds, and the caller checked that `bytes` fits in the
        // free part of the ring, which starts at `pos` and wraps to 0.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.data().add(pos as usize), first);
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr().add(first),
                self.data(),
                bytes.len() - first,
            );
        }
    }

    /// Copies from the ring at `pos` into `out`, wrapping at the end.
    fn read_ring(&self, ring: &Ring, pos: u64, out: &mut [u8]) {
        let first = out.len().min((ring.capacity - pos) as usize);
        // SAFETY: under the lock; `pos < capacity`, which the file holds, and the caller checked
        // that `out.len()` bytes of records start at `pos`.
        unsafe {
            std::ptr::copy_nonoverlapping(self.data().add(pos as usize), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(
                self.data(),
                out.as_mut_ptr().add(first),
                out.len() - first,
            );
        }
    }

    /// Appends a record; `ring` has room for it (from `make_room`).
    fn push(&self, guard: &Locked<'_>, ring: Ring, bytes: &[u8]) -> Ring {
        let need = RECORD_HEADER + bytes.len() as u64;
        let tail = (ring.head + ring.used) % ring.capacity;
        self.write_ring(&ring, tail, &(bytes.len() as u64).to_le_bytes());
        point("put: the record's length written");
        self.write_ring(&ring, (tail + RECORD_HEADER) % ring.capacity, bytes);
        point("put: the record written");
        let next = Ring {
            used: ring.used + need,
            count: ring.count + 1,
            unfinished: ring.unfinished.saturating_add(1),
            ..ring
        };
        self.commit(guard, next);
        self.header().put_seq.fetch_add(1, Relaxed);
        next
    }

    /// Removes the oldest record; `ring` has one.
    fn pop(&self, guard: &Locked<'_>, ring: Ring) -> Result<(Ring, Vec<u8>)> {
        let mut len = [0u8; 8];
        self.read_ring(&ring, ring.head, &mut len);
        let len = u64::from_le_bytes(len);
        let record = len
            .checked_add(RECORD_HEADER)
            .filter(|&record| record <= ring.used && (ring.count > 1 || record == ring.used));
        let Some(record) = record else {
            return Err(self.broken(format!(
                "a record of {len} bytes among {} records in {} bytes",
                ring.count, ring.used
            )));
        };
        let mut bytes = vec![0u8; len as usize];
        self.read_ring(
            &ring,
            (ring.head + RECORD_HEADER) % ring.capacity,
            &mut bytes,
        );
        point("get: the record read");
        let count = ring.count - 1;
        let mut next = Ring {
            head: (ring.head + record) % ring.capacity,
            used: ring.used - record,
            count,
            ..ring
        };
        if count == 0 {
            next.head = 0;
            if ring.capacity > SHRINK_ABOVE {
                next.capacity = INITIAL_CAPACITY;
            }
        }
        self.commit(guard, next);
        if next.capacity < ring.capacity {
            // Return the memory past the smaller ring; the file keeps its length (see
            // `file_ring`), so a death or a failure here costs only memory.
            release_memory(&self.fd, next.capacity, ring.capacity);
            point("get: the memory of the shrunk ring released");
        }
        self.header().get_seq.fetch_add(1, Relaxed);
        Ok((next, bytes))
    }

    /// Releases `guard`, sleeps until `seq` moves (or `deadline`, or [`RECHECK`], or a spurious
    /// wake-up), and locks again. `waiters` counts the sleepers, so that wakers make a system
    /// call only when someone sleeps. (A sleeper killed while asleep stays counted: it costs
    /// wakers a system call, never a missed wake-up.)
    fn sleep<'a>(
        &'a self,
        guard: Locked<'a>,
        seq: &AtomicU32,
        waiters: &AtomicU32,
        deadline: Option<Instant>,
    ) -> Result<Locked<'a>> {
        let seen = seq.load(Relaxed);
        waiters.fetch_add(1, Relaxed);
        drop(guard);
        let timeout = sys::remaining(deadline).map_or(RECHECK, |left| left.min(RECHECK));
        if !timeout.is_zero() {
            sys::futex_wait(seq, seen, Some(timeout));
        }
        let guard = self.lock();
        waiters.fetch_sub(1, Relaxed);
        guard
    }

    /// Spins briefly, unlocked, until `ready` (a cheap check of the shared state) or [`SPIN`]
    /// passes.
    fn spin(&self, guard: Locked<'_>, ready: impl Fn(&Header) -> bool) -> Result<Locked<'_>> {
        drop(guard);
        let until = Instant::now() + SPIN;
        'spin: while Instant::now() < until {
            for _ in 0..64 {
                if ready(self.header()) {
                    break 'spin;
                }
                std::hint::spin_loop();
            }
        }
        self.lock()
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Relaxed) {
            Err(Error::InvalidOperation(
                "Queue is closed: close() was called on it in this process".into(),
            ))
        } else {
            Ok(())
        }
    }

    /// Puts a serialized item, waiting for room until `deadline` (`None`: forever).
    fn put_bytes(&self, bytes: &[u8], deadline: Option<Instant>) -> Result<()> {
        self.check_open()?;
        let header = self.header();
        let need = RECORD_HEADER + bytes.len() as u64;
        let maxsize = header.maxsize.load(Relaxed);
        let mut guard = self.lock()?;
        let mut spun = false;
        let ring = loop {
            let ring = self.ring(&guard)?;
            if maxsize == 0 || ring.count < maxsize {
                if let Some(ring) = self.make_room(&guard, ring, need)? {
                    break ring;
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Full {
                    maxsize: maxsize as usize,
                });
            }
            if !spun {
                spun = true;
                let seen = header.get_seq.load(Relaxed);
                guard = self.spin(guard, |h| h.get_seq.load(Relaxed) != seen)?;
                continue;
            }
            guard = self.sleep(guard, &header.get_seq, &header.waiting_putters, deadline)?;
        };
        let ring = self.push(&guard, ring, bytes);
        let wake_getter = header.waiting_getters.load(Relaxed) > 0;
        let wake_putter =
            header.waiting_putters.load(Relaxed) > 0 && (maxsize == 0 || ring.count < maxsize);
        drop(guard);
        if wake_getter {
            sys::futex_wake(&header.put_seq, 1);
        }
        if wake_putter {
            sys::futex_wake(&header.get_seq, 1);
        }
        // The item is in (the unlock ordered it); a waiter in `wait` counts itself in before it
        // looks at the count, so one of the two sees the other.
        fence(SeqCst);
        if header.pollers.load(Relaxed) > 0 {
            // Full pipe (EAGAIN): it is readable already.
            let _ = nix::unistd::write(&self.ready_write, &[1]);
        }
        Ok(())
    }

    /// Takes the oldest serialized item, waiting for one until `deadline` (`None`: forever).
    fn get_bytes(&self, deadline: Option<Instant>) -> Result<Vec<u8>> {
        self.check_open()?;
        let header = self.header();
        let mut guard = self.lock()?;
        let mut spun = false;
        let ring = loop {
            let ring = self.ring(&guard)?;
            if ring.count > 0 {
                break ring;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Empty);
            }
            if !spun {
                spun = true;
                guard = self.spin(guard, |h| h.state().count.load(Relaxed) > 0)?;
                continue;
            }
            guard = self.sleep(guard, &header.put_seq, &header.waiting_getters, deadline)?;
        };
        let (ring, bytes) = self.pop(&guard, ring)?;
        let wake_putter = header.waiting_putters.load(Relaxed) > 0;
        let wake_getter = ring.count > 0 && header.waiting_getters.load(Relaxed) > 0;
        drop(guard);
        if wake_putter {
            sys::futex_wake(&header.get_seq, 1);
        }
        if wake_getter {
            sys::futex_wake(&header.put_seq, 1);
        }
        Ok(bytes)
    }

    fn task_done(&self) -> Result<()> {
        let header = self.header();
        let guard = self.lock()?;
        let ring = self.ring(&guard)?;
        if ring.unfinished == 0 {
            return Err(Error::InvalidOperation(
                "task_done() called too many times: more than items were put".into(),
            ));
        }
        self.commit(
            &guard,
            Ring {
                unfinished: ring.unfinished - 1,
                ..ring
            },
        );
        let wake = ring.unfinished == 1 && {
            header.done_seq.fetch_add(1, Relaxed);
            header.waiting_joiners.load(Relaxed) > 0
        };
        drop(guard);
        if wake {
            sys::futex_wake(&header.done_seq, u32::MAX);
        }
        Ok(())
    }

    fn join(&self) -> Result<()> {
        let header = self.header();
        let mut guard = self.lock()?;
        while self.ring(&guard)?.unfinished > 0 {
            guard = self.sleep(guard, &header.done_seq, &header.waiting_joiners, None)?;
        }
        drop(guard);
        Ok(())
    }
}

/// The queue's mutex, held.
struct Locked<'a> {
    segment: &'a Segment,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: this guard exists only while this thread holds the mutex.
        unsafe { libc::pthread_mutex_unlock(self.segment.header().mutex.get()) };
    }
}

/// Initializes a process-shared (and, where the platform has them, robust) mutex.
fn init_mutex(mutex: *mut libc::pthread_mutex_t) -> Result<()> {
    let check = |rc: libc::c_int, what: &'static str| {
        if rc == 0 {
            Ok(())
        } else {
            Err(Error::os(what, std::io::Error::from_raw_os_error(rc)))
        }
    };
    // SAFETY: `attr` is initialized before use and destroyed after; `mutex` points to zeroed
    // shared memory that nothing else uses yet.
    unsafe {
        let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
        check(
            libc::pthread_mutexattr_init(&mut attr),
            "pthread_mutexattr_init",
        )?;
        let configured = check(
            libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED),
            "pthread_mutexattr_setpshared",
        )
        .and_then(|()| {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            {
                /// `PTHREAD_MUTEX_ROBUST` (glibc, musl and bionic agree).
                const ROBUST: libc::c_int = 1;
                check(
                    libc::pthread_mutexattr_setrobust(&mut attr, ROBUST),
                    "pthread_mutexattr_setrobust",
                )
            }
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            Ok(())
        })
        .and_then(|()| check(libc::pthread_mutex_init(mutex, &attr), "pthread_mutex_init"));
        libc::pthread_mutexattr_destroy(&mut attr);
        configured
    }
}

/// Sets the file's length to hold `capacity` bytes of ring (plus the header page).
fn set_file_ring(fd: &OwnedFd, capacity: u64) -> Result<()> {
    let len = libc::off_t::try_from(DATA + capacity)
        .map_err(|_| Error::os("ftruncate of a queue", std::io::Error::other("too large")))?;
    nix::unistd::ftruncate(fd, len).map_err(|errno| Error::os("ftruncate of a queue", errno))
}

/// Frees the memory behind the ring's bytes `from..to`, keeping the file's length (Linux:
/// a hole punched in the `memfd`). Elsewhere the memory stays until the queue is gone.
fn release_memory(fd: &OwnedFd, from: u64, to: u64) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let (Ok(offset), Ok(len)) = (
            libc::off_t::try_from(DATA + from),
            libc::off_t::try_from(to - from),
        ) else {
            return;
        };
        // SAFETY: a plain system call on a descriptor we own; it touches no memory of ours.
        // Failing only keeps the memory.
        unsafe {
            libc::fallocate(
                fd.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset,
                len,
            )
        };
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = (fd, from, to);
}

/// An anonymous shared-memory file: a `memfd` on Linux, elsewhere an unlinked temporary file.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn anonymous_file() -> Result<OwnedFd> {
    // SAFETY: a NUL-terminated literal name; the new descriptor is owned by the `OwnedFd`.
    let fd = unsafe { libc::memfd_create(c"multiprocessing-queue".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::os(
            "memfd_create for a queue",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn anonymous_file() -> Result<OwnedFd> {
    use std::sync::atomic::AtomicUsize;
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    loop {
        let path = std::env::temp_dir().join(format!(
            "multiprocessing-queue-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Relaxed)
        ));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => {
                let _ = std::fs::remove_file(&path);
                return Ok(file.into());
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(Error::os("creating a queue's file", err)),
        }
    }
}

// ----- the public types -----

/// A FIFO queue between processes (CPython's `multiprocessing.Queue`): any number of
/// producers and consumers, in any processes that have it.
///
/// Items are serde values, serialized when [`put`](Self::put) is called. Pass the queue to a child
/// as a [`Process`](crate::Process) argument, under any start method; clones are handles to the
/// same queue. See the [module documentation](self) for the design and the delivery guarantee:
/// an item is in the queue when `put` returns.
///
/// ```no_run
/// use multiprocessing::{queue::Queue, Process};
///
/// #[multiprocessing::target]
/// fn produce(queue: Queue<u64>) -> multiprocessing::Result<()> {
///     for i in 0..100 {
///         queue.put(i)?;
///     }
///     Ok(())
/// }
///
/// fn main() -> multiprocessing::Result<()> {
///     multiprocessing::main_guard();
///     let queue = Queue::new()?;
///     let p = Process::new(produce, (queue.clone(),));
///     p.start()?;
///     let total: u64 = (0..100).map(|_| queue.get()).sum::<multiprocessing::Result<u64>>()?;
///     assert_eq!(total, 4950);
///     p.join()
/// }
/// ```
pub struct Queue<T> {
    segment: Arc<Segment>,
    _items: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue {
            segment: self.segment.clone(),
            _items: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header = self.segment.header();
        f.debug_struct("Queue")
            .field("maxsize", &header.maxsize.load(Relaxed))
            .field("qsize", &header.state().count.load(Relaxed))
            .field("closed", &self.segment.closed.load(Relaxed))
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// An unbounded queue (CPython's `Queue()`).
    pub fn new() -> Result<Queue<T>> {
        Queue::with_maxsize(0)
    }

    /// A queue of at most `maxsize` items (CPython's `Queue(maxsize)`); `0` means unbounded, as
    /// CPython's `maxsize <= 0` does.
    ///
    /// ```
    /// let queue = multiprocessing::queue::Queue::with_maxsize(1)?;
    /// queue.put_nowait(1u8)?;
    /// assert!(queue.full());
    /// assert!(matches!(
    ///     queue.put_nowait(2),
    ///     Err(multiprocessing::Error::Full { maxsize: 1 })
    /// ));
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn with_maxsize(maxsize: usize) -> Result<Queue<T>> {
        Ok(Queue {
            segment: Arc::new(Segment::create(maxsize)?),
            _items: PhantomData,
        })
    }

    /// Serializes `item` into this thread's put buffer (reused, so that bulk items are
    /// copied into memory already mapped) and puts it, waiting until `deadline`.
    fn encode_and_put(&self, item: &T, deadline: Option<Instant>) -> Result<()> {
        thread_local!(static BUFFER: std::cell::RefCell<Vec<u8>> = const {
            std::cell::RefCell::new(Vec::new())
        });
        /// A buffer larger than this is freed after its put, not kept for the next.
        const KEEP: usize = 16 << 20;
        let what = || {
            format!(
                "an item of type {} put on a queue",
                std::any::type_name::<T>()
            )
        };
        let put = |bytes: &mut Vec<u8>| {
            wire::encode_into(item, what, bytes)?;
            if RECORD_HEADER + bytes.len() as u64 > LIMIT {
                return Err(Error::Serialization {
                    what: what(),
                    reason: format!(
                        "its {} serialized bytes are more than a queue holds ({LIMIT} bytes)",
                        bytes.len()
                    ),
                });
            }
            self.segment.put_bytes(bytes, deadline)
        };
        BUFFER.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut bytes) => {
                let result = put(&mut bytes);
                if bytes.capacity() > KEEP {
                    *bytes = Vec::new();
                }
                result
            }
            // In use further up this thread's stack (a `Serialize` impl that puts): a fresh one.
            Err(_) => put(&mut Vec::new()),
        })
    }

    fn decode(bytes: Vec<u8>) -> Result<T> {
        wire::decode_owned(bytes, || "an item got from a queue".to_owned())
    }

    /// Puts an item, waiting for room in a bounded queue for as long as it takes (CPython's
    /// `put(obj)`). The item is serialized here: a failure is [`Error::Serialization`], and
    /// the queue is unchanged. After [`close`](Self::close), [`Error::InvalidOperation`].
    ///
    /// Takes the item or a reference to it (`impl Borrow<T>`), so a value the caller keeps
    /// needs no clone. The queue's item type must then be known from elsewhere (a type
    /// annotation, or the parameter type of the target the queue is passed to).
    ///
    /// ```
    /// let queue = multiprocessing::queue::Queue::<String>::new()?;
    /// let owned = "kept".to_string();
    /// queue.put(&owned)?;
    /// queue.put("moved".to_string())?;
    /// assert_eq!(queue.get()?, owned);
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn put(&self, item: impl Borrow<T>) -> Result<()> {
        self.encode_and_put(item.borrow(), None)
    }

    /// Puts an item, waiting at most `timeout` for room; then [`Error::Full`] (CPython's
    /// `put(obj, timeout=t)`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let queue = multiprocessing::queue::Queue::with_maxsize(1)?;
    /// queue.put_timeout(1u8, Duration::from_millis(1))?;
    /// assert!(queue.put_timeout(2u8, Duration::from_millis(1)).is_err());
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn put_timeout(&self, item: impl Borrow<T>, timeout: Duration) -> Result<()> {
        self.encode_and_put(item.borrow(), sys::deadline_after(timeout))
    }

    /// Puts an item if there is room now, else [`Error::Full`] (CPython's `put_nowait(obj)`).
    ///
    /// ```
    /// let queue = multiprocessing::queue::Queue::new()?;
    /// queue.put_nowait(1u8)?;
    /// assert_eq!(queue.get_nowait()?, 1);
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn put_nowait(&self, item: impl Borrow<T>) -> Result<()> {
        self.encode_and_put(item.borrow(), Some(Instant::now()))
    }

    /// Takes the oldest item, waiting for one for as long as it takes (CPython's `get()`).
    ///
    /// An item that does not deserialize as a `T` is [`Error::Deserialization`] naming `T`; it is
    /// consumed, and the queue stays usable. After [`close`](Self::close),
    /// [`Error::InvalidOperation`].
    ///
    /// ```
    /// let queue = multiprocessing::queue::Queue::<Vec<u16>>::new()?;
    /// queue.put(vec![1, 2])?;
    /// assert_eq!(queue.get()?, [1, 2]);
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn get(&self) -> Result<T> {
        Self::decode(self.segment.get_bytes(None)?)
    }

    /// Takes the oldest item, waiting at most `timeout` for one; then [`Error::Empty`] (CPython's
    /// `get(timeout=t)`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let queue = multiprocessing::queue::Queue::<u8>::new()?;
    /// assert!(matches!(
    ///     queue.get_timeout(Duration::from_millis(1)),
    ///     Err(multiprocessing::Error::Empty)
    /// ));
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        Self::decode(self.segment.get_bytes(sys::deadline_after(timeout))?)
    }

    /// Takes the oldest item if there is one now, else [`Error::Empty`] (CPython's
    /// `get_nowait()`).
    ///
    /// ```
    /// let queue = multiprocessing::queue::Queue::<u8>::new()?;
    /// assert!(matches!(queue.get_nowait(), Err(multiprocessing::Error::Empty)));
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn get_nowait(&self) -> Result<T> {
        Self::decode(self.segment.get_bytes(Some(Instant::now()))?)
    }
}

impl<T> Queue<T> {
    /// The number of items in the queue (CPython's `qsize()`): exact when read, stale as soon as
    /// another process puts or gets.
    ///
    /// ```
    /// let queue = multiprocessing::queue::Queue::new()?;
    /// queue.put(1u8)?;
    /// assert_eq!(queue.qsize(), 1);
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn qsize(&self) -> usize {
        self.segment.header().state().count.load(Relaxed) as usize
    }

    /// Whether the queue is empty (CPython's `empty()`); as stale as [`qsize`](Self::qsize).
    ///
    /// ```
    /// let queue = multiprocessing::queue::Queue::<u8>::new()?;
    /// assert!(queue.empty());
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether a bounded queue holds `maxsize` items (CPython's `full()`); as stale as
    /// [`qsize`](Self::qsize). Always false for an unbounded queue.
    ///
    /// ```
    /// let queue = multiprocessing::queue::Queue::<u8>::new()?;
    /// assert!(!queue.full());
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn full(&self) -> bool {
        let maxsize = self.maxsize();
        maxsize > 0 && self.qsize() >= maxsize
    }

    /// The bound given at creation; `0` for an unbounded queue.
    ///
    /// ```
    /// assert_eq!(multiprocessing::queue::Queue::<u8>::with_maxsize(3)?.maxsize(), 3);
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn maxsize(&self) -> usize {
        self.segment.header().maxsize.load(Relaxed) as usize
    }

    /// Says that this process will use the queue no more (CPython's `close()`): `put` and `get`
    /// through any handle of this process then fail with [`Error::InvalidOperation`]. Items already
    /// put stay in the queue for other processes: nothing needs flushing, as `put` wrote them
    /// to shared memory before it returned. Other processes are not affected.
    ///
    /// ```
    /// let queue = multiprocessing::queue::Queue::new()?;
    /// queue.put(1u8)?;
    /// queue.close();
    /// assert!(queue.put(2u8).is_err());
    /// assert_eq!(queue.qsize(), 1);
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn close(&self) {
        self.segment.closed.store(true, Relaxed);
    }

    /// CPython's `join_thread()`: waits for the feeder thread to flush. There is no feeder
    /// thread here, so it returns at once; like CPython, it is an error before
    /// [`close`](Self::close).
    ///
    /// ```
    /// let queue = multiprocessing::queue::Queue::<u8>::new()?;
    /// assert!(queue.join_thread().is_err());
    /// queue.close();
    /// queue.join_thread()?;
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn join_thread(&self) -> Result<()> {
        if self.segment.closed.load(Relaxed) {
            Ok(())
        } else {
            Err(Error::InvalidOperation(
                "join_thread() before close(): close the queue first".into(),
            ))
        }
    }

    /// CPython's `cancel_join_thread()`: there is no feeder thread to wait for, and items are
    /// never lost at exit, so it does nothing.
    ///
    /// ```
    /// multiprocessing::queue::Queue::<u8>::new()?.cancel_join_thread();
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn cancel_join_thread(&self) {}
}

/// A queue crosses into a child as a [`Process`](crate::Process) argument: its shared-memory
/// descriptor is handed over, and the child maps it.
impl<T> Serialize for Queue<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        struct Fd<'a>(&'a OwnedFd);
        impl Serialize for Fd<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                wire::serialize_fd(self.0.as_fd(), serializer)
            }
        }
        let segment = &*self.segment;
        let mut tuple = serializer.serialize_tuple(3)?;
        tuple.serialize_element(&Fd(&segment.fd))?;
        tuple.serialize_element(&Fd(&segment.ready_read))?;
        tuple.serialize_element(&Fd(&segment.ready_write))?;
        tuple.end()
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fd(OwnedFd);
        impl<'de> Deserialize<'de> for Fd {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                wire::deserialize_fd(deserializer).map(Fd)
            }
        }
        let (Fd(fd), Fd(read), Fd(write)) = <(Fd, Fd, Fd)>::deserialize(deserializer)?;
        let segment = Segment::attach(fd, (read, write)).map_err(serde::de::Error::custom)?;
        Ok(Queue {
            segment: Arc::new(segment),
            _items: PhantomData,
        })
    }
}

impl Segment {
    /// The readiness pipe's read end, for [`wait`](crate::connection::wait).
    fn readiness_fd(&self) -> Result<std::os::fd::RawFd> {
        self.check_open()?;
        Ok(self.ready_read.as_raw_fd())
    }

    /// Whether the queue holds an item; empties the readiness pipe first (its bytes only wake).
    fn ready_for_wait(&self) -> bool {
        let mut sink = [0u8; 64];
        while matches!(nix::unistd::read(&self.ready_read, &mut sink), Ok(n) if n > 0) {}
        self.header().state().count.load(Relaxed) > 0
    }

    fn wait_begin(&self) {
        self.header().pollers.fetch_add(1, SeqCst);
        // Paired with the fence in `put_bytes`: either that put sees this count, or the count
        // of items read after this sees its item.
        fence(SeqCst);
    }

    fn wait_end(&self) {
        let _ = self
            .header()
            .pollers
            .fetch_update(SeqCst, Relaxed, |n| n.checked_sub(1));
    }
}

/// A queue is ready for [`wait`](crate::connection::wait) when it holds an item (CPython
/// waits on a queue's `_reader` connection for that). `SimpleQueue` and `JoinableQueue` too.
macro_rules! waitable_queue {
    ($queue:ident, $($segment:tt)+) => {
        impl<T> crate::connection::Waitable for $queue<T> {
            fn wait_fd(&self) -> Result<std::os::fd::RawFd> {
                self.$($segment)+.readiness_fd()
            }

            fn ready_now(&self) -> bool {
                self.$($segment)+.ready_for_wait()
            }

            fn wait_begin(&self) {
                self.$($segment)+.wait_begin()
            }

            fn wait_end(&self) {
                self.$($segment)+.wait_end()
            }

            fn ready_when_readable(&self) -> bool {
                false
            }
        }

        impl<T> crate::connection::Waitable for &$queue<T> {
            fn wait_fd(&self) -> Result<std::os::fd::RawFd> {
                (**self).wait_fd()
            }

            fn ready_now(&self) -> bool {
                (**self).ready_now()
            }

            fn wait_begin(&self) {
                (**self).wait_begin()
            }

            fn wait_end(&self) {
                (**self).wait_end()
            }

            fn ready_when_readable(&self) -> bool {
                false
            }
        }
    };
}
waitable_queue!(Queue, segment);
waitable_queue!(SimpleQueue, queue.segment);
waitable_queue!(JoinableQueue, queue.segment);

/// A simplified queue (CPython's `multiprocessing.SimpleQueue`): unbounded, with blocking
/// [`put`](Self::put) and [`get`](Self::get), [`empty`](Self::empty) and [`close`](Self::close).
/// It is a [`Queue`] underneath, with the same guarantees.
///
/// ```
/// let queue = multiprocessing::queue::SimpleQueue::<String>::new()?;
/// queue.put("item".to_string())?;
/// assert!(!queue.empty());
/// assert_eq!(queue.get()?, "item");
/// # Ok::<(), multiprocessing::Error>(())
/// ```
pub struct SimpleQueue<T> {
    queue: Queue<T>,
}

impl<T> Clone for SimpleQueue<T> {
    fn clone(&self) -> Self {
        SimpleQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> std::fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("empty", &self.queue.empty())
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// A new, empty queue.
    pub fn new() -> Result<SimpleQueue<T>> {
        Ok(SimpleQueue {
            queue: Queue::new()?,
        })
    }

    /// Puts an item, serialized here (see [`Queue::put`]).
    pub fn put(&self, item: impl Borrow<T>) -> Result<()> {
        self.queue.put(item)
    }

    /// Takes the oldest item, waiting for one (see [`Queue::get`]).
    pub fn get(&self) -> Result<T> {
        self.queue.get()
    }
}

impl<T> SimpleQueue<T> {
    /// Whether the queue is empty (see [`Queue::empty`]).
    pub fn empty(&self) -> bool {
        self.queue.empty()
    }

    /// Closes this process's use of the queue (see [`Queue::close`]).
    pub fn close(&self) {
        self.queue.close()
    }
}

impl<T> Serialize for SimpleQueue<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.queue.serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for SimpleQueue<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Queue::deserialize(deserializer).map(|queue| SimpleQueue { queue })
    }
}

/// A [`Queue`] that also counts unfinished tasks (CPython's `multiprocessing.JoinableQueue`):
/// every [`put`](Queue::put) adds one, every [`task_done`](Self::task_done) removes one, and
/// [`join`](Self::join) waits until none is left. Every [`Queue`] method is available on it.
///
/// ```
/// let queue = multiprocessing::queue::JoinableQueue::new()?;
/// queue.put(1u8)?;
/// assert_eq!(queue.get()?, 1);
/// queue.task_done()?;
/// queue.join()?; // every task is done
/// assert!(queue.task_done().is_err());
/// # Ok::<(), multiprocessing::Error>(())
/// ```
pub struct JoinableQueue<T> {
    queue: Queue<T>,
}

impl<T> Clone for JoinableQueue<T> {
    fn clone(&self) -> Self {
        JoinableQueue {
            queue: self.queue.clone(),
        }
    }
}

impl<T> std::fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header = self.queue.segment.header();
        f.debug_struct("JoinableQueue")
            .field("maxsize", &header.maxsize.load(Relaxed))
            .field("qsize", &header.state().count.load(Relaxed))
            .field("unfinished", &header.state().unfinished.load(Relaxed))
            .finish()
    }
}

impl<T> std::ops::Deref for JoinableQueue<T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// An unbounded joinable queue.
    pub fn new() -> Result<JoinableQueue<T>> {
        JoinableQueue::with_maxsize(0)
    }

    /// A joinable queue of at most `maxsize` items; `0` means unbounded.
    pub fn with_maxsize(maxsize: usize) -> Result<JoinableQueue<T>> {
        Ok(JoinableQueue {
            queue: Queue::with_maxsize(maxsize)?,
        })
    }
}

impl<T> JoinableQueue<T> {
    /// Marks one task done (CPython's `task_done()`): call it once per item got, when its work
    /// is finished. Called more times than items were put: [`Error::InvalidOperation`].
    pub fn task_done(&self) -> Result<()> {
        self.queue.segment.task_done()
    }

    /// Waits until every item put has been marked done with [`task_done`](Self::task_done)
    /// (CPython's `join()`).
    pub fn join(&self) -> Result<()> {
        self.queue.segment.join()
    }
}

impl<T> Serialize for JoinableQueue<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.queue.serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for JoinableQueue<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Queue::deserialize(deserializer).map(|queue| JoinableQueue { queue })
    }
}

/// A fuzz target (`fuzz.rs`): `bytes` as a script of operations on a fresh queue, two bytes each
/// and their arguments: put an item of up to 256 KiB (growing and wrapping the ring), get
/// without waiting, or a stray write of 4 or 8 bytes into the header (the mutex spared) or the
/// first record's length. Every operation must return.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_script(bytes: &[u8]) {
    let Ok(queue) = Queue::<String>::new() else {
        return;
    };
    let mutex = std::mem::offset_of!(Header, mutex);
    let mutex = mutex..mutex + std::mem::size_of::<libc::pthread_mutex_t>();
    let mut input = bytes.iter().copied();
    let mut next = || input.next();
    while let (Some(op), Some(arg)) = (next(), next()) {
        match op % 4 {
            0 => {
                let len = usize::from(arg) * 1024 + usize::from(next().unwrap_or(0));
                let _ = queue.put_nowait("q".repeat(len));
            }
            1 => drop(queue.get_nowait()),
            2 => {
                let offset = usize::from(arg) * 4 % (std::mem::size_of::<Header>() + 8);
                let offset = if offset >= std::mem::size_of::<Header>() {
                    DATA as usize
                } else {
                    offset
                };
                if mutex.contains(&offset) {
                    continue;
                }
                let mut value = [0u8; 8];
                for byte in &mut value {
                    *byte = next().unwrap_or(0);
                }
                let at = queue.segment.base.as_ptr().wrapping_add(offset);
                // SAFETY: inside the header page or the ring's first bytes (the file holds at
                // least 64 KiB of ring); the stray write under test, with no other user around.
                unsafe {
                    if offset % 8 == 0 && arg % 2 == 0 {
                        at.cast::<u64>().write_volatile(u64::from_le_bytes(value));
                    } else {
                        let word = [value[0], value[1], value[2], value[3]];
                        at.cast::<u32>().write_volatile(u32::from_le_bytes(word));
                    }
                }
            }
            _ => drop((queue.qsize(), queue.full(), queue.empty())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stray write into the mapping: every 4-byte word of the header (but the mutex's) and the
    /// first record's length, set to each of a few hostile values, 32 and 64 bits wide, in a
    /// queue holding items. Every operation then returns, an item or an error: never a signal,
    /// a panic or a hang.
    #[test]
    fn a_corrupted_header_is_an_error_never_a_crash() {
        let mutex = std::mem::offset_of!(Header, mutex);
        let mutex = mutex..mutex + std::mem::size_of::<libc::pthread_mutex_t>();
        let values: [u64; 18] = [
            0,
            1,
            7,
            8,
            9,
            4095,
            4096,
            65535,
            65536,
            65537,
            1 << 22,
            1 << 31,
            1 << 32,
            (1 << 32) + 1,
            u64::MAX / 2,
            u64::MAX - 7,
            u64::MAX - 1,
            u64::MAX,
        ];
        let header = std::mem::size_of::<Header>();
        let offsets = (0..header)
            .step_by(4)
            .filter(|o| !mutex.contains(o))
            .chain([DATA as usize]);
        let mut corrupt = 0;
        for offset in offsets {
            for value in values {
                for wide in [false, true] {
                    if wide && offset % 8 != 0 {
                        continue;
                    }
                    let queue = Queue::<String>::new().unwrap();
                    for i in 0..3 {
                        queue.put("x".repeat(i * 100)).unwrap();
                    }
                    let at = queue.segment.base.as_ptr().wrapping_add(offset);
                    // SAFETY: inside the mapping's header page or the ring's first bytes;
                    // this is the stray write under test, done with no other user around.
                    unsafe {
                        if wide {
                            at.cast::<u64>().write_volatile(value);
                        } else {
                            at.cast::<u32>().write_volatile(value as u32);
                        }
                    }
                    // Whatever they return, they return.
                    for _ in 0..4 {
                        let _ = queue.get_nowait();
                    }
                    let _ = queue.put_nowait("y".repeat(200_000));
                    let _ = (queue.get_nowait(), queue.qsize(), queue.full());
                    corrupt += usize::from(matches!(queue.get_nowait(), Err(Error::Corrupt(_))));
                }
            }
        }
        // The hostile values to the state in force are caught, not just survived.
        assert!(corrupt > 100, "only {corrupt} corruptions were reported");
    }
}
