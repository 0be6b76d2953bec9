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
//! workers itself; one handler thread per pool receives the results, notices dead workers (by
//! their sentinels), replaces them, and hands out the next chunks. A worker holds one chunk at a
//! time when chunks are slow, more when they have been quick, so tiny tasks travel many to a
//! message. A worker answers each chunk before starting the next, and records in a shared word
//! how many it has started: when it dies, the pool knows the one chunk it was running (that one
//! fails) and gives the chunks it had not started to another worker.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{Read, Write};
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::thread::JoinHandle;
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
    let mut done = 0u64;
    let mut functions: HashMap<FuncRef, std::result::Result<TaskFn, TaskError>> = HashMap::new();
    loop {
        // Wait for work, and leave if the pool's process is gone (a `fork` sibling may hold a
        // copy of this connection's other end, so its end of file is not enough).
        while !conn
            .poll(Some(Duration::from_secs(1)))
            .map_err(|e| e.to_string())?
        {
            // SAFETY: getppid has no preconditions.
            if unsafe { libc::getppid() } != parent {
                return Ok(());
            }
        }
        let chunks = match conn.recv::<RequestIn>() {
            Ok(RequestIn::Run(chunks)) => chunks,
            Ok(RequestIn::Exit) | Err(Error::Eof) => return Ok(()),
            Err(err) => return Err(err.to_string()),
        };
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
            let reply = Reply {
                job: chunk.job,
                index: chunk.index,
                outcomes: ByteBuf::from(outcomes),
                nanos: began.elapsed().as_nanos() as u64,
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

/// A task's encoded result: a range of the buffer its chunk's answer came in.
#[derive(Clone)]
pub(crate) struct Payload {
    buf: Arc<Vec<u8>>,
    range: std::ops::Range<usize>,
}

impl Payload {
    fn bytes(&self) -> &[u8] {
        &self.buf[self.range.clone()]
    }
}

type Slot = std::result::Result<Payload, Failure>;

/// The tasks of one call (`map`, `apply_async`, `submit`, ...) and their results so far.
pub(crate) struct Job {
    slots: Vec<Option<Slot>>,
    remaining: usize,
    /// Indices completed and not yet taken by an `imap_unordered` consumer.
    completed: VecDeque<usize>,
    /// Async waiters (`executor::Future` polled from async code).
    wakers: Vec<Waker>,
    /// Some chunk of it reached a worker (an executor future is then running).
    started: bool,
    cancelled: bool,
}

impl Job {
    fn finish(&mut self, index: usize, slot: Slot) {
        if let Some(place) = self.slots.get_mut(index) {
            if place.is_none() {
                *place = Some(slot);
                self.remaining -= 1;
                self.completed.push_back(index);
                if self.remaining == 0 {
                    for waker in self.wakers.drain(..) {
                        waker.wake();
                    }
                }
            }
        }
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
}

/// What `Pool` and `Executor` share: the workers, the queue of chunks, the results.
pub(crate) struct Engine {
    pub(crate) state: Mutex<State>,
    pub(crate) changed: Condvar,
    wake_tx: File,
    wake_rx: File,
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
            }),
            changed: Condvar::new(),
            wake_tx: File::from(wake_tx),
            wake_rx: File::from(wake_rx),
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
        })
    }

    fn wake(&self) {
        let _ = (&self.wake_tx).write(&[1]);
    }

    /// A new job of `n` tasks.
    pub(crate) fn new_job(&self, state: &mut State, n: usize) -> u64 {
        let id = state.next_job;
        state.next_job += 1;
        state.jobs.insert(
            id,
            Job {
                slots: (0..n).map(|_| None).collect(),
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

    /// Submits the tasks of `items` (argument tuples) in chunks of `chunksize`, as one job.
    pub(crate) fn submit<F, A>(
        &self,
        items: impl IntoIterator<Item = A>,
        chunksize: Option<usize>,
    ) -> Result<(u64, usize)>
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
        let id = self.new_job(&mut state, n);
        for (chunk, items) in items.chunks(chunksize).enumerate() {
            let start = chunk * chunksize;
            match encode_chunk(items, name) {
                Ok(args) => state.pending.push_back(Chunk {
                    job: id,
                    index: start,
                    func: Arc::clone(&func),
                    count: items.len(),
                    args,
                }),
                // CPython fails the chunk an argument of which cannot be pickled.
                Err(failure) => {
                    let job = state.jobs.get_mut(&id).expect("inserted above");
                    for index in start..start + items.len() {
                        job.finish(index, Err(failure.clone()));
                    }
                }
            }
        }
        self.dispatch(&mut state);
        drop(state);
        self.changed.notify_all();
        Ok((id, n))
    }

    /// Hands pending chunks to workers that have room.
    fn dispatch(&self, state: &mut State) {
        if state.pending.is_empty() {
            return;
        }
        let depth = depth(state.chunk_nanos);
        let mut woke = false;
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
                    woke = true;
                    continue;
                }
                if worker.conn.ready_now() {
                    woke = true; // the send buffered a reply the handler's poll cannot see
                }
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
        if woke {
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
                    drop(state);
                    self.changed.notify_all();
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
                    drop(state);
                    self.changed.notify_all();
                    return;
                }
                _ => {}
            }
            self.replace(&mut state);
            self.dispatch(&mut state);
            let mut fds = vec![libc::pollfd {
                fd: self.wake_rx.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            let mut buffered = false;
            for worker in &state.workers {
                buffered |= !worker.gone && worker.conn.ready_now();
                // A connection at its end is always readable: only its sentinel matters then.
                let conn = if worker.gone {
                    -1
                } else {
                    worker.conn.fileno().unwrap_or(-1)
                };
                for fd in [conn, worker.sentinel] {
                    fds.push(libc::pollfd {
                        fd,
                        events: libc::POLLIN,
                        revents: 0,
                    });
                }
            }
            drop(state);
            self.changed.notify_all();
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

    /// Receives every reply that is waiting.
    fn receive(&self, state: &mut State) {
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
                                let buf = Arc::new(reply.outcomes.into_vec());
                                for (offset, (ok, range)) in
                                    target::split_outcomes(&buf).into_iter().enumerate()
                                {
                                    let slot = if ok {
                                        Ok(Payload {
                                            buf: Arc::clone(&buf),
                                            range,
                                        })
                                    } else {
                                        let err = postcard::from_bytes::<TaskError>(&buf[range])
                                            .unwrap_or_else(|err| TaskError::Deserialization {
                                                what: "a task's error".to_owned(),
                                                reason: err.to_string(),
                                            });
                                        Err(Failure::Task(err, name.clone()))
                                    };
                                    job.finish(index + offset, slot);
                                }
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
            let failure = Failure::Lost {
                process: worker.name.clone(),
                pid: worker.pid,
                exitcode,
            };
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
                        job.finish(i, Err(failure.clone()));
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
                    let reason = format!("could not start a worker process: {err}");
                    while let Some(chunk) = state.pending.pop_front() {
                        if let Some(job) = state.jobs.get_mut(&chunk.job) {
                            for i in chunk.index..chunk.index + chunk.count {
                                job.finish(i, Err(Failure::Broken(reason.clone())));
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
        for job in state.jobs.values_mut() {
            for index in 0..job.slots.len() {
                job.finish(index, Err(failure.clone()));
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
        while let Some(chunk) = state.pending.pop_front() {
            if let Some(job) = state.jobs.get_mut(&chunk.job) {
                job.cancelled = true;
                for i in chunk.index..chunk.index + chunk.count {
                    job.finish(i, Err(Failure::Cancelled));
                }
            }
        }
        drop(state);
        self.changed.notify_all();
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
            for i in 0..job.slots.len() {
                job.finish(i, Err(Failure::Cancelled));
            }
        }
        let cancelled = state.jobs.get(&id).is_some_and(|job| job.cancelled);
        drop(state);
        self.changed.notify_all();
        cancelled
    }

    /// Waits until `done(job)` or the deadline; whether it is done.
    pub(crate) fn wait_until(
        &self,
        id: u64,
        timeout: Option<Duration>,
        done: impl Fn(&Job) -> bool,
    ) -> bool {
        let deadline = timeout.and_then(sys::deadline_after);
        let mut state = lock(&self.state);
        loop {
            match state.jobs.get(&id) {
                Some(job) if !done(job) => {}
                _ => return true,
            }
            state = match sys::remaining(deadline) {
                None if timeout.is_some() => {
                    // The deadline could not be represented: wait without one.
                    self.changed.wait(state).unwrap_or_else(|p| p.into_inner())
                }
                None => self.changed.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(left) if left.is_zero() => return false,
                Some(left) => {
                    self.changed
                        .wait_timeout(state, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
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
        self.slots.get(index)?.as_ref().map(decode_slot)
    }

    /// Takes the result of task `index` (for iterators, which read each once).
    fn take<R: DeserializeOwned>(&mut self, index: usize) -> Option<Result<R>> {
        self.slots
            .get_mut(index)?
            .take()
            .map(|slot| decode_slot(&slot))
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
    let mut buf = Vec::new();
    for item in items {
        buf = match postcard::to_extend(item, buf) {
            Ok(buf) => buf,
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
        };
    }
    Ok(ByteBuf::from(buf))
}

fn decode_slot<R: DeserializeOwned>(slot: &Slot) -> Result<R> {
    match slot {
        Ok(payload) => wire::decode(payload.bytes(), || "the result of a task".to_owned()),
        Err(failure) => Err(failure.to_error()),
    }
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
        self.apply_async(func, args)?.get(None)
    }

    /// `func(args)` in a worker; the result comes later (CPython's `apply_async`).
    pub fn apply_async<F, A>(&self, func: F, args: A) -> Result<AsyncResult<F::Output>>
    where
        F: Task<A>,
        A: Serialize + DeserializeOwned,
        F::Output: Serialize + DeserializeOwned,
    {
        let _ = func;
        let (job, _) = self.engine.submit::<F, A>([args], Some(1))?;
        Ok(AsyncResult::new(&self.engine, job, false))
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
        self.map_async(func, iterable, chunksize)?.get(None)
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
        let (job, _) = self.engine.submit::<F, (A,)>(items, chunksize)?;
        Ok(AsyncResult::new(&self.engine, job, true))
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
        self.starmap_async(func, iterable, chunksize)?.get(None)
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
        let (job, _) = self.engine.submit::<F, A>(iterable, chunksize)?;
        Ok(AsyncResult::new(&self.engine, job, true))
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
        let (job, n) = self
            .engine
            .submit::<F, (A,)>(items, Some(chunksize.unwrap_or(1)))?;
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
    /// A list of results (`map_async`), rather than one (`apply_async`).
    many: bool,
    _result: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<AsyncResult job={} ready={}>", self.job, self.ready())
    }
}

impl<T> AsyncResult<T> {
    fn new(engine: &Arc<Engine>, job: u64, many: bool) -> Self {
        AsyncResult {
            engine: Arc::clone(engine),
            job,
            many,
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
        self.engine.wait_until(self.job, timeout, Job::done)
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
        if let Some(err) = job.first_failure() {
            return Err(err);
        }
        if self.many {
            // The results of a map are a list: re-encode the slots as one postcard sequence.
            let mut bytes = Vec::new();
            let n = job.slots.len();
            let mut buf = [0u8; 10];
            bytes.extend_from_slice(
                postcard::to_slice(&(n as u64), &mut buf)
                    .map_err(|e| Error::InvalidOperation(format!("internal: {e}")))?,
            );
            for slot in &job.slots {
                if let Some(Ok(result)) = slot {
                    bytes.extend_from_slice(result.bytes());
                }
            }
            return wire::decode(&bytes, || "the results of a map".to_owned());
        }
        job.result(0)
            .unwrap_or_else(|| Err(Error::InvalidOperation("no result".to_owned())))
    }
}

impl<T> Drop for AsyncResult<T> {
    fn drop(&mut self) {
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
        let ready = self.engine.wait_until(self.job, timeout, |job| {
            if ordered {
                job.slots.get(next).is_none_or(Option::is_some)
            } else {
                !job.completed.is_empty()
            }
        });
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
            job.completed.pop_front()?
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
