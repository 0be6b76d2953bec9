//! A process pool executor (CPython's `concurrent.futures.ProcessPoolExecutor`): `submit`
//! returns a [`Future`] whose result comes back from a worker process.
//!
//! ```no_run
//! use multiprocessing::executor::Executor;
//!
//! #[multiprocessing::target]
//! fn cube(x: u64) -> u64 {
//!     x * x * x
//! }
//!
//! fn main() -> multiprocessing::Result<()> {
//!     multiprocessing::main_guard();
//!     let executor = Executor::new(Some(2))?;
//!     let future = executor.submit(cube, (3u64,))?;
//!     assert_eq!(future.result(None)?, 27);
//!     let cubes: Vec<u64> = executor.map(cube, 0..4u64, None, 1)?.collect::<Result<_, _>>()?;
//!     assert_eq!(cubes, [0, 1, 8, 27]);
//!     Ok(()) // dropping the executor is shutdown(wait=true)
//! }
//! ```
//!
//! Tasks are what [`Pool`](crate::pool::Pool) runs: `#[multiprocessing::target]` functions, or
//! closures that capture nothing under `fork`. As in CPython, a worker that dies abruptly breaks
//! the executor: every pending future fails with [`Error::BrokenProcessPool`], and so does every
//! later `submit`.
//!
//! A [`Future`] is also a `std::future::Future`: `future.await` works in any async runtime, and
//! this crate depends on none (whoever receives the result, the pool's handler thread or a
//! waiting caller, wakes the task's waker).

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::context::{Context, StartMethod};
use crate::error::{Error, Result};
use crate::pool::{Engine, Flavor, IMapIterator, Job, Settings};
use crate::target::Task;

/// A pool of worker processes with futures (CPython's `ProcessPoolExecutor`). See the
/// [module](self).
pub struct Executor {
    engine: Arc<Engine>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "<ProcessPoolExecutor max_workers={}>",
            self.engine.processes()
        )
    }
}

/// The settings of an [`Executor`]: CPython's `ProcessPoolExecutor(max_workers, mp_context,
/// initializer, initargs, max_tasks_per_child)`.
///
/// ```no_run
/// # fn main() -> multiprocessing::Result<()> {
/// let executor = multiprocessing::executor::Executor::builder()
///     .max_workers(2)
///     .max_tasks_per_child(10)
///     .mp_context(multiprocessing::get_context(Some("spawn"))?)
///     .build()?;
/// # Ok(()) }
/// ```
#[must_use = "a builder does nothing until build() is called"]
pub struct ExecutorBuilder {
    settings: Settings,
}

impl ExecutorBuilder {
    /// The number of workers (default: [`cpu_count`](crate::cpu_count)).
    pub fn max_workers(mut self, n: usize) -> Self {
        self.settings.processes = Some(n);
        self
    }

    /// A function each worker runs once, when it starts (CPython's `initializer`, `initargs`).
    pub fn initializer<F, A>(mut self, func: F, args: A) -> Self
    where
        F: Task<A, Output = ()>,
        A: Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        self.settings.initializer(func, args);
        self
    }

    /// Each worker exits after this many tasks and a new one takes its place (CPython's
    /// `max_tasks_per_child`; as there, not with the `fork` start method).
    pub fn max_tasks_per_child(mut self, n: u64) -> Self {
        self.settings.maxtasks = Some(n);
        self
    }

    /// The context whose start method starts the workers (CPython's `mp_context`).
    pub fn mp_context(mut self, context: Context) -> Self {
        self.settings.context = Some(context);
        self
    }

    /// Starts the workers.
    pub fn build(self) -> Result<Executor> {
        if self.settings.maxtasks.is_some() && self.settings.method() == StartMethod::Fork {
            return Err(Error::InvalidOperation(
                "max_tasks_per_child is incompatible with the 'fork' multiprocessing start \
                 method; supply a different mp_context"
                    .to_owned(),
            ));
        }
        Ok(Executor {
            engine: self.settings.start(Flavor::Executor)?,
        })
    }
}

impl Executor {
    /// An executor of `max_workers` workers (default: [`cpu_count`](crate::cpu_count)) started
    /// with the default context.
    pub fn new(max_workers: Option<usize>) -> Result<Executor> {
        let mut builder = Executor::builder();
        builder.settings.processes = max_workers;
        builder.build()
    }

    /// The settings of an executor to build.
    pub fn builder() -> ExecutorBuilder {
        ExecutorBuilder {
            settings: Settings::default(),
        }
    }

    /// Schedules `func(args)` in a worker (CPython's `submit`). After
    /// [`shutdown`](Self::shutdown) it is [`Error::InvalidOperation`]; once broken,
    /// [`Error::BrokenProcessPool`].
    pub fn submit<F, A>(&self, func: F, args: A) -> Result<Future<F::Output>>
    where
        F: Task<A>,
        A: Serialize + DeserializeOwned,
        F::Output: Serialize + DeserializeOwned,
    {
        let _ = func;
        let (job, _, _) = self.engine.submit::<F, A>([args], Some(1), false)?;
        Ok(Future {
            engine: Arc::clone(&self.engine),
            job,
            _result: PhantomData,
        })
    }

    /// `func(item)` for every item, the results in order as an iterator (CPython's `map`).
    /// Every task is submitted at once, in chunks of `chunksize`; with a `timeout`, an item not
    /// ready that long after this call is [`Error::Timeout`].
    pub fn map<F, A, R>(
        &self,
        func: F,
        iterable: impl IntoIterator<Item = A>,
        timeout: Option<Duration>,
        chunksize: usize,
    ) -> Result<IMapIterator<R>>
    where
        F: Fn(A) -> R + Send + Sync + 'static,
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let _ = func;
        let items = iterable.into_iter().map(|item| (item,));
        let (job, n, _) = self
            .engine
            .submit::<F, (A,)>(items, Some(chunksize.max(1)), false)?;
        Ok(IMapIterator::with_deadline(&self.engine, job, n, timeout))
    }

    /// No more tasks; with `wait`, returns once the submitted ones are done and the workers
    /// have exited; with `cancel_futures`, the futures no worker has started are cancelled
    /// (CPython's `shutdown(wait, cancel_futures=...)`).
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        if cancel_futures {
            self.engine.cancel_pending();
        }
        self.engine.close();
        if wait {
            self.engine.join_handler();
        }
    }

    /// Terminates every worker (`SIGTERM`) at once; the executor is then broken (CPython 3.14's
    /// `terminate_workers`): futures not yet done fail with [`Error::BrokenProcessPool`], those
    /// not started are cancelled.
    pub fn terminate_workers(&self) {
        self.engine.cancel_pending();
        self.engine.terminate(false);
    }

    /// Like [`terminate_workers`](Self::terminate_workers) with `SIGKILL` (CPython 3.14's
    /// `kill_workers`).
    pub fn kill_workers(&self) {
        self.engine.cancel_pending();
        self.engine.terminate(true);
    }
}

impl Drop for Executor {
    /// `shutdown(wait=true)`, as leaving Python's `with ProcessPoolExecutor()` block.
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

/// The result of [`Executor::submit`], to come (CPython's `concurrent.futures.Future`). Wait
/// for it with [`result`](Self::result), or `.await` it.
pub struct Future<R> {
    engine: Arc<Engine>,
    job: u64,
    _result: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for Future<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.cancelled() {
            "cancelled"
        } else if self.done() {
            "finished"
        } else if self.running() {
            "running"
        } else {
            "pending"
        };
        write!(f, "<Future state={state}>")
    }
}

impl<R> Future<R> {
    fn with_job<T>(&self, absent: T, f: impl FnOnce(&Job) -> T) -> T {
        let state = crate::pool::lock_state(&self.engine);
        state.jobs.get(&self.job).map_or(absent, f)
    }

    /// Whether it is done: finished, failed or cancelled (CPython's `done()`).
    pub fn done(&self) -> bool {
        self.with_job(true, Job::done)
    }

    /// Whether a worker is running it (CPython's `running()`).
    pub fn running(&self) -> bool {
        self.with_job(false, Job::running)
    }

    /// Whether it was cancelled (CPython's `cancelled()`).
    pub fn cancelled(&self) -> bool {
        self.with_job(false, Job::cancelled)
    }

    /// Cancels it if no worker has started it; whether it is cancelled (CPython's `cancel()`).
    pub fn cancel(&self) -> bool {
        self.engine.cancel(self.job)
    }
}

impl<R: DeserializeOwned> Future<R> {
    /// The result, waiting at most `timeout` for it: [`Error::Timeout`] then (CPython's
    /// `result(timeout)`). A task that panicked is [`Error::TaskFailed`]; one whose worker died,
    /// [`Error::BrokenProcessPool`]; a cancelled one, [`Error::Cancelled`].
    pub fn result(&self, timeout: Option<Duration>) -> Result<R> {
        if !self.engine.wait_until(self.job, timeout, Job::done, false) {
            return Err(Error::Timeout);
        }
        self.with_job(Err(Error::Cancelled), |job| {
            job.result(0).unwrap_or(Err(Error::Cancelled))
        })
    }
}

impl<R: DeserializeOwned> std::future::Future for Future<R> {
    type Output = Result<R>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<R>> {
        let mut state = crate::pool::lock_state(&self.engine);
        match state.jobs.get_mut(&self.job) {
            None => Poll::Ready(Err(Error::Cancelled)),
            Some(job) if job.done() => Poll::Ready(job.result(0).unwrap_or(Err(Error::Cancelled))),
            Some(job) => {
                job.add_waker(cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<R> Drop for Future<R> {
    fn drop(&mut self) {
        self.engine.forget(self.job);
    }
}
