//! The implementation-neutral conformance suite of the multiprocessing process model.
//!
//! `SPEC.md` (beside this crate's manifest) defines how a scenario program is run and checked;
//! this crate implements it:
//!
//! - [`catalog`]: `scenarios/catalog.toml`, validated, with defaults applied;
//! - [`trace`]: trace normalization and the `.snap` expected outcomes;
//! - [`adapter`]: how to run a scenario against an implementation (manifests and built-ins);
//! - [`run`]: running one scenario in its own session, with a timeout and leak checks, and
//!   judging it;
//! - [`suite`]: many runs in parallel, and their report;
//! - [`leak`]: what a run left behind (session members, `/dev/shm` entries).
//!
//! ```no_run
//! use conformance::{Adapter, Selection, Suite};
//! let suite = Suite::load("scenarios")?;
//! let report = suite.run(&[Adapter::cpython("python3")?], &Selection::all(), 2)?;
//! assert!(report.ok(), "{report}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod adapter;
pub mod catalog;
pub mod leak;
pub mod method;
pub mod profile;
pub mod run;
pub mod suite;
pub mod trace;

pub use adapter::{Adapter, AdapterError, Deviation, IDENTITY_FILE_VAR, REFERENCE_PROFILE};
pub use catalog::{Catalog, CatalogError, Scenario, Variant};
pub use method::{Platform, StartMethod};
pub use profile::{ProfileError, Version, VersionRange};
pub use run::{Outcome, RunOptions, RunResult, Runner};
pub use suite::{BuiltinDeviation, Job, Report, Selection, Suite, SuiteError};
pub use trace::{normalize, Expected, ExpectedError};
