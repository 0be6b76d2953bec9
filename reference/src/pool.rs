//! Process pools (CPython's `multiprocessing.Pool`): a fixed number of worker processes that run
//! tasks and send their results back.
//!
//! ```no_run
//! use multiprocessing::pool::Pool;
//!
//! #[multiprocessing::target] // lets a spawned worker find the function by name
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! fn main() -> multiprocessing::Result<()> {
//!     multiprocessing::main_guard();
//!     let pool = Pool::new(Some(4))?;
//!     assert_eq!(pool.map(square, 0..5u64, None)?, [0, 1, 4, 9, 16]);
//!     let sum: u64 = pool.imap_unordered(square, 0..100u64, None)?.map(|r| r.unwrap()).sum();
//!     assert_eq!(sum, 328_350);
//!     Ok(()) // dropping the pool terminates its workers, as Python's `with Pool(...)`
//! }
//! ```
//!
//! A task is a function: a `#[multiprocessing::target]` function under every start method (it
//! crosses by name, as pickle sends a function), or, under `fork` only, also a closure that
//! captures nothing. Its arguments and its result cross through serde. A task that panics fails
//! with [`Error::TaskFailed`], carrying the worker's panic message and location (CPython
//! re-raises the exception); an argument or result that cannot be serialized fails that task
//! with [`Error::Serialization`] (CPython: `PicklingError`, `MaybeEncodingError`).
//!
//! **A killed worker never hangs anyone** (a deliberate difference from CPython, whose `map`
//! waits for ever then, `conformance/SPEC.md` section 12): the tasks it was running fail with
//! [`Error::WorkerLost`], the pool starts a new worker, and the other tasks go on.
//!
//! # Design
//!
//! Each worker has a duplex [`Connection`] of its own to the pool, and the pool knows which
//! chunks each worker holds. A caller's thread encodes its tasks and hands chunks to idle
//! workers itself; one handler thread per pool notices dead workers (by their sentinels),
//! replaces them, and receives the results and hands out the next chunks while no caller waits.
//! A caller that waits (`apply`, `map`, `get`, an iterator's `next`) receives them itself, as
//! the *leader* (`Engine::wait_until`): a result then reaches it in one wake-up, not two. A
//! waiter whose answer is due within microseconds polls briefly before it sleeps, where another
//! CPU can run the worker (`SPIN`).
//!
//! A worker holds one chunk at a time when chunks are slow, more when they have been quick, so
//! tiny tasks travel many to a message. A worker answers each chunk before starting the next,
//! and records in a shared word how many it has started: when it dies, the pool knows the one
//! chunk it was running (that one fails) and gives the chunks it had not started to another
//! worker.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{Read, Write};
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::ByteBuf;

use crate::connection::{pipe, Connection, Waitable};
use crate::context::{Context, StartMethod};
use crate::error::{Error, Result};
use crate::process::Process;
use crate::shared::RawValue;
use crate::target::{self, FuncRef, Task, TaskError, TaskFn};
use crate::{sys, wire};

// ----- what crosses between the pool and a worker -----

/// The pool's messages to a worker, as sent (borrowing the chunks).
#[derive(Serialize)]
enum RequestOut<'a> {
    Run(Vec<ChunkOut<'a>>),
    Exit,
}

/// The pool's messages to a worker, as received.
#[derive(Deserialize)]
enum RequestIn {
    Run(Vec<ChunkIn>),
    Exit,
}

/// A chunk: `count` tasks of one function, their encoded argument tuples one after the other.
#[derive(Serialize)]
struct ChunkOut<'a> {
    job: u64,
    index: u64,
    func: &'a FuncRef,
    count: u64,
    args: &'a ByteBuf,
}

#[derive(Deserialize)]
struct ChunkIn {
    job: u64,
    index: u64,
    func: FuncRef,
    count: u64,
    args: ByteBuf,
}

/// A worker's answer for one chunk: each task's outcome (`target::push_outcome`), and the time
/// the chunk took.
#[derive(Serialize, Deserialize)]
struct Reply {
    job: u64,
    index: u64,
    outcomes: ByteBuf,
    nanos: u64,
}

/// The initializer a worker runs first (CPython's `initializer` and `initargs`). Its arguments
/// are encoded once, with the descriptors of the IPC objects among them, so a queue or a lock
/// can reach the workers this way, as in CPython.
#[derive(Clone)]
pub(crate) struct WorkerInit {
    func: FuncRef,
    args: Vec<u8>,
    /// The descriptors `args` refers to, by index: borrowed from the arguments the pool keeps
    /// alive (the parent), or inherited (a `fork` worker).
    sent: Vec<RawFd>,
    /// The same descriptors as handed to a `spawn` or `forkserver` worker.
    received: Arc<Mutex<Vec<OwnedFd>>>,
}

/// A descriptor as a Process argument (`wire::serialize_fd`).
struct FdArg(RawFd);

impl Serialize for FdArg {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        // SAFETY: the pool keeps the initializer's arguments, which own this descriptor, alive
        // for as long as it starts workers.
        wire::serialize_fd(unsafe { BorrowedFd::borrow_raw(self.0) }, serializer)
    }
}

impl Serialize for WorkerInit {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let fds: Vec<FdArg> = self.sent.iter().map(|&fd| FdArg(fd)).collect();
        (&self.func, ByteBuf::from(self.args.clone()), fds).serialize(serializer)
    }
}

struct FdIn(OwnedFd);

impl<'de> Deserialize<'de> for FdIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        wire::deserialize_fd(deserializer).map(FdIn)
    }
}

impl<'de> Deserialize<'de> for WorkerInit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let (func, args, fds): (FuncRef, ByteBuf, Vec<FdIn>) =
            Deserialize::deserialize(deserializer)?;
        Ok(WorkerInit {
            func,
            args: args.into_vec(),
            sent: Vec::new(),
            received: Arc::new(Mutex::new(fds.into_iter().map(|FdIn(fd)| fd).collect())),
        })
    }
}

impl WorkerInit {
    /// Runs the initializer in a worker.
    fn run(self) -> std::result::Result<(), String> {
        let mut fds = std::mem::take(&mut *lock(&self.received));
        if fds.is_empty() {
            // A `fork` worker: the descriptors are its inherited copies, now its own.
            // SAFETY: this process is a forked worker; the numbers in `sent` were open in the
            // parent at the fork, so they are open here, and only what the initializer's
            // arguments decode to uses them.
            fds = self
                .sent
                .iter()
                .map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) })
                .collect();
        }
        wire::receive_fds(fds);
        let entry = target::resolve(&self.func).map_err(|e| format!("{e:?}"))?;
        let mut out = Vec::new();
        entry(&self.args, 1, &mut out);
        match target::split_outcomes(&out).first() {
            Some((true, _)) => Ok(()),
            Some((false, range)) => match postcard::from_bytes::<TaskError>(&out[range.clone()]) {
                Ok(TaskError::Panicked { message, location }) => Err(format!(
                    "the initializer panicked{}: {message}",
                    location.map(|l| format!(" at {l}")).unwrap_or_default()
                )),
                Ok(other) => Err(format!("the initializer failed: {other:?}")),
                Err(err) => Err(format!("the initializer failed: {err}")),
            },
            None => Err("the initializer returned nothing".to_owned()),
        }
    }
}

// ----- spinning before sleeping -----

/// How long a waiter polls without sleeping when its answer is due within that time: a worker
/// that just answered a request of one quick chunk, for the next request; the leader, for the
/// reply to quick chunks (why spinning pays: [`sys::SPIN`]).
const SPIN: Duration = Duration::from_micros(50);

/// Polls `fds` without sleeping until one is ready or [`SPIN`] has passed; whether one is.
fn spin_poll(fds: &mut [libc::pollfd]) -> bool {
    sys::spin_poll(fds, SPIN)
}

// ----- the worker -----

/// A worker's main loop (CPython's `multiprocessing.pool.worker`): run the initializer, then
/// answer chunks until told to exit, the pool goes away, or `maxtasks` chunks are done.
fn worker_main(
    mut conn: Connection,
    started: RawValue<u64>,
    init: Option<WorkerInit>,
    maxtasks: Option<u64>,
) -> std::result::Result<(), String> {
    target::install_task_panic_hook();
    if let Some(init) = init {
        init.run()?;
    }
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    // Readable once the pool's process (this one's parent) ends; `getppid` after the open
    // rules out a parent that ended first. Without one, the worker looks every second.
    // SAFETY: getppid has no preconditions.
    let lifeline = sys::pidfd_open(parent).filter(|_| unsafe { libc::getppid() } == parent);
    let mut done = 0u64;
    let mut functions: HashMap<FuncRef, std::result::Result<TaskFn, TaskError>> = HashMap::new();
    let spin = sys::can_spin();
    let mut quick = false;
    loop {
        // After a quick chunk the next request is likely due at once: look for it awhile
        // before sleeping.
        if spin && quick {
            if let Ok(fd) = conn.fileno() {
                spin_poll(&mut [sys::wait_for(fd)]);
            }
        }
        // Wait for work, and leave if the pool's process is gone (a `fork` sibling may hold a
        // copy of this connection's other end, so its end of file is not enough).
        match &lifeline {
            Some(lifeline) if !conn.ready_now() => {
                let mut fds = [
                    conn.fileno().map_err(|e| e.to_string())?,
                    lifeline.as_raw_fd(),
                ]
                .map(sys::wait_for);
                // No timeout: a sleeping poll arms no timer (costly on a virtual machine).
                // SAFETY: `fds` is a valid array of pollfd; both descriptors are open.
                while unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
                    let err = std::io::Error::last_os_error();
                    if err.kind() != std::io::ErrorKind::Interrupted {
                        return Err(format!("poll for work: {err}"));
                    }
                }
                if fds[0].revents == 0 {
                    return Ok(());
                }
            }
            Some(_) => {}
            None => {
                while !conn
                    .poll(Some(Duration::from_secs(1)))
                    .map_err(|e| e.to_string())?
                {
                    // SAFETY: getppid has no preconditions.
                    if unsafe { libc::getppid() } != parent {
                        return Ok(());
                    }
                }
            }
        }
        let chunks = match conn.recv::<RequestIn>() {
            Ok(RequestIn::Run(chunks)) => chunks,
            Ok(RequestIn::Exit) | Err(Error::Eof) => return Ok(()),
            Err(err) => return Err(err.to_string()),
        };
        // A request of one quick chunk is a caller waiting for it (`apply`), who may send the
        // next at once; a worker given many chunks at a time is fed faster than it answers,
        // and the pool's process needs the CPU more than a spinning worker does.
        let single = chunks.len() == 1;
        for chunk in chunks {
            // Before running it: if this process dies, the pool knows which chunks it had not
            // started, and gives them to another worker.
            started.set(done + 1);
            let began = Instant::now();
            let entry = functions
                .entry(chunk.func.clone())
                .or_insert_with(|| target::resolve(&chunk.func))
                .clone();
            let count = chunk.count as usize;
            let mut outcomes = Vec::new();
            match &entry {
                Ok(entry) => entry(&chunk.args, count, &mut outcomes),
                Err(err) => {
                    for _ in 0..count {
                        target::push_outcome(&mut outcomes, Err(err));
                    }
                }
            }
            // Answered before the next chunk starts: if this process dies, only the chunk it
            // was running is lost (see `Engine::reap`).
            let took = began.elapsed();
            quick = single && took < SPIN;
            let reply = Reply {
                job: chunk.job,
                index: chunk.index,
                outcomes: ByteBuf::from(outcomes),
                nanos: took.as_nanos() as u64,
            };
            conn.send(std::slice::from_ref(&reply))
                .map_err(|e| e.to_string())?;
            done += 1;
        }
        let last = maxtasks.is_some_and(|max| done >= max);
        if last {
            return Ok(());
        }
    }
}

#[linkme::distributed_slice(target::TARGETS)]
static WORKER: target::TargetEntry = target::TargetEntry {
    name: || std::any::type_name_of_val(&worker_main),
    run: |bytes| target::run_registered(worker_main, bytes),
    task: |_, count, out| target::not_a_task("the pool's worker", count, out),
};

// ----- the pool's side -----

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The state of an engine, locked (for the executor's futures).
pub(crate) fn lock_state(engine: &Engine) -> MutexGuard<'_, State> {
    lock(&engine.state)
}

/// Why a task has no result, kept so that every `get` can report it.
#[derive(Clone)]
pub(crate) enum Failure {
    Task(TaskError, String),
    Lost {
        process: String,
        pid: i32,
        exitcode: Option<i32>,
    },
    Broken(String),
    Serialization {
        what: String,
        reason: String,
    },
    Cancelled,
    Terminated,
}

impl Failure {
    pub(crate) fn to_error(&self) -> Error {
        match self.clone() {
            Failure::Task(err, process) => err.into_error(&process),
            Failure::Lost {
                process,
                pid,
                exitcode,
            } => Error::WorkerLost {
                process,
                pid,
                exitcode,
            },
            Failure::Broken(message) => Error::BrokenProcessPool(message),
            Failure::Serialization { what, reason } => Error::Serialization { what, reason },
            Failure::Cancelled => Error::Cancelled,
            Failure::Terminated => Error::InvalidOperation(
                "the pool was terminated before this task finished".to_owned(),
            ),
        }
    }
}

/// A task's encoded result: a range of one of its job's reply buffers (`Job::replies`).
#[derive(Clone, Copy)]
pub(crate) struct Payload {
    reply: usize,
    start: usize,
    end: usize,
}

/// A task's outcome. A failure is shared by the tasks it ended (a dead worker's chunk, a
/// terminate), so that failing many costs a reference count each.
type Slot = std::result::Result<Payload, Arc<Failure>>;

/// The tasks of one call (`map`, `apply_async`, `submit`, ...) and their results so far.
pub(crate) struct Job {
    slots: Vec<Option<Slot>>,
    /// The replies the results are in, each with how many of its results are not yet taken
    /// (an iterator frees a reply once it took them all).
    replies: Vec<(Vec<u8>, usize)>,
    remaining: usize,
    /// Indices completed and not yet taken by an `imap_unordered` consumer, as runs.
    completed: VecDeque<std::ops::Range<usize>>,
    /// Async waiters (`executor::Future` polled from async code).
    wakers: Vec<Waker>,
    /// Some chunk of it reached a worker (an executor future is then running).
    started: bool,
    cancelled: bool,
}

impl Job {
    /// Records the outcome of task `index`, unless it has one; whether it did.
    fn finish(&mut self, index: usize, slot: Slot) -> bool {
        let Some(place) = self.slots.get_mut(index) else {
            return false;
        };
        if place.is_some() {
            return false;
        }
        *place = Some(slot);
        self.remaining -= 1;
        match self.completed.back_mut() {
            Some(run) if run.end == index => run.end += 1,
            _ => self.completed.push_back(index..index + 1),
        }
        if self.remaining == 0 {
            for waker in self.wakers.drain(..) {
                waker.wake();
            }
        }
        true
    }
}

struct Chunk {
    job: u64,
    index: usize,
    func: Arc<FuncRef>,
    count: usize,
    args: ByteBuf,
}

struct Worker {
    process: Process,
    conn: Connection,
    /// How many chunks it has started, written by the worker before each.
    started: RawValue<u64>,
    name: String,
    pid: i32,
    sentinel: RawFd,
    /// The chunks it holds, in the order handed out (kept until answered, to hand them to
    /// another worker if this one dies before starting them).
    in_flight: VecDeque<Chunk>,
    /// Chunks handed to it, against `maxtasks`.
    assigned: u64,
    /// Its connection reached the end (it exited or is exiting).
    gone: bool,
    /// Its sentinel was ready: it ended.
    ended: bool,
    /// The handler thread's poll watches its connection (else a new chunk must wake it).
    watched: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Running,
    Closed,
    Terminating,
    Stopped,
}

/// Whether this is a `Pool` or an executor: an executor breaks when a worker dies.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Pool,
    Executor,
}

pub(crate) struct State {
    workers: Vec<Worker>,
    pending: VecDeque<Chunk>,
    pub(crate) jobs: HashMap<u64, Job>,
    next_job: u64,
    phase: Phase,
    /// The executor is broken: why.
    broken: Option<String>,
    /// How long a chunk took in a worker, smoothed (nanoseconds), for how many to hand out.
    chunk_nanos: f64,
    /// Kill rather than terminate the workers at `Terminating`.
    kill: bool,
    /// A caller's thread that waits for a result receives the replies itself (see
    /// [`Engine::wait_until`]): the handler thread leaves the connections to it meanwhile.
    leader: Option<ThreadId>,
    /// Threads waiting on `Engine::changed` (so that nobody signals it in vain).
    waiters: usize,
}

/// Who hands out chunks (see [`Engine::dispatch`]): whoever receives the replies of a busy
/// worker must be told when it is not the one dispatching.
#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Handler,
    Leader,
    Caller,
}

/// What `Pool` and `Executor` share: the workers, the queue of chunks, the results.
pub(crate) struct Engine {
    pub(crate) state: Mutex<State>,
    pub(crate) changed: Condvar,
    wake_tx: File,
    wake_rx: File,
    /// Wakes the leader (a caller receiving replies) when the handler changed something.
    leader_tx: File,
    leader_rx: File,
    /// The leader may spin for quick replies ([`can_spin`], at the start).
    spin: bool,
    context: Context,
    flavor: Flavor,
    init: Option<WorkerInit>,
    /// Keeps the initializer's arguments (and the IPC objects among them) alive.
    _init_args: Option<Box<dyn std::any::Any + Send + Sync>>,
    maxtasks: Option<u64>,
    processes: usize,
    handler: Mutex<Option<JoinHandle<()>>>,
}

/// The most chunks a worker holds at a time, by how long chunks take. Chunks of a millisecond
/// or more go one at a time, as from CPython's shared queue: a worker that dies then loses only
/// the chunk it was running. Quicker chunks queue up in a worker, so that many travel in one
/// message (a worker that dies then fails the ones it held too).
fn depth(chunk_nanos: f64) -> usize {
    if chunk_nanos < 20_000.0 {
        128
    } else if chunk_nanos < 1_000_000.0 {
        4
    } else {
        1
    }
}

/// An initializer as given to a builder: the function and its encoded arguments.
pub(crate) struct InitSpec {
    init: WorkerInit,
    args: Box<dyn std::any::Any + Send + Sync>,
}

/// Encodes an initializer for workers started with `method`.
pub(crate) fn init_spec<F, A>(method: StartMethod, func: F, args: A) -> Result<InitSpec>
where
    F: Task<A, Output = ()>,
    A: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let _ = func;
    let func = target::func_ref::<F, A>(method == StartMethod::Fork)?;
    let (bytes, fds) = wire::encode_with_fds(&args, || {
        format!(
            "the arguments of initializer '{}'",
            std::any::type_name::<F>()
        )
    })?;
    Ok(InitSpec {
        init: WorkerInit {
            func,
            args: bytes,
            sent: fds,
            received: Arc::new(Mutex::new(Vec::new())),
        },
        args: Box::new(args),
    })
}

impl Engine {
    pub(crate) fn start(
        flavor: Flavor,
        context: Option<Context>,
        processes: Option<usize>,
        init: Option<InitSpec>,
        maxtasks: Option<u64>,
    ) -> Result<Arc<Engine>> {
        let processes = processes.unwrap_or_else(crate::cpu_count);
        if processes == 0 {
            return Err(Error::InvalidOperation(
                "Number of processes must be at least 1".to_owned(),
            ));
        }
        if maxtasks == Some(0) {
            return Err(Error::InvalidOperation(
                "maxtasksperchild must be a positive integer or None".to_owned(),
            ));
        }
        let context = match context {
            Some(context) => context,
            None => Context::new(crate::context::resolve_default())?,
        };
        let (wake_rx, wake_tx) = sys::pipe(true).map_err(|e| Error::os("pipe", e))?;
        let (leader_rx, leader_tx) = sys::pipe(true).map_err(|e| Error::os("pipe", e))?;
        let (init, init_args) = match init {
            Some(InitSpec { init, args }) => (Some(init), Some(args)),
            None => (None, None),
        };
        let engine = Arc::new(Engine {
            state: Mutex::new(State {
                workers: Vec::new(),
                pending: VecDeque::new(),
                jobs: HashMap::new(),
                next_job: 0,
                phase: Phase::Running,
                broken: None,
                chunk_nanos: 1e7,
                kill: false,
                leader: None,
                waiters: 0,
            }),
            changed: Condvar::new(),
            wake_tx: File::from(wake_tx),
            wake_rx: File::from(wake_rx),
            leader_tx: File::from(leader_tx),
            leader_rx: File::from(leader_rx),
            spin: sys::can_spin(),
            context,
            flavor,
            init,
            _init_args: init_args,
            maxtasks,
            processes,
            handler: Mutex::new(None),
        });
        // The first workers start before the handler thread exists, so a `fork` start happens
        // while this process has no thread of ours (CPython's Pool does the same).
        {
            let mut state = lock(&engine.state);
            for _ in 0..processes {
                match engine.new_worker() {
                    Ok(worker) => state.workers.push(worker),
                    Err(err) => {
                        engine.stop_workers(&mut state, true);
                        return Err(err);
                    }
                }
            }
        }
        let for_thread = Arc::clone(&engine);
        let handler = std::thread::Builder::new()
            .name("multiprocessing-pool".to_owned())
            .spawn(move || for_thread.handle())
            .map_err(|e| Error::os("spawn the pool's handler thread", e))?;
        *lock(&engine.handler) = Some(handler);
        Ok(engine)
    }

    pub(crate) fn start_method(&self) -> StartMethod {
        self.context.start_method()
    }

    pub(crate) fn processes(&self) -> usize {
        self.processes
    }

    fn new_worker(&self) -> Result<Worker> {
        let (ours, theirs) = pipe(true)?;
        let started = RawValue::new(0u64)?;
        let mut process = Process::with_context(
            Some(self.context),
            worker_main,
            (theirs, started.clone(), self.init.clone(), self.maxtasks),
        )
        .with_daemon(true);
        if self.flavor == Flavor::Pool {
            // CPython: `ForkProcess-3` becomes `ForkPoolWorker-3`.
            let name = process.name().replacen("Process", "PoolWorker", 1);
            process = process.with_name(name);
        }
        process.start()?;
        Ok(Worker {
            name: process.name(),
            pid: process.pid()?.unwrap_or(0),
            sentinel: process.sentinel()?,
            process,
            conn: ours,
            started,
            in_flight: VecDeque::new(),
            assigned: 0,
            gone: false,
            ended: false,
            watched: false,
        })
    }

    fn wake(&self) {
        let _ = (&self.wake_tx).write(&[1]);
    }

    /// Wakes the leader, if another thread is one, to look at the state again.
    fn tell_leader(&self, state: &State) {
        if state
            .leader
            .is_some_and(|leader| leader != std::thread::current().id())
        {
            let _ = (&self.leader_tx).write(&[1]);
        }
    }

    /// A new job of `n` tasks.
    pub(crate) fn new_job(&self, state: &mut State, n: usize) -> u64 {
        let id = state.next_job;
        state.next_job += 1;
        state.jobs.insert(
            id,
            Job {
                slots: (0..n).map(|_| None).collect(),
                replies: Vec::new(),
                remaining: n,
                completed: VecDeque::new(),
                wakers: Vec::new(),
                started: false,
                cancelled: false,
            },
        );
        id
    }

    /// Whether new work is accepted; the error otherwise.
    pub(crate) fn check_running(&self, state: &State) -> Result<()> {
        if let Some(reason) = &state.broken {
            return Err(Error::BrokenProcessPool(reason.clone()));
        }
        match (state.phase, self.flavor) {
            (Phase::Running, _) => Ok(()),
            (_, Flavor::Pool) => Err(Error::InvalidOperation(
                "Pool not running: it was closed or terminated".to_owned(),
            )),
            (_, Flavor::Executor) => Err(Error::InvalidOperation(
                "cannot schedule new futures after shutdown".to_owned(),
            )),
        }
    }

    /// Submits the tasks of `items` (argument tuples) in chunks of `chunksize`, as one job: its
    /// id and size. With `lead`, a caller that goes on to wait for the job at once (`apply`,
    /// `map`) becomes the leader before the chunks leave, unless another thread is (the third
    /// value says whether it did): it then passes `true` to [`wait_until`](Self::wait_until).
    pub(crate) fn submit<F, A>(
        &self,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        lead: bool,
    ) -> Result<(u64, usize, bool)>
    where
        F: Task<A>,
        A: Serialize + DeserializeOwned,
        F::Output: Serialize,
    {
        let func = Arc::new(target::func_ref::<F, A>(
            self.start_method() == StartMethod::Fork,
        )?);
        let name = std::any::type_name::<F>();
        let items: Vec<A> = items.into_iter().collect();
        let n = items.len();
        let chunksize = chunksize.unwrap_or_else(|| {
            // CPython: divmod(len, processes * 4), rounded up.
            n.div_ceil(self.processes * 4).max(1)
        });
        let mut state = lock(&self.state);
        self.check_running(&state)?;
        let leading = lead && state.leader.is_none();
        if leading {
            state.leader = Some(std::thread::current().id());
        }
        let id = self.new_job(&mut state, n);
        let by = if leading { By::Leader } else { By::Caller };
        for (chunk, items) in items.chunks(chunksize).enumerate() {
            let start = chunk * chunksize;
            match encode_chunk(items, name) {
                Ok(args) => {
                    state.pending.push_back(Chunk {
                        job: id,
                        index: start,
                        func: Arc::clone(&func),
                        count: items.len(),
                        args,
                    });
                    // An idle worker starts on this chunk while the next ones are encoded.
                    if state
                        .workers
                        .iter()
                        .any(|w| !w.gone && w.in_flight.is_empty())
                    {
                        self.dispatch(&mut state, by);
                    }
                }
                // CPython fails the chunk an argument of which cannot be pickled.
                Err(failure) => {
                    let failure = Arc::new(failure);
                    let job = state.jobs.get_mut(&id).expect("inserted above");
                    for index in start..start + items.len() {
                        job.finish(index, Err(Arc::clone(&failure)));
                    }
                }
            }
        }
        self.dispatch(&mut state, by);
        self.notify(state);
        Ok((id, n, leading))
    }

    /// Hands pending chunks to workers that have room, and makes sure that whoever receives the
    /// replies (the leader, else the handler thread) watches those workers.
    fn dispatch(&self, state: &mut State, by: By) {
        if state.pending.is_empty() {
            return;
        }
        let depth = depth(state.chunk_nanos);
        // The receiver's poll does not cover a worker just given work, or a reply the send
        // buffered (only `ready_now` sees it).
        let mut stale = false;
        // One chunk to each idle worker first, then fill up to the depth.
        for limit in [1, depth] {
            for w in 0..state.workers.len() {
                let worker = &state.workers[w];
                if worker.gone || worker.in_flight.len() >= limit {
                    continue;
                }
                let budget = self
                    .maxtasks
                    .map_or(usize::MAX, |max| (max - worker.assigned.min(max)) as usize);
                let room = (limit - worker.in_flight.len()).min(budget);
                let mut batch = Vec::new();
                while batch.len() < room {
                    let Some(chunk) = state.pending.pop_front() else {
                        break;
                    };
                    // A chunk whose handle was dropped still runs (as in CPython: its side
                    // effects may be the point); a cancelled one does not.
                    if state.jobs.get(&chunk.job).is_some_and(|job| job.cancelled) {
                        continue;
                    }
                    batch.push(chunk);
                }
                if batch.is_empty() {
                    continue;
                }
                let message = RequestOut::Run(
                    batch
                        .iter()
                        .map(|chunk| ChunkOut {
                            job: chunk.job,
                            index: chunk.index as u64,
                            func: &chunk.func,
                            count: chunk.count as u64,
                            args: &chunk.args,
                        })
                        .collect(),
                );
                let worker = &mut state.workers[w];
                let sent = worker.conn.send(&message);
                drop(message);
                if sent.is_err() {
                    // The worker is dying; the handler will see its sentinel. Put the chunks
                    // back for another worker.
                    worker.gone = true;
                    for chunk in batch.into_iter().rev() {
                        state.pending.push_front(chunk);
                    }
                    stale = true;
                    continue;
                }
                stale |= worker.conn.ready_now() || !worker.watched;
                worker.assigned += batch.len() as u64;
                for chunk in &batch {
                    if let Some(job) = state.jobs.get_mut(&chunk.job) {
                        job.started = true;
                    }
                }
                state.workers[w].in_flight.extend(batch);
                if state.pending.is_empty() {
                    break;
                }
            }
        }
        if !stale {
            return;
        }
        // The leader and the handler look at every worker again before they next poll; a
        // leader is told by the caller's `notify`.
        if by == By::Caller && state.leader.is_none() {
            self.wake();
        }
    }

    /// The handler thread: results, dead workers, replacements, shutdown.
    fn handle(&self) {
        let mut drain = [0u8; 64];
        loop {
            let mut state = lock(&self.state);
            self.receive(&mut state);
            self.reap(&mut state);
            match state.phase {
                Phase::Terminating => {
                    let kill = state.kill;
                    self.stop_workers(&mut state, kill);
                    let failure = match self.flavor {
                        Flavor::Pool => Failure::Terminated,
                        Flavor::Executor => {
                            let reason =
                                "the executor's workers were terminated (terminate_workers \
                                          or kill_workers) before this future finished";
                            state.broken.get_or_insert_with(|| reason.to_owned());
                            Failure::Broken(reason.to_owned())
                        }
                    };
                    self.fail_all(&mut state, failure);
                    state.phase = Phase::Stopped;
                    self.notify(state);
                    return;
                }
                Phase::Closed if state.pending.is_empty() && self.idle(&state) => {
                    for worker in &mut state.workers {
                        let _ = worker.conn.send(&RequestOut::Exit);
                    }
                    for worker in std::mem::take(&mut state.workers) {
                        let _ = worker.process.join();
                    }
                    state.phase = Phase::Stopped;
                    self.notify(state);
                    return;
                }
                _ => {}
            }
            self.replace(&mut state);
            self.dispatch(&mut state, By::Handler);
            let mut fds = vec![sys::wait_for(self.wake_rx.as_raw_fd())];
            let mut buffered = false;
            let leader = state.leader.is_some();
            for worker in &mut state.workers {
                // While a caller leads, the replies are its to receive. Otherwise only a worker
                // with work can answer; a connection at its end is always readable, and only
                // its sentinel matters then.
                let ready = !worker.gone && worker.conn.ready_now();
                worker.watched = !leader && !worker.gone && (ready || !worker.in_flight.is_empty());
                buffered |= worker.watched && ready;
                let conn = if worker.watched {
                    worker.conn.fileno().unwrap_or(-1)
                } else {
                    -1
                };
                for fd in [conn, worker.sentinel] {
                    fds.push(sys::wait_for(fd));
                }
            }
            // What this turn changed (a dead worker's tasks, a new worker) the leader sees too.
            self.notify(state);
            let timeout = if buffered { 0 } else { 1000 };
            // SAFETY: `fds` is a valid array of pollfd; the descriptors are the workers', which
            // only this thread closes, and the wake pipe's, which lives as long as `self`.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if fds[0].revents != 0 {
                while matches!((&self.wake_rx).read(&mut drain), Ok(n) if n > 0) {}
            }
            // Workers whose sentinel is ready are reaped at the next turn. Only this thread
            // adds or removes workers, so the indices still hold.
            let mut state = lock(&self.state);
            for (w, worker) in state.workers.iter_mut().enumerate() {
                if fds.get(2 + 2 * w).is_some_and(|fd| fd.revents != 0) {
                    worker.ended = true;
                }
            }
        }
    }

    fn idle(&self, state: &State) -> bool {
        state.workers.iter().all(|w| w.in_flight.is_empty())
    }

    /// Receives every reply that is waiting; whether there was one.
    fn receive(&self, state: &mut State) -> bool {
        let mut received = false;
        for w in 0..state.workers.len() {
            loop {
                let worker = &mut state.workers[w];
                if worker.gone {
                    break;
                }
                match worker.conn.poll(Some(Duration::ZERO)) {
                    Ok(true) => {}
                    _ => break,
                }
                match worker.conn.recv::<Vec<Reply>>() {
                    Ok(replies) => {
                        received = true;
                        let name = worker.name.clone();
                        for reply in replies {
                            let worker = &mut state.workers[w];
                            let index = reply.index as usize;
                            if let Some(at) = worker
                                .in_flight
                                .iter()
                                .position(|chunk| chunk.job == reply.job && chunk.index == index)
                            {
                                worker.in_flight.remove(at);
                            }
                            state.chunk_nanos = 0.5 * state.chunk_nanos + 0.5 * reply.nanos as f64;
                            if let Some(job) = state.jobs.get_mut(&reply.job) {
                                let buf = reply.outcomes.into_vec();
                                let at = job.replies.len();
                                let mut results = 0;
                                for (offset, (ok, range)) in
                                    target::split_outcomes(&buf).into_iter().enumerate()
                                {
                                    let slot = if ok {
                                        Ok(Payload {
                                            reply: at,
                                            start: range.start,
                                            end: range.end,
                                        })
                                    } else {
                                        let err = postcard::from_bytes::<TaskError>(&buf[range])
                                            .unwrap_or_else(|err| TaskError::Deserialization {
                                                what: "a task's error".to_owned(),
                                                reason: err.to_string(),
                                            });
                                        Err(Arc::new(Failure::Task(err, name.clone())))
                                    };
                                    if job.finish(index + offset, slot) && ok {
                                        results += 1;
                                    }
                                }
                                job.replies.push((buf, results));
                            }
                        }
                    }
                    Err(_) => {
                        worker.gone = true;
                        break;
                    }
                }
            }
        }
        received
    }

    /// Removes the workers that ended, failing the tasks they held.
    fn reap(&self, state: &mut State) {
        let mut w = 0;
        while w < state.workers.len() {
            let worker = &state.workers[w];
            let ended =
                (worker.ended || worker.gone) && matches!(worker.process.exitcode(), Ok(Some(_)));
            if !ended {
                w += 1;
                continue;
            }
            let worker = state.workers.remove(w);
            let _ = worker.process.join();
            let exitcode = worker.process.exitcode().ok().flatten();
            if worker.in_flight.is_empty() {
                continue;
            }
            if self.flavor == Flavor::Executor && state.phase != Phase::Terminating {
                let reason = format!(
                    "A process in the process pool was terminated abruptly while the future was \
                     running or pending: {} (pid {}) ended{}",
                    worker.name,
                    worker.pid,
                    exitcode
                        .map(|c| format!(" with exit code {c}"))
                        .unwrap_or_default()
                );
                state.broken = Some(reason.clone());
                state.phase = Phase::Terminating;
                state.kill = false;
                self.fail_all(state, Failure::Broken(reason));
                continue;
            }
            let failure = Arc::new(Failure::Lost {
                process: worker.name.clone(),
                pid: worker.pid,
                exitcode,
            });
            // Chunks are run and answered in the order they were handed out, each answered
            // before the next starts: of those without an answer, the first (if `started` says
            // so) was running and is lost; the others never started, and go back to the queue.
            let answered = worker.assigned - worker.in_flight.len() as u64;
            let lost = worker.started.get().saturating_sub(answered) as usize;
            let mut in_flight = worker.in_flight;
            let unstarted = in_flight.split_off(lost.min(in_flight.len()));
            for chunk in unstarted.into_iter().rev() {
                state.pending.push_front(chunk);
            }
            for chunk in in_flight {
                if let Some(job) = state.jobs.get_mut(&chunk.job) {
                    for i in chunk.index..chunk.index + chunk.count {
                        job.finish(i, Err(Arc::clone(&failure)));
                    }
                }
            }
        }
    }

    /// Starts workers until there are `processes` again, while there is a use for them.
    fn replace(&self, state: &mut State) {
        let wanted = match state.phase {
            Phase::Running => true,
            Phase::Closed => !state.pending.is_empty(),
            _ => false,
        };
        if !wanted {
            return;
        }
        let retiring = |w: &Worker| self.maxtasks.is_some_and(|max| w.assigned >= max);
        while state.workers.iter().filter(|w| !retiring(w)).count() < self.processes {
            match self.new_worker() {
                Ok(worker) => state.workers.push(worker),
                Err(err) => {
                    // No worker can take the work: fail it rather than let anyone wait.
                    let failure = Arc::new(Failure::Broken(format!(
                        "could not start a worker process: {err}"
                    )));
                    while let Some(chunk) = state.pending.pop_front() {
                        if let Some(job) = state.jobs.get_mut(&chunk.job) {
                            for i in chunk.index..chunk.index + chunk.count {
                                job.finish(i, Err(Arc::clone(&failure)));
                            }
                        }
                    }
                    break;
                }
            }
        }
    }

    /// Terminates (or kills) and joins every worker.
    fn stop_workers(&self, state: &mut State, kill: bool) {
        for worker in &state.workers {
            let _ = if kill {
                worker.process.kill()
            } else {
                worker.process.terminate()
            };
        }
        for worker in std::mem::take(&mut state.workers) {
            let _ = worker.process.join();
        }
    }

    /// Fails every task that has no result yet.
    fn fail_all(&self, state: &mut State, failure: Failure) {
        state.pending.clear();
        let failure = Arc::new(failure);
        for job in state.jobs.values_mut() {
            for index in 0..job.slots.len() {
                job.finish(index, Err(Arc::clone(&failure)));
            }
        }
    }

    pub(crate) fn close(&self) {
        let mut state = lock(&self.state);
        if state.phase == Phase::Running {
            state.phase = Phase::Closed;
        }
        drop(state);
        self.wake();
    }

    pub(crate) fn terminate(&self, kill: bool) {
        let mut state = lock(&self.state);
        if state.phase != Phase::Stopped {
            state.phase = Phase::Terminating;
            state.kill = kill;
        }
        drop(state);
        self.wake();
        self.join_handler();
    }

    /// Waits for the handler thread (and so the workers) to finish.
    pub(crate) fn join_handler(&self) {
        let handler = lock(&self.handler).take();
        if let Some(handler) = handler {
            let _ = handler.join();
        }
    }

    /// Cancels the chunks not yet handed to a worker (executor's `cancel_futures`).
    pub(crate) fn cancel_pending(&self) {
        let mut state = lock(&self.state);
        let failure = Arc::new(Failure::Cancelled);
        while let Some(chunk) = state.pending.pop_front() {
            if let Some(job) = state.jobs.get_mut(&chunk.job) {
                job.cancelled = true;
                for i in chunk.index..chunk.index + chunk.count {
                    job.finish(i, Err(Arc::clone(&failure)));
                }
            }
        }
        self.notify(state);
    }

    /// Cancels `job` if none of it has reached a worker; whether it did.
    pub(crate) fn cancel(&self, id: u64) -> bool {
        let mut state = lock(&self.state);
        let cancellable = state
            .jobs
            .get(&id)
            .is_some_and(|job| !job.started && job.remaining > 0);
        if cancellable {
            state.pending.retain(|chunk| chunk.job != id);
            let job = state.jobs.get_mut(&id).expect("checked above");
            job.cancelled = true;
            let failure = Arc::new(Failure::Cancelled);
            for i in 0..job.slots.len() {
                job.finish(i, Err(Arc::clone(&failure)));
            }
        }
        let cancelled = state.jobs.get(&id).is_some_and(|job| job.cancelled);
        self.notify(state);
        cancelled
    }

    /// Waits until `done(job)` or the deadline; whether it is done. `leading`: this thread
    /// became the leader in [`submit`](Self::submit).
    ///
    /// One waiting thread at a time is the *leader*: it polls the busy workers' connections
    /// itself, receives every reply (anyone's) and hands out the next chunks, so a result
    /// reaches the caller in one wake-up (worker → caller) rather than two (worker → handler
    /// thread → caller). The handler thread leaves the connections alone while there is a
    /// leader, still watches the sentinels, and writes to the leader's pipe after each of its
    /// turns; other waiters wait on the condition variable. A leader that leaves while workers
    /// still hold chunks wakes the handler thread to watch them again.
    pub(crate) fn wait_until(
        &self,
        id: u64,
        timeout: Option<Duration>,
        done: impl Fn(&Job) -> bool,
        mut leading: bool,
    ) -> bool {
        let deadline = timeout.and_then(sys::deadline_after);
        let mut state = lock(&self.state);
        let finished = loop {
            if state.jobs.get(&id).is_none_or(&done) {
                break true;
            }
            if !leading && state.leader.is_none() {
                state.leader = Some(std::thread::current().id());
                leading = true;
            }
            let left = sys::remaining(deadline);
            if left.is_some_and(|left| left.is_zero()) {
                break false;
            }
            // An unrepresentable deadline (`None` with a timeout) waits without one.
            state = if leading {
                // A reply that came before this poll makes it return at once.
                let mut state = self.poll_as_leader(state, left);
                if self.receive(&mut state) {
                    self.dispatch(&mut state, By::Leader);
                    self.wake_waiters(&state);
                }
                state
            } else {
                state.waiters += 1;
                let mut state = match left {
                    Some(left) => {
                        self.changed
                            .wait_timeout(state, left)
                            .unwrap_or_else(|p| p.into_inner())
                            .0
                    }
                    None => self.changed.wait(state).unwrap_or_else(|p| p.into_inner()),
                };
                state.waiters -= 1;
                state
            };
        };
        if leading {
            self.resign(state);
        }
        finished
    }

    /// The leader leaves: the handler thread watches the busy workers again, and a waiter may
    /// take over.
    fn resign(&self, mut state: MutexGuard<'_, State>) {
        state.leader = None;
        let unwatched = state
            .workers
            .iter()
            .any(|w| !w.gone && !w.watched && !w.in_flight.is_empty());
        if unwatched {
            self.wake();
        }
        self.notify(state);
    }

    /// Unlocks the state and wakes the threads waiting for it to change: the leader, if it is
    /// another thread, and those on the condition variable, if any. Whatever can end a job
    /// (a reply, a dead worker, a cancel, a terminate) ends with this call or, in the leader,
    /// is seen by the leader itself: the leader sleeps without a timeout.
    fn notify(&self, state: MutexGuard<'_, State>) {
        self.tell_leader(&state);
        let waiters = state.waiters > 0;
        drop(state);
        if waiters {
            self.changed.notify_all();
        }
    }

    /// Wakes the threads waiting on the condition variable, if any, while the state stays
    /// locked (they see it once the lock is free).
    fn wake_waiters(&self, state: &State) {
        if state.waiters > 0 {
            self.changed.notify_all();
        }
    }

    /// The leader's wait: until a busy worker's connection or the leader's pipe is readable,
    /// or `left` (at most a second, then the caller looks again).
    fn poll_as_leader<'a>(
        &'a self,
        state: MutexGuard<'a, State>,
        left: Option<Duration>,
    ) -> MutexGuard<'a, State> {
        let mut fds = vec![sys::wait_for(self.leader_rx.as_raw_fd())];
        let mut buffered = false;
        for worker in state.workers.iter().filter(|w| !w.gone) {
            let ready = worker.conn.ready_now();
            buffered |= ready;
            if ready || !worker.in_flight.is_empty() {
                fds.push(sys::wait_for(worker.conn.fileno().unwrap_or(-1)));
            }
        }
        let quick = self.spin && state.chunk_nanos < SPIN.as_nanos() as f64;
        drop(state);
        // No timeout without a deadline: every change wakes the leader (see `notify`), and a
        // sleeping poll then arms no timer (costly on a virtual machine).
        let timeout = match left {
            _ if buffered => 0,
            Some(left) => left.as_millis().clamp(1, i32::MAX as u128) as libc::c_int,
            None => -1,
        };
        // The handler thread may close a worker's descriptor meanwhile (a reaped worker): poll
        // then reports it, or a reused number wakes this thread early, which only makes it look
        // again.
        if !(quick && timeout != 0 && spin_poll(&mut fds)) {
            // SAFETY: `fds` is a valid array of pollfd for the length given.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        }
        if fds[0].revents != 0 {
            let mut drain = [0u8; 64];
            while matches!((&self.leader_rx).read(&mut drain), Ok(n) if n > 0) {}
        }
        lock(&self.state)
    }

    /// Forgets a job whose handle was dropped.
    pub(crate) fn forget(&self, id: u64) {
        lock(&self.state).jobs.remove(&id);
    }
}

impl Job {
    pub(crate) fn done(&self) -> bool {
        self.remaining == 0
    }

    pub(crate) fn running(&self) -> bool {
        self.started && self.remaining > 0
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancelled
    }

    pub(crate) fn add_waker(&mut self, waker: &Waker) {
        if !self.wakers.iter().any(|w| w.will_wake(waker)) {
            self.wakers.push(waker.clone());
        }
    }

    /// The result of task `index`, decoded, once it has one (kept for later calls).
    pub(crate) fn result<R: DeserializeOwned>(&self, index: usize) -> Option<Result<R>> {
        Some(self.decode(self.slots.get(index)?.as_ref()?))
    }

    /// Takes the result of task `index` (for iterators, which read each once).
    fn take<R: DeserializeOwned>(&mut self, index: usize) -> Option<Result<R>> {
        let slot = self.slots.get_mut(index)?.take()?;
        let result = self.decode(&slot);
        if let Ok(payload) = slot {
            if let Some((buf, untaken)) = self.replies.get_mut(payload.reply) {
                *untaken -= 1;
                if *untaken == 0 {
                    *buf = Vec::new();
                }
            }
        }
        Some(result)
    }

    /// All the results, in order (a map's): the first failure, in order, if any.
    fn results<R: DeserializeOwned>(&self) -> Result<Vec<R>> {
        if let Some(err) = self.first_failure() {
            return Err(err);
        }
        // Sized up front (collecting into a `Result` would grow the vector step by step).
        let mut results = Vec::with_capacity(self.slots.len());
        for slot in &self.slots {
            let slot = slot
                .as_ref()
                .ok_or_else(|| Error::InvalidOperation("no result".to_owned()))?;
            results.push(self.decode(slot)?);
        }
        Ok(results)
    }

    fn decode<R: DeserializeOwned>(&self, slot: &Slot) -> Result<R> {
        match slot {
            Ok(payload) => {
                let bytes = self
                    .replies
                    .get(payload.reply)
                    .and_then(|(buf, _)| buf.get(payload.start..payload.end))
                    .ok_or_else(|| Error::InvalidOperation("the result was taken".to_owned()))?;
                wire::decode(bytes, || "the result of a task".to_owned())
            }
            Err(failure) => Err(failure.to_error()),
        }
    }

    /// The first failure, in task order, if any.
    pub(crate) fn first_failure(&self) -> Option<Error> {
        self.slots.iter().find_map(|slot| match slot {
            Some(Err(failure)) => Some(failure.to_error()),
            _ => None,
        })
    }
}

/// Encodes the argument tuples of a chunk one after the other, or says why one cannot be.
fn encode_chunk<A: Serialize>(items: &[A], name: &str) -> std::result::Result<ByteBuf, Failure> {
    // One serializer for the chunk: tiny items cost little more than their bytes.
    let mut serializer = postcard::Serializer {
        output: wire::SmallPieces(Vec::with_capacity(items.len() * 2)),
    };
    for item in items {
        match item.serialize(&mut serializer) {
            Ok(()) => {}
            Err(_) => {
                // The error path only: `wire::encode` words the reason.
                let what = || format!("the arguments of task '{name}'");
                return Err(match wire::encode(item, what) {
                    Err(Error::Serialization { what, reason }) => {
                        Failure::Serialization { what, reason }
                    }
                    _ => Failure::Serialization {
                        what: what(),
                        reason: "they cannot be serialized".to_owned(),
                    },
                });
            }
        }
    }
    Ok(ByteBuf::from(serializer.output.0))
}

// ----- the user's API -----

/// A pool of worker processes (CPython's `multiprocessing.Pool`). See the [module](self).
///
/// Dropping the pool terminates its workers, as leaving Python's `with Pool(...)` block does;
/// call [`close`](Self::close) then [`join`](Self::join) to let the work finish first.
pub struct Pool {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.engine.state);
        write!(
            f,
            "<multiprocessing.pool.Pool state={} pool_size={}>",
            match state.phase {
                Phase::Running => "RUN",
                Phase::Closed => "CLOSE",
                Phase::Terminating | Phase::Stopped => "TERMINATE",
            },
            self.engine.processes
        )
    }
}

/// The settings of a [`Pool`], CPython's `Pool(processes, initializer, initargs,
/// maxtasksperchild, context)`.
///
/// ```no_run
/// #[multiprocessing::target]
/// fn setup(greeting: String) {
///     println!("{greeting} from {}", multiprocessing::current_process().name);
/// }
///
/// # fn main() -> multiprocessing::Result<()> {
/// let pool = multiprocessing::pool::Pool::builder()
///     .processes(2)
///     .initializer(setup, ("hello".to_string(),))
///     .maxtasksperchild(100)
///     .context(multiprocessing::get_context(Some("spawn"))?)
///     .build()?;
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until build() is called"]
pub struct PoolBuilder {
    settings: Settings,
}

/// What a `Pool` and an executor are built from.
#[derive(Default)]
pub(crate) struct Settings {
    pub(crate) processes: Option<usize>,
    init: Option<Box<dyn FnOnce(StartMethod) -> Result<InitSpec>>>,
    pub(crate) maxtasks: Option<u64>,
    pub(crate) context: Option<Context>,
}

impl Settings {
    pub(crate) fn initializer<F, A>(&mut self, func: F, args: A)
    where
        F: Task<A, Output = ()>,
        A: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        self.init = Some(Box::new(move |method| init_spec(method, func, args)));
    }

    /// The start method of the workers: the context's, or the default.
    pub(crate) fn method(&self) -> StartMethod {
        match self.context {
            Some(context) => context.start_method(),
            None => crate::context::resolve_default(),
        }
    }

    /// Starts the workers.
    pub(crate) fn start(self, flavor: Flavor) -> Result<Arc<Engine>> {
        let method = self.method();
        let init = self.init.map(|init| init(method)).transpose()?;
        Engine::start(
            flavor,
            Some(Context::new(method)?),
            self.processes,
            init,
            self.maxtasks,
        )
    }
}

impl PoolBuilder {
    /// The number of workers (default: [`cpu_count`](crate::cpu_count)).
    pub fn processes(mut self, processes: usize) -> Self {
        self.settings.processes = Some(processes);
        self
    }

    /// A function each worker runs once, when it starts, with `args` (CPython's `initializer`
    /// and `initargs`). Like a process's arguments, `args` may hold IPC objects (a queue, a
    /// lock); they reach every worker.
    pub fn initializer<F, A>(mut self, func: F, args: A) -> Self
    where
        F: Task<A, Output = ()>,
        A: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        self.settings.initializer(func, args);
        self
    }

    /// Each worker exits after this many chunks and a new one takes its place (CPython's
    /// `maxtasksperchild`).
    pub fn maxtasksperchild(mut self, maxtasks: u64) -> Self {
        self.settings.maxtasks = Some(maxtasks);
        self
    }

    /// The context whose start method starts the workers (CPython's `ctx.Pool()`).
    pub fn context(mut self, context: Context) -> Self {
        self.settings.context = Some(context);
        self
    }

    /// Starts the workers.
    pub fn build(self) -> Result<Pool> {
        Ok(Pool {
            engine: self.settings.start(Flavor::Pool)?,
        })
    }
}

impl Pool {
    /// A pool of `processes` workers (default: [`cpu_count`](crate::cpu_count)) started with
    /// the default context (CPython's `Pool(processes)`).
    pub fn new(processes: Option<usize>) -> Result<Pool> {
        let mut builder = Pool::builder();
        builder.settings.processes = processes;
        builder.build()
    }

    /// The settings of a pool to build.
    pub fn builder() -> PoolBuilder {
        PoolBuilder {
            settings: Settings::default(),
        }
    }

    /// The number of workers.
    pub fn processes(&self) -> usize {
        self.engine.processes()
    }

    /// The start method of the workers.
    pub fn start_method(&self) -> StartMethod {
        self.engine.start_method()
    }

    /// `func(args)` in a worker, waiting for the result (CPython's `apply`).
    pub fn apply<F, A>(&self, func: F, args: A) -> Result<F::Output>
    where
        F: Task<A>,
        A: Serialize + DeserializeOwned,
        F::Output: Serialize + DeserializeOwned,
    {
        let _ = func;
        let (job, _, leading) = self.engine.submit::<F, A>([args], Some(1), true)?;
        AsyncResult::<F::Output>::one(&self.engine, job, leading).get(None)
    }

    /// `func(args)` in a worker; the result comes later (CPython's `apply_async`).
    pub fn apply_async<F, A>(&self, func: F, args: A) -> Result<AsyncResult<F::Output>>
    where
        F: Task<A>,
        A: Serialize + DeserializeOwned,
        F::Output: Serialize + DeserializeOwned,
    {
        let _ = func;
        let (job, _, _) = self.engine.submit::<F, A>([args], Some(1), false)?;
        Ok(AsyncResult::one(&self.engine, job, false))
    }

    /// `func(item)` for every item, the results in the items' order (CPython's `map`). The
    /// items travel in chunks of `chunksize` (default: about a quarter of the items per worker,
    /// as CPython). The first failed task, in order, is the error.
    pub fn map<F, A, R>(
        &self,
        func: F,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<R>>
    where
        F: Fn(A) -> R + Send + Sync + 'static,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let _ = func;
        let items = iterable.into_iter().map(|item| (item,));
        let (job, _, leading) = self.engine.submit::<F, (A,)>(items, chunksize, true)?;
        AsyncResult::<Vec<R>>::list(&self.engine, job, leading).get(None)
    }

    /// [`map`](Self::map) without waiting (CPython's `map_async`).
    pub fn map_async<F, A, R>(
        &self,
        func: F,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<R>>>
    where
        F: Fn(A) -> R + Send + Sync + 'static,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let _ = func;
        let items = iterable.into_iter().map(|item| (item,));
        let (job, _, _) = self.engine.submit::<F, (A,)>(items, chunksize, false)?;
        Ok(AsyncResult::list(&self.engine, job, false))
    }

    /// `func(a, b, ..)` for every argument tuple (CPython's `starmap`).
    pub fn starmap<F, A>(
        &self,
        func: F,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<Vec<F::Output>>
    where
        F: Task<A>,
        A: Serialize + DeserializeOwned,
        F::Output: Serialize + DeserializeOwned,
    {
        let _ = func;
        let (job, _, leading) = self.engine.submit::<F, A>(iterable, chunksize, true)?;
        AsyncResult::<Vec<F::Output>>::list(&self.engine, job, leading).get(None)
    }

    /// [`starmap`](Self::starmap) without waiting (CPython's `starmap_async`).
    pub fn starmap_async<F, A>(
        &self,
        func: F,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<AsyncResult<Vec<F::Output>>>
    where
        F: Task<A>,
        A: Serialize + DeserializeOwned,
        F::Output: Serialize + DeserializeOwned,
    {
        let _ = func;
        let (job, _, _) = self.engine.submit::<F, A>(iterable, chunksize, false)?;
        Ok(AsyncResult::list(&self.engine, job, false))
    }

    /// The results of `func(item)` as they are needed, in the items' order (CPython's `imap`;
    /// `chunksize` defaults to 1). Each item of the iterator is that task's result or error.
    pub fn imap<F, A, R>(
        &self,
        func: F,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<IMapIterator<R>>
    where
        F: Fn(A) -> R + Send + Sync + 'static,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.imap_in_order(func, iterable, chunksize, true)
    }

    /// Like [`imap`](Self::imap), in the order the tasks finish (CPython's `imap_unordered`).
    pub fn imap_unordered<F, A, R>(
        &self,
        func: F,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<IMapIterator<R>>
    where
        F: Fn(A) -> R + Send + Sync + 'static,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.imap_in_order(func, iterable, chunksize, false)
    }

    fn imap_in_order<F, A, R>(
        &self,
        func: F,
        iterable: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
        ordered: bool,
    ) -> Result<IMapIterator<R>>
    where
        F: Fn(A) -> R + Send + Sync + 'static,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let _ = func;
        let items = iterable.into_iter().map(|item| (item,));
        let (job, n, _) =
            self.engine
                .submit::<F, (A,)>(items, Some(chunksize.unwrap_or(1)), false)?;
        Ok(IMapIterator::new(&self.engine, job, n, ordered))
    }

    /// No more tasks: the workers exit once the submitted ones are done (CPython's `close`).
    pub fn close(&self) {
        self.engine.close();
    }

    /// Stops the workers at once (`SIGTERM`), running tasks included; results not yet in fail
    /// (CPython's `terminate`).
    pub fn terminate(&self) {
        self.engine.terminate(false);
    }

    /// Waits for the workers to exit, after [`close`](Self::close) or
    /// [`terminate`](Self::terminate) (CPython's `join`; before either it is
    /// [`Error::InvalidOperation`], CPython's `ValueError`).
    pub fn join(&self) -> Result<()> {
        if lock(&self.engine.state).phase == Phase::Running {
            return Err(Error::InvalidOperation(
                "Pool is still running: call close() or terminate() before join()".to_owned(),
            ));
        }
        self.engine.join_handler();
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.engine.terminate(false);
    }
}

/// The result of [`Pool::apply_async`] or [`Pool::map_async`], to come (CPython's
/// `AsyncResult`).
pub struct AsyncResult<T> {
    engine: Arc<Engine>,
    job: u64,
    /// Its value from the job: one result (`apply_async`) or the list of them (`map_async`).
    decode: fn(&Job) -> Result<T>,
    /// This handle's thread became the leader as it submitted (`apply`, `map`), and is still:
    /// its first wait goes on as the leader (see [`Engine::wait_until`]).
    leading: AtomicBool,
    _result: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<AsyncResult job={} ready={}>", self.job, self.ready())
    }
}

impl<T> AsyncResult<T> {
    fn new(engine: &Arc<Engine>, job: u64, decode: fn(&Job) -> Result<T>, leading: bool) -> Self {
        AsyncResult {
            engine: Arc::clone(engine),
            job,
            decode,
            leading: AtomicBool::new(leading),
            _result: PhantomData,
        }
    }

    /// Whether the result is in (CPython's `ready()`).
    pub fn ready(&self) -> bool {
        lock(&self.engine.state)
            .jobs
            .get(&self.job)
            .is_none_or(Job::done)
    }

    /// Whether the call succeeded: [`Error::InvalidOperation`] while not ready (CPython's
    /// `successful()`, a `ValueError` then).
    pub fn successful(&self) -> Result<bool> {
        let state = lock(&self.engine.state);
        match state.jobs.get(&self.job) {
            Some(job) if job.done() => Ok(job.first_failure().is_none()),
            _ => Err(Error::InvalidOperation(format!("{:?} not ready", self.job))),
        }
    }

    /// Waits until the result is in, at most `timeout` (CPython's `wait`); whether it is.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let leading = self.leading.swap(false, Ordering::Relaxed);
        self.engine
            .wait_until(self.job, timeout, Job::done, leading)
    }
}

impl<T: DeserializeOwned> AsyncResult<T> {
    /// The result, waiting at most `timeout` for it: [`Error::Timeout`] then (CPython's
    /// `get(timeout)`, `multiprocessing.TimeoutError`). A failed task is its error; for a map,
    /// the first failed task's, in order.
    pub fn get(&self, timeout: Option<Duration>) -> Result<T> {
        if !self.wait(timeout) {
            return Err(Error::Timeout);
        }
        let state = lock(&self.engine.state);
        let job = state
            .jobs
            .get(&self.job)
            .ok_or_else(|| Error::InvalidOperation("the result was already taken".to_owned()))?;
        (self.decode)(job)
    }
}

impl<T: DeserializeOwned> AsyncResult<T> {
    /// The handle of one task's result (`apply_async`).
    fn one(engine: &Arc<Engine>, job: u64, leading: bool) -> Self {
        let decode = |job: &Job| {
            job.result(0)
                .unwrap_or_else(|| Err(Error::InvalidOperation("no result".to_owned())))
        };
        AsyncResult::new(engine, job, decode, leading)
    }
}

impl<R: DeserializeOwned> AsyncResult<Vec<R>> {
    /// The handle of a list of results (`map_async`, `starmap_async`).
    fn list(engine: &Arc<Engine>, job: u64, leading: bool) -> Self {
        AsyncResult::new(engine, job, Job::results::<R>, leading)
    }
}

impl<T> Drop for AsyncResult<T> {
    fn drop(&mut self) {
        if *self.leading.get_mut() {
            self.engine.resign(lock(&self.engine.state));
        }
        self.engine.forget(self.job);
    }
}

/// The results of [`Pool::imap`] (in order) or [`Pool::imap_unordered`] (as they finish).
/// Each item is that task's result, or its error.
pub struct IMapIterator<R> {
    engine: Arc<Engine>,
    job: u64,
    next: usize,
    len: usize,
    ordered: bool,
    /// The executor's `map(timeout=)`: when every result must be in.
    deadline: Option<Instant>,
    _result: PhantomData<fn() -> R>,
}

impl<R> IMapIterator<R> {
    fn new(engine: &Arc<Engine>, job: u64, len: usize, ordered: bool) -> Self {
        IMapIterator {
            engine: Arc::clone(engine),
            job,
            next: 0,
            len,
            ordered,
            deadline: None,
            _result: PhantomData,
        }
    }

    /// In order, every result due `timeout` from now (the executor's `map`).
    pub(crate) fn with_deadline(
        engine: &Arc<Engine>,
        job: u64,
        len: usize,
        timeout: Option<Duration>,
    ) -> Self {
        let mut iterator = IMapIterator::new(engine, job, len, true);
        iterator.deadline = timeout.and_then(sys::deadline_after);
        iterator
    }
}

impl<R: DeserializeOwned> IMapIterator<R> {
    /// The next result, waiting at most `timeout` for it: `Some(Err(Error::Timeout))` then
    /// (CPython's `next(timeout)`); `None` after the last.
    pub fn next_timeout(&mut self, timeout: Option<Duration>) -> Option<Result<R>> {
        if self.next >= self.len {
            return None;
        }
        let ordered = self.ordered;
        let next = self.next;
        let ready = self.engine.wait_until(
            self.job,
            timeout,
            |job| {
                if ordered {
                    job.slots.get(next).is_none_or(Option::is_some)
                } else {
                    !job.completed.is_empty()
                }
            },
            false,
        );
        if !ready {
            return Some(Err(Error::Timeout));
        }
        let mut state = lock(&self.engine.state);
        let Some(job) = state.jobs.get_mut(&self.job) else {
            self.next = self.len;
            return Some(Err(Error::InvalidOperation(
                "the pool was terminated".to_owned(),
            )));
        };
        let index = if ordered {
            next
        } else {
            let run = job.completed.front_mut()?;
            let index = run.start;
            run.start += 1;
            if run.start == run.end {
                job.completed.pop_front();
            }
            index
        };
        self.next += 1;
        job.take(index)
    }
}

impl<R: DeserializeOwned> Iterator for IMapIterator<R> {
    type Item = Result<R>;

    fn next(&mut self) -> Option<Result<R>> {
        match self.deadline {
            None => self.next_timeout(None),
            Some(deadline) => {
                self.next_timeout(Some(deadline.saturating_duration_since(Instant::now())))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.len - self.next;
        (left, Some(left))
    }
}

impl<R> Drop for IMapIterator<R> {
    fn drop(&mut self) {
        self.engine.forget(self.job);
    }
}
