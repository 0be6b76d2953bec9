//! Start methods and platforms: the two small vocabularies the catalog and the adapters share.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A start method, as passed to a scenario program in `argv[1]`.
///
/// ```
/// use conformance::StartMethod;
/// let m: StartMethod = "forkserver".parse().unwrap();
/// assert_eq!(m, StartMethod::Forkserver);
/// assert_eq!(m.to_string(), "forkserver");
/// assert!("vfork".parse::<StartMethod>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StartMethod {
    /// `fork`: the child is a copy of the parent.
    Fork,
    /// `spawn`: the child is a fresh interpreter / program.
    Spawn,
    /// `forkserver`: the child is forked from a server process.
    Forkserver,
}

impl StartMethod {
    /// All start methods, in the order the suite runs them.
    pub const ALL: [StartMethod; 3] = [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ];

    /// The name used on the command line and in files.
    pub fn as_str(self) -> &'static str {
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

/// The error of parsing an unknown start method name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown start method `{0}`: expected one of `fork`, `spawn`, `forkserver`")]
pub struct UnknownStartMethod(pub String);

impl FromStr for StartMethod {
    type Err = UnknownStartMethod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fork" => Ok(StartMethod::Fork),
            "spawn" => Ok(StartMethod::Spawn),
            "forkserver" => Ok(StartMethod::Forkserver),
            other => Err(UnknownStartMethod(other.to_string())),
        }
    }
}

/// An operating system a scenario may apply to.
///
/// ```
/// use conformance::{Platform, StartMethod};
/// let p: Platform = "windows".parse().unwrap();
/// assert!(!p.has_method(StartMethod::Fork));
/// assert!(p.has_method(StartMethod::Spawn));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Linux.
    Linux,
    /// macOS.
    Macos,
    /// Windows.
    Windows,
}

impl Platform {
    /// All platforms.
    pub const ALL: [Platform; 3] = [Platform::Linux, Platform::Macos, Platform::Windows];

    /// The platform this program runs on, if it is one of the three.
    pub fn current() -> Option<Platform> {
        match std::env::consts::OS {
            "linux" => Some(Platform::Linux),
            "macos" => Some(Platform::Macos),
            "windows" => Some(Platform::Windows),
            _ => None,
        }
    }

    /// The name used in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Linux => "linux",
            Platform::Macos => "macos",
            Platform::Windows => "windows",
        }
    }

    /// Whether `method` exists on this platform (Windows has only `spawn`).
    pub fn has_method(self, method: StartMethod) -> bool {
        match self {
            Platform::Linux | Platform::Macos => true,
            Platform::Windows => method == StartMethod::Spawn,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown platform name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform `{0}`: expected one of `linux`, `macos`, `windows`")]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "linux" => Ok(Platform::Linux),
            "macos" => Ok(Platform::Macos),
            "windows" => Ok(Platform::Windows),
            other => Err(UnknownPlatform(other.to_string())),
        }
    }
}
