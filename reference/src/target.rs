//! Process targets: what a child runs, and how a target crosses a process boundary.
//!
//! Under `fork` a target is any `FnOnce` (a closure included): the child is a copy of the parent
//! and simply calls it. Under `spawn` and `forkserver` the child is a fresh program, so the target
//! crosses *by name*: `#[multiprocessing::target]` puts the function into a registry under its
//! qualified name (`std::any::type_name`), the parent sends that name and the serialized
//! arguments, and the child looks the name up. This is how pickle sends a function: by
//! `module.qualname`, never by value.

use std::any::type_name;

use serde::de::DeserializeOwned;
use serde::Serialize;

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

/// One registered target: its qualified name and how to run it from serialized arguments.
#[doc(hidden)]
pub struct TargetEntry {
    /// The function's `type_name` (computed at run time: `type_name_of_val` is not `const`).
    pub name: fn() -> &'static str,
    /// Deserializes the arguments and calls the function, returning the exit code.
    pub run: fn(&[u8]) -> Result<i32>,
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
        if name.contains("{{closure}}") {
            return Err(Error::Serialization {
                what: format!("target '{name}'"),
                reason: "a closure cannot cross a spawn or forkserver boundary (CPython: \"Can't \
                         pickle local object\"): make it a free function annotated with \
                         #[multiprocessing::target], or use the fork start method"
                    .to_owned(),
            });
        }
        if lookup(name).is_none() {
            let reason = if cfg!(all(windows, target_env = "gnu")) && TARGETS.is_empty() {
                // Every #[target] lands in one linker section; none at all means GNU ld for PE
                // dropped them (linkme issue #25).
                "no target at all is registered in this program: GNU ld drops the registry's \
                 linker sections on windows-gnu, so link with \
                 `-C link-arg=-Wl,--no-gc-sections` (or use the MSVC toolchain)"
            } else {
                "it is not registered, so a spawned child could not find it by name: annotate \
                 the function with #[multiprocessing::target], or use the fork start method"
            };
            return Err(Error::Serialization {
                what: format!("target '{name}'"),
                reason: reason.to_owned(),
            });
        }
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
