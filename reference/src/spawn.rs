//! The `spawn` start method: a fresh process re-executes this program, re-enters `main`, and at
//! the main guard receives what to run: the *preparation data* (CPython's
//! `spawn.get_preparation_data()` plus the pickled process object).
//!
//! The child inherits no memory and no descriptor but stdout, stderr, a `/dev/null` stdin and the
//! descriptors explicitly handed to it: every other descriptor is closed in the child, whether or
//! not it is close-on-exec (`spawn/posix.rs`). On Windows the child inherits its standard
//! handles only, and its stdin is the pipe its preparation data came on, at end-of-file once read
//! (`spawn/windows.rs`).

use serde::{Deserialize, Serialize};

use crate::context::StartMethod;
use crate::error::Result;
use crate::process::{self, ParentProcess, ProcessShared};
use crate::target::BoundTarget;
use crate::wire;

// How the child is created and handed its preparation data: the one part that differs by
// platform.
#[cfg_attr(unix, path = "spawn/posix.rs")]
#[cfg_attr(windows, path = "spawn/windows.rs")]
mod launch;

#[cfg(unix)]
pub(crate) use launch::spawn_program;
pub(crate) use launch::start;

/// Everything a `spawn` or `forkserver` child needs to become the process the parent created.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Preparation {
    pub(crate) name: String,
    pub(crate) identity: Vec<u32>,
    pub(crate) daemon: bool,
    pub(crate) parent: ParentProcess,
    /// The start method that created the child, which becomes its default (CPython:
    /// `_force_start_method(self._start_method)` in the child's `_bootstrap`).
    pub(crate) method: StartMethod,
    /// The parent's current directory at `start`, which the child takes (CPython's
    /// preparation data `dir`; it matters under `forkserver`, whose server started earlier);
    /// `None` if the parent's is unknown (removed).
    pub(crate) dir: Option<std::path::PathBuf>,
    /// The registered target's qualified name.
    pub(crate) target: String,
    /// The target's arguments, encoded.
    pub(crate) args: Vec<u8>,
}

/// Preparation data, encoded: built in full before any process exists, so every serialization
/// error surfaces in the parent's `start`.
pub(crate) struct Prepared {
    pub(crate) bytes: Vec<u8>,
    /// Descriptors to hand to the child, in order (borrowed from the arguments).
    #[cfg(unix)]
    pub(crate) fds: Vec<std::os::fd::RawFd>,
}

impl Preparation {
    /// Builds and encodes the preparation data for a child of `shared` running `bound`.
    pub(crate) fn prepare(
        shared: &ProcessShared,
        bound: &dyn BoundTarget,
        name: String,
        daemon: bool,
        method: StartMethod,
    ) -> Result<Prepared> {
        let serialized = bound.serialize()?;
        let parent = {
            let this = process::this();
            ParentProcess {
                name: this.display_name().to_owned(),
                pid: std::process::id() as i32,
            }
        };
        let preparation = Preparation {
            name,
            identity: shared.identity.clone(),
            daemon,
            parent,
            method,
            dir: std::env::current_dir().ok(),
            target: serialized.name.to_owned(),
            args: serialized.args,
        };
        let bytes = wire::encode(&preparation, || "the preparation data".to_owned())?;
        Ok(Prepared {
            bytes,
            #[cfg(unix)]
            fds: serialized.fds,
        })
    }
}

/// A valid preparation data encoding, for the fuzz targets (`fuzz.rs`) to mutate.
#[cfg(feature = "fuzzing")]
pub(crate) fn example_preparation() -> Vec<u8> {
    let preparation = Preparation {
        name: "Process-1".to_owned(),
        identity: vec![1],
        daemon: false,
        parent: ParentProcess {
            name: "MainProcess".to_owned(),
            pid: 42,
        },
        method: StartMethod::Forkserver,
        dir: Some("/tmp".into()),
        target: "crate::worker".to_owned(),
        args: vec![3, 1, 2, 3],
    };
    wire::encode(&preparation, String::new).unwrap_or_default()
}
