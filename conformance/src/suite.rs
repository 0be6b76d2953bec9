//! The suite: a catalog, its expected outcomes, and a parallel run of
//! adapters × scenarios × start methods.
//!
//! ```no_run
//! use conformance::{Adapter, Selection, Suite};
//! let suite = Suite::load("scenarios").unwrap();
//! let adapters = [Adapter::reference("target/debug/scenarios"), Adapter::cpython("python3").unwrap()];
//! let report = suite.run(&adapters, &Selection::all(), 2).unwrap();
//! print!("{}", report.table());
//! assert!(report.ok(), "{report}");
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::adapter::Adapter;
use crate::catalog::{Catalog, CatalogError, Scenario};
use crate::deviation::Deviation;
use crate::leak::{ShmIsolation, ShmSnapshot};
use crate::method::StartMethod;
use crate::profile::VersionRange;
use crate::run::{Outcome, RunResult, Runner};
use crate::trace::Expected;

/// Which scenarios and start methods to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Scenario ids, or every scenario when `None`.
    pub scenarios: Option<Vec<String>>,
    /// Start methods, or all three when `None`.
    pub methods: Option<Vec<StartMethod>>,
}

impl Selection {
    /// Every scenario with every start method.
    pub fn all() -> Selection {
        Selection::default()
    }

    /// Only these scenarios.
    pub fn scenarios<I, S>(ids: I) -> Selection
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Selection {
            scenarios: Some(ids.into_iter().map(Into::into).collect()),
            methods: None,
        }
    }

    /// Restrict to these start methods.
    pub fn with_methods(mut self, methods: &[StartMethod]) -> Selection {
        self.methods = Some(methods.to_vec());
        self
    }
}

/// Why a suite could not be set up or run.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The catalog is invalid.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The selection names a scenario the catalog lacks.
    #[error("{catalog}: no scenario \"{id}\": check the selection against the catalog's ids")]
    UnknownScenario {
        /// The catalog path.
        catalog: PathBuf,
        /// The id.
        id: String,
    },
    /// The built-in deviations file cannot be read or is invalid.
    #[error("{path}: invalid deviations file: {message}")]
    Deviations {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The specification the catalog names cannot be read.
    #[error("{path}: cannot read the specification the catalog names (`spec`): {source}")]
    Spec {
        /// The specification's path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A scenario or a deviation names a clause the specification does not define.
    #[error(
        "{origin}: {what} names clause \"{clause}\", which {spec} does not define: name one of \
         its clauses{hint}"
    )]
    UnknownClause {
        /// Where the clause was named (the catalog, the deviations file, or `adapter <name>`).
        origin: String,
        /// The entry that names it.
        what: String,
        /// The clause.
        clause: String,
        /// The specification.
        spec: PathBuf,
        /// The scenario's own clauses, when a deviation names another.
        hint: String,
    },
    /// A manifest says its implementation lacks an optional API no scenario needs.
    #[error(
        "adapter {adapter}: `lacks` names \"{api}\", which no scenario of {catalog} needs; the \
         optional APIs are: {known}"
    )]
    UnknownCapability {
        /// The adapter's name.
        adapter: String,
        /// The name.
        api: String,
        /// The catalog path.
        catalog: PathBuf,
        /// The names scenarios need, comma separated.
        known: String,
    },
    /// An adapter lists a deviation for a scenario the catalog lacks.
    #[error(
        "adapter {adapter}: deviation for unknown scenario \"{id}\" (not in {catalog}): fix or \
         remove the [[deviation]] entry"
    )]
    UnknownDeviation {
        /// The adapter's name.
        adapter: String,
        /// The id.
        id: String,
        /// The catalog path.
        catalog: PathBuf,
    },
}

/// The results of a suite run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// One record per (adapter, scenario, start method), in plan order.
    pub results: Vec<RunResult>,
    /// `/dev/shm` entries that appeared during a parallel run (`jobs > 1`) and were left behind,
    /// not attributed to a scenario (see [`crate::leak`]); they were removed. Re-run with one job
    /// to learn which scenario leaked them. With one job, leaks are reported per run instead.
    pub stray_shm: Vec<PathBuf>,
}

impl Report {
    /// Whether every outcome is `pass`, `xfail` or `skip`, and nothing was left in `/dev/shm`.
    pub fn ok(&self) -> bool {
        self.stray_shm.is_empty() && self.results.iter().all(|r| r.outcome.is_ok())
    }

    /// The records whose outcome is not acceptable.
    pub fn failures(&self) -> impl Iterator<Item = &RunResult> {
        self.results.iter().filter(|r| !r.outcome.is_ok())
    }

    /// How many records have this outcome.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.results.iter().filter(|r| r.outcome == outcome).count()
    }

    /// A table of every record: implementation, scenario, method, outcome, seconds.
    pub fn table(&self) -> String {
        let w_impl = width(self.results.iter().map(|r| r.implementation.len()), 14);
        let w_id = width(self.results.iter().map(|r| r.scenario.len()), 8);
        let mut out = format!(
            "{:<w_impl$}  {:<w_id$}  {:<10}  {:<7}  {:>7}\n",
            "implementation", "scenario", "method", "outcome", "seconds"
        );
        for r in &self.results {
            out.push_str(&format!(
                "{:<w_impl$}  {:<w_id$}  {:<10}  {:<7}  {:>7.2}\n",
                r.implementation,
                r.scenario,
                r.start_method.as_str(),
                r.outcome,
                r.seconds
            ));
        }
        out
    }

    /// One line of totals, e.g. `12 pass, 1 fail, 3 skip`.
    pub fn summary(&self) -> String {
        let all = [
            Outcome::Pass,
            Outcome::Fail,
            Outcome::Xfail,
            Outcome::Xpass,
            Outcome::Skip,
            Outcome::Timeout,
            Outcome::Leak,
            Outcome::Error,
        ];
        let mut parts: Vec<String> = all
            .iter()
            .filter_map(|o| {
                let n = self.count(*o);
                (n > 0).then(|| format!("{n} {o}"))
            })
            .collect();
        if !self.stray_shm.is_empty() {
            parts.push(format!("{} stray /dev/shm entries", self.stray_shm.len()));
        }
        if parts.is_empty() {
            "nothing run".into()
        } else {
            parts.join(", ")
        }
    }
}

impl Report {
    /// Draft `[[deviation]]` entries for this run's unexpected results, for a person to edit
    /// (as wpt's update-expectations does): one per implementation, scenario and observed
    /// outcome, with the start methods grouped and the outcome pinned (a fail's exit status and
    /// trace too). The reason is left empty, which a loaded entry may not be: say why before
    /// use. A built-in implementation's entries name it (`scenarios/deviations.toml`); another's
    /// go in its manifest. An `xpass` gets a comment asking to remove its entry.
    ///
    /// ```
    /// # use conformance::{Catalog, Report, RunResult, Outcome, StartMethod, Expected};
    /// let catalog = Catalog::parse(
    ///     "[[scenario]]\nid = \"s\"\nclauses = [\"LIFE-1\"]\nstatement = \"x\"\n", "c").unwrap();
    /// let fail = |m| RunResult {
    ///     scenario: "s".into(), implementation: "mine".into(), start_method: m, variant: None,
    ///     outcome: Outcome::Fail, seconds: 0.1, expected: None,
    ///     actual: Some(Expected { exit: 1, lines: vec!["boom".into()] }), message: String::new(),
    ///     identity: None, shm_isolation: conformance::ShmIsolation::Off, stray_shm: vec![],
    ///     ended_by: None,
    /// };
    /// let report = Report { results: vec![fail(StartMethod::Fork), fail(StartMethod::Spawn)],
    ///                       stray_shm: vec![] };
    /// let draft = report.draft_deviations(&catalog);
    /// assert!(draft.contains("method = [\"fork\", \"spawn\"]\noutcome = \"fail\"\nexit = 1\n"), "{draft}");
    /// ```
    pub fn draft_deviations(&self, catalog: &Catalog) -> String {
        type Key<'a> = (&'a str, &'a str, Outcome, Option<&'a Expected>);
        let mut groups: Vec<(Key<'_>, Vec<StartMethod>)> = Vec::new();
        for r in &self.results {
            if !matches!(
                r.outcome,
                Outcome::Fail | Outcome::Leak | Outcome::Timeout | Outcome::Xpass
            ) {
                continue;
            }
            let pinned = (r.outcome == Outcome::Fail)
                .then_some(r.actual.as_ref())
                .flatten();
            let key = (
                r.implementation.as_str(),
                r.scenario.as_str(),
                r.outcome,
                pinned,
            );
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, methods)) => methods.push(r.start_method),
                None => groups.push((key, vec![r.start_method])),
            }
        }
        let mut out = String::from(
            "# Drafted by `cargo xtask matrix --write-deviations` from a run's unexpected results: \
             one entry\n# per implementation, scenario and outcome. Edit before use: say why \
             (`reason` is empty, which\n# is rejected), check the clause and the kind, and write \
             `*` where a pinned line varies.\n",
        );
        let value = |v: toml::Value| v.to_string();
        let mut current = "";
        for ((implementation, scenario, outcome, actual), methods) in &groups {
            let family = implementation
                .split_once('-')
                .map_or(*implementation, |(f, _)| f);
            let builtin = ["reference", "cpython", "pypy"].contains(&family);
            if *implementation != current {
                current = implementation;
                out.push_str(&format!(
                    "\n# ---------------- {implementation}: {}\n",
                    if builtin {
                        "scenarios/deviations.toml"
                    } else {
                        "its adapter manifest"
                    }
                ));
            }
            let all = catalog
                .get(scenario)
                .map(|s| s.methods.len() <= methods.len())
                .unwrap_or(false);
            let method_list = || {
                toml::Value::Array(
                    methods
                        .iter()
                        .map(|m| toml::Value::String(m.to_string()))
                        .collect(),
                )
            };
            if *outcome == Outcome::Xpass {
                out.push_str(&format!(
                    "\n# {scenario} passes under {} although listed: remove or narrow its entry\n",
                    methods
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                continue;
            }
            out.push_str("\n[[deviation]]\n");
            if builtin {
                out.push_str(&format!(
                    "implementation = {}\n",
                    value(family.to_string().into())
                ));
            }
            out.push_str(&format!(
                "scenario = {}\n",
                value(scenario.to_string().into())
            ));
            if !all {
                out.push_str(&format!("method = {}\n", value(method_list())));
            }
            out.push_str(&format!("outcome = \"{outcome}\"\n"));
            if let Some(actual) = actual {
                out.push_str(&format!("exit = {}\n", actual.exit));
                out.push_str("lines = [\n");
                for l in &actual.lines {
                    let l = value(toml::Value::String(l.replace('*', "**")));
                    out.push_str(&format!("    {l},\n"));
                }
                out.push_str("]\n");
            }
            out.push_str("reason = \"\"\n");
            let clauses = catalog
                .get(scenario)
                .map(|s| s.clauses.clone())
                .unwrap_or_default();
            out.push_str(&format!(
                "clause = {}{}\n",
                value(clauses.first().cloned().unwrap_or_default().into()),
                if clauses.len() > 1 {
                    format!("  # the scenario checks {}", clauses.join(", "))
                } else {
                    String::new()
                }
            ));
        }
        out
    }
}

fn width(lens: impl Iterator<Item = usize>, min: usize) -> usize {
    lens.max().unwrap_or(0).max(min)
}

impl fmt::Display for Report {
    /// The table, then every unacceptable record's message, then the summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table())?;
        for r in self.failures() {
            writeln!(
                f,
                "\n== {} {} {}: {}",
                r.implementation, r.scenario, r.start_method, r.outcome
            )?;
            writeln!(f, "{}", r.message)?;
        }
        if !self.stray_shm.is_empty() {
            writeln!(
                f,
                "\n== left in /dev/shm during the parallel run (removed; re-run with one job to \
                 find the scenario):"
            )?;
            for p in &self.stray_shm {
                writeln!(f, "    {}", p.display())?;
            }
        }
        writeln!(f, "\n{}", self.summary())
    }
}

/// A catalog with its expected outcomes and a runner.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The catalog.
    pub catalog: Catalog,
    /// The runner (scenarios and expected directories, options).
    pub runner: Runner,
    /// The known deviations of the built-in implementations (`deviations.toml`).
    pub builtin_deviations: Vec<BuiltinDeviation>,
    /// The clauses the catalog's specification defines (its `spec` key), when it names one:
    /// every clause a scenario or a deviation names must be one of them.
    pub spec_clauses: Option<std::collections::BTreeSet<String>>,
}

/// A known deviation of a built-in implementation (`reference`, `cpython`, `pypy`), kept with
/// the suite in `<scenarios>/deviations.toml` because a built-in adapter has no manifest:
///
/// ```toml
/// [[deviation]]
/// implementation = "pypy"          # reference | cpython | pypy
/// profiles = "<3.10"               # optional: only for these claimed Python versions
/// scenario = "queue-feeder-flush"
/// method = ["spawn"]               # optional: every method when absent
/// outcome = "fail"                 # optional, and the other keys of a deviation (see
///                                  # crate::deviation): kind, exit, lines
/// reason = "why, in a sentence or two"
/// clause = "IPC-4"
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinDeviation {
    /// `reference`, `cpython` or `pypy`: the adapters named so, or `<name>-<version>`.
    pub implementation: String,
    /// The profiles (claimed Python versions) it applies to.
    pub profiles: VersionRange,
    /// The deviation itself.
    pub deviation: Deviation,
}

impl BuiltinDeviation {
    /// Whether it belongs to `adapter`: the same implementation, and a profile in range.
    pub fn applies_to(&self, adapter: &Adapter) -> bool {
        let family = adapter
            .name
            .split_once('-')
            .map_or(adapter.name.as_str(), |(family, _)| family);
        family == self.implementation && self.profiles.matches(&adapter.profile)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeviations {
    #[serde(default)]
    deviation: Vec<toml::Table>,
}

/// Parses `deviations.toml` text; `path` names it in errors.
pub fn parse_builtin_deviations(
    text: &str,
    path: &Path,
) -> Result<Vec<BuiltinDeviation>, SuiteError> {
    let bad = |message: String| SuiteError::Deviations {
        path: path.to_path_buf(),
        message,
    };
    let raw: RawDeviations =
        toml::from_str(text).map_err(|e| bad(crate::catalog::toml_error(text, &e)))?;
    raw.deviation
        .into_iter()
        .enumerate()
        .map(|(i, mut table)| {
            let at = match table.get("scenario") {
                Some(toml::Value::String(id)) => format!("deviation for scenario \"{id}\""),
                _ => format!("deviation #{}", i + 1),
            };
            let implementation = match table.remove("implementation") {
                Some(toml::Value::String(name)) => name,
                _ => {
                    return Err(bad(format!(
                        "{at}: `implementation` must name reference, cpython or pypy"
                    )))
                }
            };
            if !["reference", "cpython", "pypy"].contains(&implementation.as_str()) {
                return Err(bad(format!(
                    "{at}: unknown implementation \"{implementation}\": use reference, cpython or \
                     pypy (other implementations list their deviations in their adapter manifest)"
                )));
            }
            let profiles = match table.remove("profiles") {
                None => VersionRange::all(),
                Some(toml::Value::String(p)) => p
                    .parse()
                    .map_err(|e| bad(format!("{at}: `profiles`: {e}")))?,
                Some(_) => return Err(bad(format!("{at}: `profiles` must be a string"))),
            };
            let deviation: Deviation = table
                .try_into()
                .map_err(|e: toml::de::Error| bad(e.message().trim_end().to_string()))?;
            Ok(BuiltinDeviation {
                implementation,
                profiles,
                deviation,
            })
        })
        .collect()
}

/// The clause ids a specification defines: each `- **AREA-N**` that begins a line.
///
/// ```
/// let spec = "## 1. Names\n- **PROC-1** (MUST) A child...\n- **PROC-2a** (SHOULD) ...\n";
/// let ids = conformance::suite::spec_clauses(spec);
/// assert_eq!(ids.into_iter().collect::<Vec<_>>(), ["PROC-1", "PROC-2a"]);
/// ```
pub fn spec_clauses(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("- **"))
        .filter_map(|rest| rest.split_once("**").map(|(id, _)| id))
        .filter(|id| crate::catalog::is_clause(id))
        .map(String::from)
        .collect()
}

/// The per-run `/dev/shm` check to make, asked for `wanted`, with `jobs` runs at a time:
/// a snapshot per run is exact only when runs do not overlap, so with more than one job, and
/// no private namespace to be had, it becomes one check over the whole run
/// ([`ShmIsolation::WholeRun`]).
///
/// ```
/// use conformance::{leak::ShmIsolation, suite::shm_isolation_for};
/// assert_eq!(shm_isolation_for(ShmIsolation::Snapshot, 1), ShmIsolation::Snapshot);
/// assert_eq!(shm_isolation_for(ShmIsolation::Snapshot, 2), ShmIsolation::WholeRun);
/// ```
pub fn shm_isolation_for(wanted: ShmIsolation, jobs: usize) -> ShmIsolation {
    match wanted {
        ShmIsolation::Namespace if jobs > 1 && crate::leak::namespace_available().is_err() => {
            ShmIsolation::WholeRun
        }
        ShmIsolation::Snapshot if jobs > 1 => ShmIsolation::WholeRun,
        other => other,
    }
}

/// One planned run.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The implementation.
    pub adapter: &'a Adapter,
    /// The scenario.
    pub scenario: &'a Scenario,
    /// The start method.
    pub method: StartMethod,
}

impl Suite {
    /// Load `<scenarios_dir>/catalog.toml`, with expected outcomes in `<scenarios_dir>/expected`.
    pub fn load(scenarios_dir: impl AsRef<Path>) -> Result<Suite, SuiteError> {
        let dir = scenarios_dir.as_ref();
        let catalog = Catalog::load(dir.join("catalog.toml"))?;
        let deviations_path = dir.join("deviations.toml");
        let builtin_deviations = match std::fs::read_to_string(&deviations_path) {
            Ok(text) => parse_builtin_deviations(&text, &deviations_path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(SuiteError::Deviations {
                    path: deviations_path,
                    message: e.to_string(),
                })
            }
        };
        let mut catalog = catalog;
        // `scenarios/../conformance/SPEC.md` reads better as the file it is.
        catalog.spec = catalog.spec.map(|p| std::fs::canonicalize(&p).unwrap_or(p));
        let spec_clauses = match &catalog.spec {
            None => None,
            Some(spec) => Some(spec_clauses(&std::fs::read_to_string(spec).map_err(
                |source| SuiteError::Spec {
                    path: spec.clone(),
                    source,
                },
            )?)),
        };
        let suite = Suite {
            catalog,
            runner: Runner::new(dir, dir.join("expected")),
            builtin_deviations,
            spec_clauses,
        };
        suite.check_clauses(&deviations_path)?;
        Ok(suite)
    }

    /// Every clause the catalog and the built-in deviations name is one the specification
    /// defines (when the catalog names one).
    fn check_clauses(&self, deviations_path: &Path) -> Result<(), SuiteError> {
        for s in &self.catalog.scenarios {
            for c in &s.clauses {
                self.check_clause(&self.catalog.path.display().to_string(), &s.id, None, c)?;
            }
        }
        let origin = deviations_path.display().to_string();
        for d in &self.builtin_deviations {
            let d = &d.deviation;
            self.check_clause(&origin, &d.scenario, Some(d), &d.clause)?;
        }
        Ok(())
    }

    /// `clause`, named by scenario `id` (or by `deviation` of it), is one the specification
    /// defines.
    fn check_clause(
        &self,
        origin: &str,
        id: &str,
        deviation: Option<&Deviation>,
        clause: &str,
    ) -> Result<(), SuiteError> {
        let (Some(known), Some(spec)) = (&self.spec_clauses, &self.catalog.spec) else {
            return Ok(());
        };
        if known.contains(clause) {
            return Ok(());
        }
        let own = self
            .catalog
            .get(id)
            .map(|s| s.clauses.join(", "))
            .unwrap_or_default();
        Err(SuiteError::UnknownClause {
            origin: origin.to_string(),
            what: match deviation {
                Some(_) => format!("the [[deviation]] of scenario \"{id}\""),
                None => format!("scenario \"{id}\""),
            },
            clause: clause.to_string(),
            spec: spec.clone(),
            hint: match deviation {
                Some(_) if !own.is_empty() => format!(" (the scenario checks {own})"),
                _ => String::new(),
            },
        })
    }

    /// A suite of this catalog and runner, with no built-in deviations.
    pub fn new(catalog: Catalog, runner: Runner) -> Suite {
        Suite {
            catalog,
            runner,
            builtin_deviations: Vec::new(),
            spec_clauses: None,
        }
    }

    /// `adapter` with the built-in deviations that apply to it added (see [`BuiltinDeviation`]).
    pub fn with_builtin_deviations(&self, mut adapter: Adapter) -> Adapter {
        let applying: Vec<Deviation> = self
            .builtin_deviations
            .iter()
            .filter(|d| d.applies_to(&adapter))
            .map(|d| d.deviation.clone())
            .collect();
        adapter.deviations.extend(applying);
        adapter
    }

    /// The expected-outcome files of `scenario`: the main one per method (one in all unless
    /// `per_method`), and one per variant and method.
    fn expected_files(&self, s: &crate::catalog::Scenario) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = s
            .methods
            .iter()
            .flat_map(|m| {
                let variants = s.variants.iter().filter(|v| v.methods.contains(m));
                std::iter::once(s.expected_file_name(*m))
                    .chain(variants.map(|v| s.expected_file_name_for(*m, Some(v))))
                    .collect::<Vec<_>>()
            })
            .map(|name| self.runner.expected_dir.join(name))
            .collect();
        files.dedup();
        files
    }

    /// The expected-outcome files the catalog calls for that do not exist: one per scenario, or
    /// one per listed start method when `per_method`.
    pub fn missing_expected_files(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = self
            .catalog
            .scenarios
            .iter()
            .flat_map(|s| self.expected_files(s))
            .filter(|p| !p.exists())
            .collect();
        out.dedup();
        out
    }

    /// The `.snap` files in the expected directory that no catalog entry uses (a renamed or
    /// removed scenario, or `per_method` changed without renaming its files), sorted.
    pub fn stray_expected_files(&self) -> Vec<PathBuf> {
        let used: std::collections::BTreeSet<PathBuf> = self
            .catalog
            .scenarios
            .iter()
            .flat_map(|s| self.expected_files(s))
            .collect();
        let Ok(dir) = std::fs::read_dir(&self.runner.expected_dir) else {
            return Vec::new();
        };
        let mut stray: Vec<PathBuf> = dir
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "snap") && !used.contains(p))
            .collect();
        stray.sort();
        stray
    }

    /// The runs of `selection` for each adapter, in order: adapter, then catalog order, then
    /// start method. Runs that do not apply are planned too; they come out as `skip`.
    pub fn plan<'a>(
        &'a self,
        adapters: &'a [Adapter],
        selection: &Selection,
    ) -> Result<Vec<Job<'a>>, SuiteError> {
        let path = &self.catalog.path;
        for a in adapters {
            if let Some(d) = a
                .deviations
                .iter()
                .find(|d| self.catalog.get(&d.scenario).is_none())
            {
                return Err(SuiteError::UnknownDeviation {
                    adapter: a.name.clone(),
                    id: d.scenario.clone(),
                    catalog: path.clone(),
                });
            }
            for d in &a.deviations {
                self.check_clause(
                    &format!("adapter {}", a.name),
                    &d.scenario,
                    Some(d),
                    &d.clause,
                )?;
            }
            let known = self.catalog.capabilities();
            if let Some(api) = a.lacks.iter().find(|n| !known.contains(&n.as_str())) {
                return Err(SuiteError::UnknownCapability {
                    adapter: a.name.clone(),
                    api: api.clone(),
                    catalog: path.clone(),
                    known: if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    },
                });
            }
        }
        let scenarios: Vec<&Scenario> = match &selection.scenarios {
            None => self.catalog.scenarios.iter().collect(),
            Some(ids) => ids
                .iter()
                .map(|id| {
                    self.catalog
                        .get(id)
                        .ok_or_else(|| SuiteError::UnknownScenario {
                            catalog: path.clone(),
                            id: id.clone(),
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        let methods: Vec<StartMethod> = StartMethod::ALL
            .into_iter()
            .filter(|m| match &selection.methods {
                None => true,
                Some(ms) => ms.contains(m),
            })
            .collect();
        let mut jobs = Vec::new();
        for adapter in adapters {
            for scenario in &scenarios {
                for &method in &methods {
                    jobs.push(Job {
                        adapter,
                        scenario,
                        method,
                    });
                }
            }
        }
        Ok(jobs)
    }

    /// Run `selection` against every adapter with `jobs` runs at a time (0 counts as 1).
    ///
    /// Each run checks its own `/dev/shm` where it can have one (a private namespace), at any
    /// number of jobs. Without namespaces, with one job each run snapshots the machine's; with
    /// more, runs overlap and an entry cannot be pinned on one of them, so the suite checks once
    /// over the whole run and reports new entries in [`Report::stray_shm`] (see
    /// [`shm_isolation_for`] and [`crate::leak`]).
    pub fn run(
        &self,
        adapters: &[Adapter],
        selection: &Selection,
        jobs: usize,
    ) -> Result<Report, SuiteError> {
        let plan = self.plan(adapters, selection)?;
        let jobs = jobs.max(1).min(plan.len().max(1));
        let mut runner = self.runner.clone();
        runner.options.shm_isolation = shm_isolation_for(runner.options.shm_isolation, jobs);
        let suite_shm = (runner.options.shm_isolation == ShmIsolation::WholeRun)
            .then(|| ShmSnapshot::take(&runner.options.shm_dir));

        let next = AtomicUsize::new(0);
        let slots: Mutex<Vec<Option<RunResult>>> = Mutex::new(vec![None; plan.len()]);
        let work = || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = plan.get(i) else { break };
            let r = runner.run(job.adapter, job.scenario, job.method);
            if let Some(slot) = slots.lock().unwrap_or_else(|p| p.into_inner()).get_mut(i) {
                *slot = Some(r);
            }
        };
        std::thread::scope(|s| {
            // The calling thread is one of the workers; if a thread cannot be started, the
            // others take its share.
            for _ in 1..jobs {
                if std::thread::Builder::new().spawn_scoped(s, work).is_err() {
                    break;
                }
            }
            work();
        });
        let results = slots
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .zip(&plan)
            .map(|(r, job)| {
                r.unwrap_or_else(|| RunResult {
                    scenario: job.scenario.id.clone(),
                    implementation: job.adapter.name.clone(),
                    start_method: job.method,
                    variant: None,
                    outcome: Outcome::Error,
                    seconds: 0.0,
                    expected: None,
                    actual: None,
                    identity: None,
                    message: "the run did not report (its worker thread panicked)".into(),
                    shm_isolation: ShmIsolation::Off,
                    stray_shm: Vec::new(),
                    ended_by: None,
                })
            })
            .collect();
        let stray_shm = suite_shm
            .map(|s| s.remove_new_entries())
            .unwrap_or_default();
        Ok(Report { results, stray_shm })
    }
}
