//! Start methods, contexts and the default start method per platform (CPython's
//! `multiprocessing.context`).
//!
//! A [`Context`] is a start method bound to a factory for processes. The *default context* is the
//! one `Process::new` uses; it is fixed by the first of [`set_start_method`], [`get_start_method`]
//! (with `allow_none = false`) or the first `start` of a process that has no explicit context, and
//! after that only `set_start_method(.., force = true)` changes it, as in CPython.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::process::Process;
use crate::target::Target;

/// How a child process is created.
///
/// ```
/// use multiprocessing::StartMethod;
/// let method: StartMethod = "forkserver".parse().unwrap();
/// assert_eq!(method, StartMethod::Forkserver);
/// assert_eq!(method.to_string(), "forkserver");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum StartMethod {
    /// The child is a copy of the parent made by `fork()` at `start`; nothing is serialized.
    Fork,
    /// A fresh process re-executes the program; the target crosses by name, its arguments
    /// serialized.
    Spawn,
    /// A single-threaded server, itself started like a `spawn` child, forks every child.
    Forkserver,
}

impl StartMethod {
    /// Every start method, in the order CPython's documentation lists them.
    pub const ALL: [StartMethod; 3] = [
        StartMethod::Spawn,
        StartMethod::Fork,
        StartMethod::Forkserver,
    ];

    /// The method's name as Python spells it: `"fork"`, `"spawn"` or `"forkserver"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StartMethod {
    type Err = Error;

    /// Parses a start method's name; an unknown name is CPython's `cannot find context for 'x'`.
    fn from_str(name: &str) -> Result<Self> {
        match name {
            "fork" => Ok(StartMethod::Fork),
            "spawn" => Ok(StartMethod::Spawn),
            "forkserver" => Ok(StartMethod::Forkserver),
            other => Err(Error::UnknownContext(other.to_owned())),
        }
    }
}

/// The platforms whose start-method policy differs.
///
/// ```
/// use multiprocessing::Platform;
/// if cfg!(target_os = "linux") {
///     assert_eq!(Platform::current(), Platform::Linux);
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Linux.
    Linux,
    /// macOS.
    MacOs,
    /// Windows.
    Windows,
    /// Any other Unix (the BSDs, illumos, ...).
    OtherUnix,
}

impl Platform {
    /// The platform this program was compiled for.
    pub const fn current() -> Platform {
        if cfg!(target_os = "linux") {
            Platform::Linux
        } else if cfg!(target_os = "macos") {
            Platform::MacOs
        } else if cfg!(windows) {
            Platform::Windows
        } else {
            Platform::OtherUnix
        }
    }

    /// A short name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            Platform::Linux => "linux",
            Platform::MacOs => "macos",
            Platform::Windows => "windows",
            Platform::OtherUnix => "this unix",
        }
    }

    /// The start methods the platform has, the default first (Python 3.14's
    /// `get_all_start_methods()` order).
    ///
    /// ```
    /// use multiprocessing::{Platform, StartMethod::*};
    /// assert_eq!(Platform::Linux.start_methods(), vec![Forkserver, Fork, Spawn]);
    /// assert_eq!(Platform::MacOs.start_methods(), vec![Spawn, Fork, Forkserver]);
    /// assert_eq!(Platform::Windows.start_methods(), vec![Spawn]);
    /// ```
    pub fn start_methods(self) -> Vec<StartMethod> {
        use StartMethod::*;
        match self {
            Platform::Windows => vec![Spawn],
            Platform::MacOs => vec![Spawn, Fork, Forkserver],
            Platform::Linux | Platform::OtherUnix => vec![Forkserver, Fork, Spawn],
        }
    }

    /// The default start method, modelling Python 3.14: `forkserver` on Linux and other Unix,
    /// `spawn` on macOS (since 3.8) and Windows. Where the default is `forkserver`, CPython
    /// 3.14.9+ falls back to `spawn` when no temporary directory is writable (gh-155717); the
    /// default of a running program, [`get_start_method`], checks that, this pure function does
    /// not (see [`Platform::default_start_method_with`]).
    ///
    /// ```
    /// use multiprocessing::{Platform, StartMethod};
    /// assert_eq!(Platform::Linux.default_start_method(), StartMethod::Forkserver);
    /// assert_eq!(Platform::MacOs.default_start_method(), StartMethod::Spawn);
    /// ```
    pub fn default_start_method(self) -> StartMethod {
        self.start_methods()[0]
    }

    /// The default start method when a temporary directory is, or is not, writable: CPython
    /// 3.14.9+ uses `spawn` instead of `forkserver` when none is (gh-155717), since its
    /// forkserver listens on a socket file there.
    ///
    /// The reference's forkserver needs no file (its socket pair is anonymous), but its default
    /// follows CPython's all the same, so that a program chooses the same start method, and so
    /// behaves the same, under both.
    ///
    /// ```
    /// use multiprocessing::{Platform, StartMethod};
    /// assert_eq!(Platform::Linux.default_start_method_with(false), StartMethod::Spawn);
    /// assert_eq!(Platform::Linux.default_start_method_with(true), StartMethod::Forkserver);
    /// assert_eq!(Platform::MacOs.default_start_method_with(true), StartMethod::Spawn);
    /// ```
    pub fn default_start_method_with(self, writable_tempdir: bool) -> StartMethod {
        match self.default_start_method() {
            StartMethod::Forkserver if !writable_tempdir => StartMethod::Spawn,
            method => method,
        }
    }

    /// The default start method of this running program: [`Platform::default_start_method`],
    /// or `spawn` where that is `forkserver` and no temporary directory is writable. The check
    /// (creating and removing a file in the first writable candidate, as CPython's `tempfile`
    /// does) runs once, when first needed.
    fn default_here(self) -> StartMethod {
        static DEFAULT: std::sync::OnceLock<StartMethod> = std::sync::OnceLock::new();
        *DEFAULT.get_or_init(|| match self.default_start_method() {
            StartMethod::Forkserver => self.default_start_method_with(has_writable_tempdir()),
            method => method,
        })
    }

    /// Checks that `method` exists on this platform.
    pub fn check(self, method: StartMethod) -> Result<StartMethod> {
        let methods = self.start_methods();
        if methods.contains(&method) {
            Ok(method)
        } else {
            Err(Error::UnsupportedStartMethod {
                method: method.as_str(),
                platform: self.name(),
                available: methods
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }
}

/// A start method and a factory for processes that use it (CPython's `multiprocessing.context`
/// objects, returned by `get_context`).
///
/// ```
/// use multiprocessing::{get_context, StartMethod};
/// let ctx = get_context(Some("spawn")).unwrap();
/// assert_eq!(ctx.start_method(), StartMethod::Spawn);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    method: StartMethod,
}

impl Context {
    /// The context of `method`, if this platform has it.
    pub fn new(method: StartMethod) -> Result<Context> {
        Platform::current()
            .check(method)
            .map(|method| Context { method })
    }

    /// This context's start method.
    pub fn start_method(&self) -> StartMethod {
        self.method
    }

    /// A new, not yet started process that will be started with this context's method.
    ///
    /// ```no_run
    /// #[multiprocessing::target]
    /// fn greet(name: String) {
    ///     println!("hello, {name}");
    /// }
    ///
    /// fn main() -> multiprocessing::Result<()> {
    ///     multiprocessing::main_guard();
    ///     let ctx = multiprocessing::get_context(Some("spawn"))?;
    ///     let p = ctx.process(greet, ("world".to_string(),));
    ///     p.start()?;
    ///     p.join()?;
    ///     Ok(())
    /// }
    /// ```
    pub fn process<A, T>(&self, target: T, args: A) -> Process
    where
        T: Target<A>,
        A: serde::Serialize + Send + 'static,
    {
        Process::with_context(Some(*self), target, args)
    }
}

/// The default context: `None` until fixed (CPython's `_default_context._actual_context`).
static DEFAULT: Mutex<Option<StartMethod>> = Mutex::new(None);

fn default_slot() -> std::sync::MutexGuard<'static, Option<StartMethod>> {
    DEFAULT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The context of the named start method, or the default context for `None`.
///
/// ```
/// use multiprocessing::{get_context, StartMethod};
/// assert_eq!(get_context(Some("spawn")).unwrap().start_method(), StartMethod::Spawn);
/// assert_eq!(
///     get_context(Some("threads")).unwrap_err().to_string(),
///     "cannot find context for 'threads'"
/// );
/// ```
pub fn get_context(method: Option<&str>) -> Result<Context> {
    match method {
        Some(name) => Context::new(name.parse()?),
        None => Ok(Context {
            method: resolve_default(),
        }),
    }
}

/// Fixes the default start method. A second call is CPython's `context has already been set`
/// error unless `force` is true; `set_start_method(None, true)` clears the choice.
///
/// ```
/// use multiprocessing::{get_start_method, set_start_method, Error, StartMethod};
/// set_start_method(Some("spawn"), false).unwrap();
/// assert!(matches!(set_start_method(Some("spawn"), false), Err(Error::ContextAlreadySet)));
/// set_start_method(None, true).unwrap();
/// assert_eq!(get_start_method(true), None);
/// set_start_method(Some("spawn"), true).unwrap();
/// assert_eq!(get_start_method(false), Some(StartMethod::Spawn));
/// ```
pub fn set_start_method(method: Option<&str>, force: bool) -> Result<()> {
    let mut slot = default_slot();
    if slot.is_some() && !force {
        return Err(Error::ContextAlreadySet);
    }
    *slot = match method {
        Some(name) => Some(Context::new(name.parse()?)?.method),
        None if force => None,
        None => return Err(Error::UnknownContext("None".to_owned())),
    };
    Ok(())
}

/// The default start method. With `allow_none` and no method fixed yet, `None`; otherwise the
/// platform default is fixed now and returned, as CPython does.
///
/// ```
/// use multiprocessing::{get_start_method, StartMethod};
/// assert_eq!(get_start_method(true), None);
/// assert_eq!(get_start_method(false), Some(StartMethod::Forkserver)); // on Linux
/// assert_eq!(get_start_method(true), Some(StartMethod::Forkserver));
/// ```
pub fn get_start_method(allow_none: bool) -> Option<StartMethod> {
    if allow_none {
        *default_slot()
    } else {
        Some(resolve_default())
    }
}

/// The start methods this platform has, the platform's default first (CPython 3.14 lists the
/// default first; before, the order was fixed).
///
/// ```
/// use multiprocessing::{get_all_start_methods, StartMethod};
/// assert_eq!(get_all_start_methods()[0], StartMethod::Forkserver); // on Linux, with a /tmp
/// ```
pub fn get_all_start_methods() -> Vec<StartMethod> {
    let platform = Platform::current();
    let default = platform.default_here();
    let mut methods = platform.start_methods();
    methods.retain(|m| *m != default);
    methods.insert(0, default);
    methods
}

/// Whether a temporary directory is writable: the first of CPython's `tempfile` candidates
/// (`TMPDIR`, `TEMP`, `TMP`, `/tmp`, `/var/tmp`, `/usr/tmp`, the current directory) in which a
/// new file can be created.
fn has_writable_tempdir() -> bool {
    let mut candidates: Vec<std::path::PathBuf> = ["TMPDIR", "TEMP", "TMP"]
        .iter()
        .filter_map(std::env::var_os)
        .filter(|v| !v.is_empty())
        .map(Into::into)
        .collect();
    if cfg!(windows) {
        candidates.push(std::env::temp_dir());
    } else {
        candidates.extend(["/tmp", "/var/tmp", "/usr/tmp"].map(Into::into));
    }
    candidates.extend(std::env::current_dir().ok());
    candidates.iter().any(|dir| {
        let probe = dir.join(format!(".multiprocessing-probe-{}", std::process::id()));
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .is_ok();
        if created {
            let _ = std::fs::remove_file(&probe);
        }
        created
    })
}

/// Locks the default context across `fork()` (see `fork::start`).
#[cfg(unix)]
pub(crate) fn lock_for_fork() -> std::sync::MutexGuard<'static, Option<StartMethod>> {
    default_slot()
}

/// The default method, fixing it to the platform default if nothing was chosen yet.
pub(crate) fn resolve_default() -> StartMethod {
    *default_slot().get_or_insert_with(|| Platform::current().default_here())
}

/// The default method without fixing it: the chosen one, or the platform default.
pub(crate) fn current_default() -> StartMethod {
    (*default_slot()).unwrap_or_else(|| Platform::current().default_here())
}

/// Sets a new child's default to the method that started it, as in CPython, where a child's
/// `_bootstrap` calls `_force_start_method(self._start_method)` (and a child of the default
/// context inherits the parent's default, fixed to that method by its `start`).
pub(crate) fn set_child_default(method: StartMethod) {
    *default_slot() = Some(method);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use StartMethod::*;

    #[rstest]
    #[case::linux(Platform::Linux, Forkserver, &[Forkserver, Fork, Spawn])]
    #[case::other_unix(Platform::OtherUnix, Forkserver, &[Forkserver, Fork, Spawn])]
    #[case::macos(Platform::MacOs, Spawn, &[Spawn, Fork, Forkserver])]
    #[case::windows(Platform::Windows, Spawn, &[Spawn])]
    fn default_start_method_models_python_3_14(
        #[case] platform: Platform,
        #[case] default: StartMethod,
        #[case] all: &[StartMethod],
    ) {
        assert_eq!(platform.default_start_method(), default);
        assert_eq!(platform.start_methods(), all);
    }

    #[test]
    fn fork_is_an_error_on_windows() {
        let err = Platform::Windows.check(Fork).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot find context for 'fork': the fork start method is not available on windows; \
             use one of: spawn"
        );
    }

    #[test]
    fn names_round_trip() {
        for method in StartMethod::ALL {
            assert_eq!(method.as_str().parse::<StartMethod>().unwrap(), method);
        }
        assert!(
            matches!("Fork".parse::<StartMethod>(), Err(Error::UnknownContext(n)) if n == "Fork")
        );
    }
}
