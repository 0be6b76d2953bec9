//! Process targets: what a child runs, and how a target crosses a process boundary.
//!
//! Under `fork` a target is any `FnOnce` (a closure included): the child is a copy of the parent
//! and simply calls it. Under `spawn` and `forkserver` the child is a fresh program, so the target
//! crosses *by name*: `#[multiprocessing::target]` puts the function into a registry under its
//! qualified name (`std::any::type_name`), the parent sends that name and the serialized
//! arguments, and the child looks the name up. This is how pickle sends a function: by
//! `module.qualname`, never by value.

use std::any::type_name;

use std::cell::{Cell, RefCell};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::wire;

/// What a target returns: `()` (exit code 0) or a `Result` (an `Err` prints `Error: {err:?}` on
/// stderr and exits with 1, like `fn main() -> Result<..>`).
pub trait TargetResult {
    /// The exit code this result stands for, printing what the user should see.
    fn into_exit_code(self) -> i32;
}

impl TargetResult for () {
    fn into_exit_code(self) -> i32 {
        0
    }
}

impl<E: std::fmt::Debug> TargetResult for std::result::Result<(), E> {
    fn into_exit_code(self) -> i32 {
        match self {
            Ok(()) => 0,
            Err(err) => {
                eprintln!("Error: {err:?}");
                1
            }
        }
    }
}

/// A function that can be a process target with the argument tuple `Args`.
///
/// Implemented for every `FnOnce` of up to six arguments returning a [`TargetResult`]; the
/// arguments are passed as a tuple, as Python's `args=(..,)`:
///
/// ```
/// fn work(name: String, n: u32) {}
/// let p = multiprocessing::Process::new(work, ("a".to_string(), 3));
/// let q = multiprocessing::Process::new(|| println!("hi"), ());
/// ```
pub trait Target<Args>: Send + 'static {
    /// Calls the target with its arguments and returns the child's exit code.
    fn call(self, args: Args) -> i32;
}

macro_rules! impl_target {
    ($($arg:ident),*) => {
        impl<F, R, $($arg),*> Target<($($arg,)*)> for F
        where
            F: FnOnce($($arg),*) -> R + Send + 'static,
            R: TargetResult,
        {
            #[allow(non_snake_case)]
            fn call(self, ($($arg,)*): ($($arg,)*)) -> i32 {
                self($($arg),*).into_exit_code()
            }
        }
    };
}

impl_target!();
impl_target!(A1);
impl_target!(A1, A2);
impl_target!(A1, A2, A3);
impl_target!(A1, A2, A3, A4);
impl_target!(A1, A2, A3, A4, A5);
impl_target!(A1, A2, A3, A4, A5, A6);

/// A function that can be a pool or executor task with the argument tuple `Args`, returning
/// [`Output`](Self::Output) to the caller (CPython's `func` of `Pool.apply` and
/// `Executor.submit`).
///
/// Implemented for every `Fn` of up to six arguments; the arguments are passed as a tuple:
///
/// ```
/// use multiprocessing::Task;
/// fn add(a: u64, b: u64) -> u64 { a + b }
/// assert_eq!(Task::call(&add, (2, 3)), 5);
/// ```
pub trait Task<Args>: Send + Sync + 'static {
    /// What the task returns.
    type Output;
    /// Calls the task with its arguments.
    fn call(&self, args: Args) -> Self::Output;
}

macro_rules! impl_task {
    ($($arg:ident),*) => {
        impl<F, R, $($arg),*> Task<($($arg,)*)> for F
        where
            F: Fn($($arg),*) -> R + Send + Sync + 'static,
        {
            type Output = R;
            #[allow(non_snake_case)]
            fn call(&self, ($($arg,)*): ($($arg,)*)) -> R {
                self($($arg),*)
            }
        }
    };
}

impl_task!();
impl_task!(A1);
impl_task!(A1, A2);
impl_task!(A1, A2, A3);
impl_task!(A1, A2, A3, A4);
impl_task!(A1, A2, A3, A4, A5);
impl_task!(A1, A2, A3, A4, A5, A6);

/// One registered target: its qualified name and how to run it from serialized arguments, as a
/// process target or as a pool task.
#[doc(hidden)]
pub struct TargetEntry {
    /// The function's `type_name` (computed at run time: `type_name_of_val` is not `const`).
    pub name: fn() -> &'static str,
    /// Deserializes the arguments and calls the function, returning the exit code.
    pub run: fn(&[u8]) -> Result<i32>,
    /// Deserializes the arguments, calls the function, and serializes what it returned.
    pub task: TaskFn,
}

/// What `#[target]` generates its registry entry from: the function and its argument tuple, so
/// that the entry can use the function as a process target, a pool task, or both, depending on
/// what its signature allows (chosen by method resolution: the impls on `Probe` apply when their
/// bounds hold, the fallbacks on `&Probe` otherwise).
#[doc(hidden)]
pub struct Probe<F, A>(F, std::marker::PhantomData<fn(A)>);

impl<F, A> Probe<F, A> {
    /// The probe of `function` called with the argument tuple `A`.
    pub fn of(function: F) -> Self {
        Probe(function, std::marker::PhantomData)
    }
}

/// The process-target use of a registered function, when it has one.
#[doc(hidden)]
pub trait RunAsTarget {
    /// Runs the function as a process target.
    fn run_target(&self, bytes: &[u8]) -> Result<i32>;
}

impl<F: Target<A> + Copy, A: DeserializeOwned> RunAsTarget for Probe<F, A> {
    fn run_target(&self, bytes: &[u8]) -> Result<i32> {
        run_registered(self.0, bytes)
    }
}

/// The fallback: a function whose return type is no [`TargetResult`] is no process target.
#[doc(hidden)]
pub trait RunAsTargetFallback {
    /// The error saying so.
    fn run_target(&self, bytes: &[u8]) -> Result<i32>;
}

impl<F, A> RunAsTargetFallback for &Probe<F, A> {
    fn run_target(&self, _: &[u8]) -> Result<i32> {
        Err(Error::Serialization {
            what: format!("target '{}'", type_name::<F>()),
            reason: "it returns a value, so it is a pool task, not a process target".to_owned(),
        })
    }
}

/// The task use of a registered function, when its arguments and result cross through serde.
#[doc(hidden)]
pub trait RunAsTask {
    /// Runs the function as a pool task.
    fn run_task(&self, args: &[u8], count: usize, out: &mut Vec<u8>);
}

impl<F, A> RunAsTask for Probe<F, A>
where
    F: Task<A>,
    A: DeserializeOwned,
    F::Output: Serialize,
{
    fn run_task(&self, args: &[u8], count: usize, out: &mut Vec<u8>) {
        run_task(&self.0, args, count, out)
    }
}

/// The fallback: a function whose arguments or result do not cross through serde is no task.
#[doc(hidden)]
pub trait RunAsTaskFallback {
    /// The error saying so.
    fn run_task(&self, args: &[u8], count: usize, out: &mut Vec<u8>);
}

impl<F, A> RunAsTaskFallback for &Probe<F, A> {
    fn run_task(&self, _: &[u8], count: usize, out: &mut Vec<u8>) {
        not_a_task(type_name::<F>(), count, out)
    }
}

/// The outcomes of `count` tasks of a function that cannot be one.
pub(crate) fn not_a_task(name: &str, count: usize, out: &mut Vec<u8>) {
    let err = TaskError::Serialization {
        what: format!("task '{name}'"),
        reason: "its arguments or its result do not implement serde's traits".to_owned(),
    };
    for _ in 0..count {
        push_outcome(out, Err(&err));
    }
}

/// The registry that `#[multiprocessing::target]` adds to, collected at link time.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static TARGETS: [TargetEntry];

/// Called by the code `#[target]` generates: decode `Args` and call `target`.
#[doc(hidden)]
pub fn run_registered<A, T>(target: T, bytes: &[u8]) -> Result<i32>
where
    T: Target<A>,
    A: DeserializeOwned,
{
    let args: A = wire::decode(bytes, || {
        format!("the arguments of target '{}'", type_name::<T>())
    })?;
    Ok(target.call(args))
}

/// The registered target called `name`.
pub(crate) fn lookup(name: &str) -> Option<&'static TargetEntry> {
    TARGETS.iter().find(|entry| (entry.name)() == name)
}

/// What crosses a `spawn`/`forkserver` boundary for a target.
pub(crate) struct Serialized {
    /// The registered name.
    pub(crate) name: &'static str,
    /// The encoded arguments.
    pub(crate) args: Vec<u8>,
    /// The descriptors of the IPC objects among the arguments, to hand to the child in order.
    /// Borrowed: the arguments own them and outlive the start.
    #[cfg(unix)]
    pub(crate) fds: Vec<std::os::fd::RawFd>,
}

/// A target with its arguments, type-erased so a `Process` can hold any of them.
pub(crate) trait BoundTarget: Send {
    /// What crosses a `spawn`/`forkserver` boundary: the registered name and the encoded
    /// arguments, or the `Serialization` error that stops `start`.
    fn serialize(&self) -> Result<Serialized>;
    /// Runs the target in this process (a `fork` child) and returns the exit code.
    #[cfg(unix)]
    fn run(self: Box<Self>) -> i32;
}

pub(crate) struct Bound<T, A> {
    // Without `fork` (Windows) a target only ever crosses by name, so the value is never read.
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) target: T,
    pub(crate) args: A,
}

impl<T, A> BoundTarget for Bound<T, A>
where
    T: Target<A>,
    A: Serialize + Send + 'static,
{
    fn serialize(&self) -> Result<Serialized> {
        let name = type_name::<T>();
        check_crosses_by_name("target", name)?;
        let what = || format!("the arguments of target '{name}'");
        #[cfg(unix)]
        let (args, fds) = wire::encode_with_fds(&self.args, what)?;
        #[cfg(not(unix))]
        let args = wire::encode(&self.args, what)?;
        Ok(Serialized {
            name,
            args,
            #[cfg(unix)]
            fds,
        })
    }

    #[cfg(unix)]
    fn run(self: Box<Self>) -> i32 {
        let Bound { target, args } = *self;
        target.call(args)
    }
}

/// Whether the function `name` can cross a `spawn` or `forkserver` boundary by name: not a
/// closure, and registered; else the `Serialization` error that says what to do. `kind` is
/// `target` or `task`.
fn check_crosses_by_name(kind: &str, name: &str) -> Result<()> {
    let reason = if name.contains("{{closure}}") {
        "a closure cannot cross a spawn or forkserver boundary (CPython: \"Can't pickle local \
         object\"): make it a free function annotated with #[multiprocessing::target], or use \
         the fork start method"
    } else if lookup(name).is_some() {
        return Ok(());
    } else if cfg!(all(windows, target_env = "gnu")) && TARGETS.is_empty() {
        // Every #[target] lands in one linker section; none at all means GNU ld for PE dropped
        // them (linkme issue #25).
        "no target at all is registered in this program: GNU ld drops the registry's linker \
         sections on windows-gnu, so link with `-C link-arg=-Wl,--no-gc-sections` (or use the \
         MSVC toolchain)"
    } else {
        "it is not registered, so a spawned child could not find it by name: annotate the \
         function with #[multiprocessing::target], or use the fork start method"
    };
    Err(Error::Serialization {
        what: format!("{kind} '{name}'"),
        reason: reason.to_owned(),
    })
}

// ----- tasks: what a pool worker runs -----

/// A task's entry point in a worker: `count` encoded argument tuples in, their outcomes appended
/// to the buffer (see [`run_task`]).
#[doc(hidden)]
pub type TaskFn = fn(&[u8], usize, &mut Vec<u8>);

/// Why a task has no result, as it crosses back from a worker.
#[doc(hidden)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum TaskError {
    /// The task panicked (CPython: the task raised).
    Panicked {
        /// The panic message.
        message: String,
        /// Where it panicked (`file:line:column`).
        location: Option<String>,
    },
    /// Its result could not be serialized (CPython: `MaybeEncodingError`), or no function of
    /// that name can run as a task.
    Serialization {
        /// What.
        what: String,
        /// Why.
        reason: String,
    },
    /// Its arguments could not be deserialized in the worker.
    Deserialization {
        /// What.
        what: String,
        /// Why.
        reason: String,
    },
}

impl TaskError {
    /// The crate error this stands for, naming the worker it happened in.
    pub(crate) fn into_error(self, process: &str) -> Error {
        match self {
            TaskError::Panicked { message, location } => Error::TaskFailed {
                process: process.to_owned(),
                message,
                location,
            },
            TaskError::Serialization { what, reason } => Error::Serialization { what, reason },
            TaskError::Deserialization { what, reason } => Error::Deserialization { what, reason },
        }
    }
}

thread_local! {
    /// Set while a task runs in a worker: its panics are recorded, not printed.
    static IN_TASK: Cell<bool> = const { Cell::new(false) };
    /// The location of the last panic of a task on this thread.
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// In a pool worker: a task's panic is recorded for its error, not printed (CPython sends the
/// exception back instead of printing it); any other panic goes to the hook that was there.
pub(crate) fn install_task_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if IN_TASK.with(Cell::get) {
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
            PANIC_LOCATION.with(|slot| *slot.borrow_mut() = location);
        } else {
            previous(info);
        }
    }));
}

/// Appends one task's outcome to `out` in the chunk format: a tag byte (0: a result, 1: a
/// [`TaskError`]), the payload's length (a postcard varint), the payload (the postcard bytes of
/// the result, or of the error).
pub(crate) fn push_outcome(out: &mut Vec<u8>, outcome: std::result::Result<&[u8], &TaskError>) {
    let mut length = [0u8; 10];
    let (tag, payload) = match outcome {
        Ok(bytes) => (0u8, std::borrow::Cow::Borrowed(bytes)),
        Err(err) => (
            1u8,
            std::borrow::Cow::Owned(postcard::to_stdvec(err).unwrap_or_default()),
        ),
    };
    out.push(tag);
    if let Ok(length) = postcard::to_slice(&(payload.len() as u64), &mut length) {
        wire::extend_small(out, length);
    }
    wire::extend_small(out, &payload);
}

/// Splits a buffer of outcomes (see [`push_outcome`]) into `(is a result, payload range)`.
pub(crate) fn split_outcomes(buf: &[u8]) -> Vec<(bool, std::ops::Range<usize>)> {
    let mut outcomes = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let ok = buf[at] == 0;
        let Ok((len, rest)) = postcard::take_from_bytes::<u64>(&buf[at + 1..]) else {
            break;
        };
        let start = buf.len() - rest.len();
        let end = start.saturating_add(len as usize).min(buf.len());
        outcomes.push((ok, start..end));
        at = end;
    }
    outcomes
}

/// Runs `count` tasks whose encoded argument tuples follow one another in `args`, appending
/// each one's outcome to `out` (see [`push_outcome`]): its encoded result, or why there is none
/// (a panic, a result that does not serialize, arguments that do not deserialize).
#[doc(hidden)]
pub fn run_task<F, A>(task: &F, mut args: &[u8], count: usize, out: &mut Vec<u8>)
where
    F: Task<A>,
    A: DeserializeOwned,
    F::Output: Serialize,
{
    let name = type_name::<F>();
    let mut scratch = Vec::new();
    for done in 0..count {
        let decoded = match postcard::take_from_bytes::<A>(args) {
            Ok((value, rest)) => {
                args = rest;
                value
            }
            Err(err) => {
                // The following arguments cannot be found either: they all fail.
                let err = TaskError::Deserialization {
                    what: format!("the arguments of task '{name}'"),
                    reason: err.to_string(),
                };
                for _ in done..count {
                    push_outcome(out, Err(&err));
                }
                return;
            }
        };
        IN_TASK.with(|flag| flag.set(true));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.call(decoded)));
        IN_TASK.with(|flag| flag.set(false));
        match result {
            Ok(value) => {
                scratch.clear();
                let mut serializer = postcard::Serializer {
                    output: wire::SmallPieces(std::mem::take(&mut scratch)),
                };
                match value.serialize(&mut serializer) {
                    Ok(()) => {
                        scratch = serializer.output.0;
                        push_outcome(out, Ok(&scratch));
                    }
                    Err(_) => {
                        // The error path only: `wire::encode` words the reason.
                        let what = || format!("the result of task '{name}'");
                        let (what, reason) = match wire::encode(&value, what) {
                            Err(Error::Serialization { what, reason }) => (what, reason),
                            _ => (what(), "it cannot be serialized".to_owned()),
                        };
                        push_outcome(out, Err(&TaskError::Serialization { what, reason }));
                    }
                }
            }
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic with a non-string payload".to_owned());
                let err = TaskError::Panicked {
                    message,
                    location: PANIC_LOCATION.with(|slot| slot.borrow_mut().take()),
                };
                push_outcome(out, Err(&err));
            }
        }
    }
}

/// How a worker finds a task's function: by its registered name (every start method), or, under
/// `fork` only, by the address of its monomorphized entry point, which is the same in a forked
/// worker because the worker is a copy of this process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub(crate) enum FuncRef {
    /// A `#[target]` function's registered name.
    Named(String),
    /// The address of a [`TaskFn`] in this program image (forked workers only).
    Address(usize),
}

/// The entry point of the zero-sized task `F`, for forked workers.
fn forked_task<F, A>(args: &[u8], count: usize, out: &mut Vec<u8>)
where
    F: Task<A>,
    A: DeserializeOwned,
    F::Output: Serialize,
{
    // SAFETY: `func_ref` hands out this entry point only for a zero-sized `F` (checked there), so
    // a value of `F` has no bytes that could be invalid; and `F` is inhabited, since the parent
    // held a value of it. A zero-sized closure or function item has no drop glue.
    let task: F = unsafe { std::ptr::NonNull::<F>::dangling().as_ptr().read() };
    run_task(&task, args, count, out)
}

/// How a worker started with `method` will find the task `F`, or the `Serialization` error that
/// says why it cannot.
pub(crate) fn func_ref<F, A>(fork: bool) -> Result<FuncRef>
where
    F: Task<A>,
    A: DeserializeOwned,
    F::Output: Serialize,
{
    let name = type_name::<F>();
    if fork {
        if std::mem::size_of::<F>() != 0 {
            return Err(Error::Serialization {
                what: format!("task '{name}'"),
                reason: "a closure that captures variables cannot be sent to a pool worker \
                         (CPython: \"Can't pickle local object\"): pass what it captures as \
                         arguments, or make it a free function"
                    .to_owned(),
            });
        }
        let entry: TaskFn = forked_task::<F, A>;
        return Ok(FuncRef::Address(entry as usize));
    }
    check_crosses_by_name("task", name)?;
    Ok(FuncRef::Named(name.to_owned()))
}

/// The entry point a [`FuncRef`] names, in a worker.
pub(crate) fn resolve(func: &FuncRef) -> std::result::Result<TaskFn, TaskError> {
    match func {
        FuncRef::Named(name) => {
            lookup(name)
                .map(|entry| entry.task)
                .ok_or_else(|| TaskError::Serialization {
                    what: format!("task '{name}'"),
                    reason: "no function of that name is registered in the worker's program"
                        .to_owned(),
                })
        }
        // SAFETY: an address is only sent to a worker forked from the process that took it
        // from a `TaskFn` (`func_ref` with `fork`), so the same code lives at it.
        FuncRef::Address(address) => Ok(unsafe { std::mem::transmute::<usize, TaskFn>(*address) }),
    }
}
