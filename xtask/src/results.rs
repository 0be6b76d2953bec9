//! `results.json`: the records of a matrix run with the context they were made in (README.md,
//! "The conformance matrix", documents the schema), and the two things done with such files
//! later: merging the runs of several machines or shards, and diffing two runs.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use conformance::{Adapter, Outcome, RunResult, StartMethod};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::workspace;

/// The version of the schema below; a reader refuses other versions.
pub const SCHEMA: u32 = 2;

/// The `scenario` of a record about the whole run rather than one scenario: an implementation
/// that could not be set up.
pub const SETUP: &str = "(setup)";
/// The `scenario` of the record listing `/dev/shm` entries that appeared during a parallel run.
pub const DEV_SHM: &str = "(dev-shm)";
/// The `start_method` (and, for [`DEV_SHM`], the `implementation`) of a whole-run record.
pub const ALL: &str = "(all)";

/// A whole `results.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsFile {
    pub run: RunInfo,
    pub results: Vec<Record>,
}

/// Where, when, how and on what a run was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub schema: u32,
    pub suite: SuiteRevision,
    /// When the run started (or the merge was made), RFC 3339, UTC.
    pub date: String,
    pub host: String,
    /// The operating system, e.g. `Debian GNU/Linux 12 (bookworm)` or `macOS 14.5`.
    pub os: String,
    /// The kernel: name, release and machine, e.g. `Linux 6.1.0-18-amd64 x86_64`.
    pub kernel: String,
    /// The command line, as typed (`cargo xtask matrix --shard 1/3`).
    pub command: Vec<String>,
    pub options: Options,
    /// Wall time of the whole run, seconds.
    pub seconds: f64,
    pub implementations: Vec<Implementation>,
    /// For a merged file: the `run` of each file merged, in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<RunInfo>,
}

/// The suite's git revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuiteRevision {
    /// The commit, or null outside a git checkout.
    pub revision: Option<String>,
    /// Whether tracked files differed from that commit, or null outside a git checkout.
    pub dirty: Option<bool>,
}

/// The options of a `cargo xtask matrix` run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    pub jobs: usize,
    /// `K/N`, or null for the whole matrix.
    pub shard: Option<String>,
    /// The `--scenario` globs (empty: all).
    pub scenarios: Vec<String>,
    /// The `--start-method` values (empty: all).
    pub start_methods: Vec<String>,
    pub fail_fast: bool,
}

/// An implementation of the run: its column header and what exactly it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Implementation {
    pub name: String,
    /// Its exact version (`3.14.10`, `3.9.16 (PyPy 7.3.11)`), when known.
    pub version: Option<String>,
    /// The executable that ran the scenarios, when known.
    pub executable: Option<PathBuf>,
    /// The Python version whose behaviour it claims.
    pub profile: String,
    pub methods: Vec<String>,
    /// The adapter manifest, or null for a built-in adapter.
    pub manifest: Option<PathBuf>,
    /// SHA-256 of the manifest file; for a built-in adapter, of its definition (command,
    /// methods, profile and deviations as JSON), so equal hashes mean equal adapters.
    pub manifest_sha256: String,
    /// What each run's processes must report (`multiprocessing`, `reference`, a manifest's
    /// `identity` or `module`); empty in files written before it existed.
    #[serde(default)]
    pub identity: String,
    /// The drop-in replacement the scenario programs imported as `multiprocessing`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

/// One run of one scenario (or a whole-run problem, see [`SETUP`] and [`DEV_SHM`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub scenario: String,
    pub implementation: String,
    /// `fork`, `spawn`, `forkserver`, or [`ALL`].
    pub start_method: String,
    pub outcome: Outcome,
    pub seconds: f64,
    #[serde(default)]
    pub clauses: Vec<String>,
    /// The expected-outcome variant the run was judged against, when the scenario has
    /// per-profile variants and one other than the default applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The expected outcome (`exit: N`, `---`, trace lines), for any outcome but pass and skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What the program did, whenever it ended by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// Why: the skip or deviation reason, the differences, the end of stderr.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Which implementation the run's processes reported (`main multiprocessing, children
    /// multiprocessing`), when they proved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
}

impl Record {
    pub fn from_run(r: &RunResult, clauses: &[String]) -> Record {
        let detailed = !matches!(r.outcome, Outcome::Pass | Outcome::Skip);
        Record {
            scenario: r.scenario.clone(),
            implementation: r.implementation.clone(),
            start_method: r.start_method.as_str().into(),
            outcome: r.outcome,
            seconds: r.seconds,
            clauses: clauses.to_vec(),
            variant: r.variant.clone(),
            expected: detailed
                .then(|| r.expected.as_ref().map(|e| e.render()))
                .flatten(),
            actual: r.actual.as_ref().map(|e| e.render()),
            message: r.message.clone(),
            identity: r.identity.clone(),
        }
    }

    /// A record about the whole run.
    pub fn whole_run(
        scenario: &str,
        implementation: &str,
        outcome: Outcome,
        message: String,
    ) -> Record {
        Record {
            scenario: scenario.into(),
            implementation: implementation.into(),
            start_method: ALL.into(),
            outcome,
            seconds: 0.0,
            clauses: Vec::new(),
            variant: None,
            expected: None,
            actual: None,
            message,
            identity: None,
        }
    }

    /// Whether it is about the whole run rather than one scenario.
    pub fn is_whole_run(&self) -> bool {
        self.start_method == ALL
    }

    /// What identifies it in a matrix: scenario, implementation, start method.
    pub fn key(&self) -> (&str, &str, &str) {
        (&self.scenario, &self.implementation, &self.start_method)
    }
}

impl ResultsFile {
    pub fn read(path: &Path) -> Result<ResultsFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
        if value.is_array() {
            return Err(format!(
                "{}: a bare array of records is the old format, which has no run metadata: \
                 re-run `cargo xtask matrix` to get a file with `run` and `results`",
                path.display()
            ));
        }
        let schema = value.pointer("/run/schema").and_then(|v| v.as_u64());
        if schema != Some(u64::from(SCHEMA)) {
            return Err(format!(
                "{}: schema {} where this xtask reads schema {SCHEMA}: re-run the matrix with \
                 this revision",
                path.display(),
                schema.map_or("missing".to_owned(), |s| s.to_string())
            ));
        }
        serde_json::from_value(value).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("records serialize") + "\n"
    }

    /// Whether every result is as expected (`pass`, `xfail`, `skip`).
    pub fn ok(&self) -> bool {
        self.results.iter().all(|r| r.outcome.is_ok())
    }

    /// Whether an implementation could not be set up.
    pub fn setup_failed(&self) -> bool {
        self.results.iter().any(|r| r.scenario == SETUP)
    }
}

impl Implementation {
    pub fn of(adapter: &Adapter, manifest: Option<&Path>) -> Implementation {
        let sha256 = match manifest.and_then(|m| std::fs::read(m).ok()) {
            Some(bytes) => hex(&Sha256::digest(&bytes)),
            None => {
                let definition = serde_json::json!({
                    "command": adapter.command,
                    "methods": adapter.methods,
                    "profile": adapter.profile.to_string(),
                    "deviations": adapter.deviations,
                });
                hex(&Sha256::digest(definition.to_string().as_bytes()))
            }
        };
        Implementation {
            name: adapter.name.clone(),
            version: adapter.version.clone(),
            executable: adapter.executable.clone(),
            profile: adapter.profile.to_string(),
            methods: adapter.methods.iter().map(|m| m.as_str().into()).collect(),
            manifest: manifest.map(|m| std::path::absolute(m).unwrap_or_else(|_| m.into())),
            manifest_sha256: sha256,
            identity: adapter.identity.clone(),
            module: adapter.module.clone(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Output of a command, trimmed, if it ran and succeeded.
fn command_output(program: &str, args: &[&str], dir: Option<&Path>) -> Option<String> {
    let mut cmd = Command::new(program);
    cmd.args(args).stderr(std::process::Stdio::null());
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl RunInfo {
    /// The context of a run starting now on this machine.
    pub fn here(options: Options, implementations: Vec<Implementation>) -> RunInfo {
        let root = workspace::root();
        let revision = command_output("git", &["rev-parse", "HEAD"], Some(&root));
        let dirty = revision.as_ref().and_then(|_| {
            command_output(
                "git",
                &["status", "--porcelain", "--untracked-files=no"],
                Some(&root),
            )
            .map(|s| !s.is_empty())
        });
        let uname = command_output("uname", &["-snrm"], None).unwrap_or_default();
        let words: Vec<&str> = uname.split_whitespace().collect();
        let (host, kernel) = match words[..] {
            [sys, node, release, machine] => {
                (node.to_owned(), format!("{sys} {release} {machine}"))
            }
            _ => (String::new(), std::env::consts::OS.to_owned()),
        };
        RunInfo {
            schema: SCHEMA,
            suite: SuiteRevision { revision, dirty },
            date: now(),
            host,
            os: os_name(),
            kernel,
            command: command_line(),
            options,
            seconds: 0.0,
            implementations,
            parts: Vec::new(),
        }
    }
}

/// This command line, as typed: `cargo xtask ...`.
fn command_line() -> Vec<String> {
    let mut command = vec!["cargo".to_owned(), "xtask".to_owned()];
    command.extend(std::env::args().skip(1));
    command
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The operating system's name and version.
fn os_name() -> String {
    if let Ok(text) = std::fs::read_to_string("/etc/os-release") {
        if let Some(name) = text
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_owned())
        {
            return name;
        }
    }
    if let Some(version) = command_output("sw_vers", &["-productVersion"], None) {
        return format!("macOS {version}");
    }
    std::env::consts::OS.to_owned()
}

/// The order of start methods in a matrix; whole-run records last.
fn method_rank(m: &str) -> usize {
    StartMethod::ALL
        .iter()
        .position(|x| x.as_str() == m)
        .unwrap_or(StartMethod::ALL.len())
}

/// Sorts records as a matrix run lists them: implementation (in `implementations` order), then
/// scenario (in `scenario_order`, unknown ones last by id), then start method; whole-run
/// records first.
pub fn sort_records(
    records: &mut [Record],
    implementations: &[Implementation],
    scenario_order: &[String],
) {
    let imp: HashMap<&str, usize> = implementations
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();
    let sc: HashMap<&str, usize> = scenario_order
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    records.sort_by(|a, b| {
        let rank = |r: &Record| {
            (
                !r.is_whole_run(),
                imp.get(r.implementation.as_str())
                    .copied()
                    .unwrap_or(usize::MAX),
                sc.get(r.scenario.as_str()).copied().unwrap_or(usize::MAX),
                method_rank(&r.start_method),
            )
        };
        rank(a)
            .cmp(&rank(b))
            .then_with(|| a.implementation.cmp(&b.implementation))
            .then_with(|| a.scenario.cmp(&b.scenario))
    });
}

/// Merges runs made on other machines, operating systems or shards into one file.
///
/// An implementation of the same name seen on two operating systems becomes two columns,
/// `name (os)`. The same scenario × implementation × start method twice is an error (a shard
/// given twice, or two overlapping runs), except for identical whole-run records.
pub fn merge(
    files: Vec<(PathBuf, ResultsFile)>,
    scenario_order: &[String],
) -> Result<ResultsFile, String> {
    if files.is_empty() {
        return Err("nothing to merge: give the results.json files of the runs".into());
    }
    // The kernels' operating systems each implementation name was run on.
    let mut systems: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (_, f) in &files {
        let system = f
            .run
            .kernel
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_owned();
        for i in &f.run.implementations {
            let seen = systems.entry(i.name.clone()).or_default();
            if !seen.contains(&system) {
                seen.push(system.clone());
            }
        }
    }
    let rename = |name: &str, kernel: &str| -> String {
        let system = kernel.split_whitespace().next().unwrap_or("");
        match systems.get(name) {
            Some(s) if s.len() > 1 => format!("{name} ({system})"),
            _ => name.to_owned(),
        }
    };
    let mut implementations: Vec<Implementation> = Vec::new();
    let mut results: Vec<Record> = Vec::new();
    let mut seen: HashMap<(String, String, String), PathBuf> = HashMap::new();
    let mut parts = Vec::new();
    let mut seconds: f64 = 0.0;
    for (path, file) in files {
        for mut i in file.run.implementations.clone() {
            i.name = rename(&i.name, &file.run.kernel);
            if !implementations.iter().any(|m| m.name == i.name) {
                implementations.push(i);
            }
        }
        for mut r in file.results {
            if r.implementation != ALL {
                r.implementation = rename(&r.implementation, &file.run.kernel);
            }
            if r.is_whole_run() {
                if !results.contains(&r) {
                    results.push(r);
                }
                continue;
            }
            let key = (
                r.scenario.clone(),
                r.implementation.clone(),
                r.start_method.clone(),
            );
            if let Some(first) = seen.insert(key, path.clone()) {
                return Err(format!(
                    "{} and {} both have {} {} {}: give each shard once, and runs that do not \
                     overlap",
                    first.display(),
                    path.display(),
                    r.scenario,
                    r.implementation,
                    r.start_method
                ));
            }
            results.push(r);
        }
        seconds = seconds.max(file.run.seconds);
        parts.push(file.run);
    }
    sort_records(&mut results, &implementations, scenario_order);
    let first = &parts[0];
    let run = RunInfo {
        schema: SCHEMA,
        suite: first.suite.clone(),
        date: now(),
        host: first.host.clone(),
        os: first.os.clone(),
        kernel: first.kernel.clone(),
        command: command_line(),
        options: Options::default(),
        seconds,
        implementations,
        parts,
    };
    Ok(ResultsFile { run, results })
}

/// What changed between two runs.
#[derive(Debug, Default, PartialEq)]
pub struct Diff {
    /// As expected before, not now.
    pub regressions: Vec<(Record, Record)>,
    /// Not as expected before, as expected now.
    pub fixes: Vec<(Record, Record)>,
    /// Another outcome, both as expected or both not (`pass` to `skip`, `fail` to `timeout`).
    pub changed: Vec<(Record, Record)>,
    /// Only in the new run.
    pub new: Vec<Record>,
    /// Only in the old run.
    pub removed: Vec<Record>,
}

impl Diff {
    pub fn between(old: &ResultsFile, new: &ResultsFile) -> Diff {
        let olds: HashMap<(&str, &str, &str), &Record> =
            old.results.iter().map(|r| (r.key(), r)).collect();
        let news: HashMap<(&str, &str, &str), &Record> =
            new.results.iter().map(|r| (r.key(), r)).collect();
        let mut diff = Diff::default();
        for n in &new.results {
            match olds.get(&n.key()) {
                None => diff.new.push(n.clone()),
                Some(o) if o.outcome == n.outcome => {}
                Some(o) => {
                    let pair = ((*o).clone(), n.clone());
                    match (o.outcome.is_ok(), n.outcome.is_ok()) {
                        (true, false) => diff.regressions.push(pair),
                        (false, true) => diff.fixes.push(pair),
                        _ => diff.changed.push(pair),
                    }
                }
            }
        }
        diff.removed = old
            .results
            .iter()
            .filter(|o| !news.contains_key(&o.key()))
            .cloned()
            .collect();
        diff
    }

    /// The changes, one line each, under a heading per kind; `no changes` when empty.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let line = |r: &Record| format!("{} {} {}", r.implementation, r.start_method, r.scenario);
        let pairs = |title: &str, list: &[(Record, Record)], out: &mut String| {
            if !list.is_empty() {
                out.push_str(&format!("{title} ({}):\n", list.len()));
                for (o, n) in list {
                    out.push_str(&format!("  {}: {} -> {}\n", line(n), o.outcome, n.outcome));
                }
            }
        };
        pairs("regressions", &self.regressions, &mut out);
        pairs("fixes", &self.fixes, &mut out);
        pairs("other changes", &self.changed, &mut out);
        for (title, list) in [("new", &self.new), ("removed", &self.removed)] {
            if !list.is_empty() {
                out.push_str(&format!("{title} ({}):\n", list.len()));
                for r in list {
                    out.push_str(&format!("  {}: {}\n", line(r), r.outcome));
                }
            }
        }
        if out.is_empty() {
            out.push_str("no changes\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_on(kernel: &str, implementations: &[&str]) -> RunInfo {
        let mut run = RunInfo::here(
            Options::default(),
            implementations
                .iter()
                .map(|name| Implementation {
                    name: (*name).into(),
                    version: None,
                    executable: None,
                    profile: "3.14.10".into(),
                    methods: vec!["spawn".into()],
                    manifest: None,
                    manifest_sha256: String::new(),
                    identity: String::new(),
                    module: None,
                })
                .collect(),
        );
        run.kernel = kernel.into();
        run
    }

    fn record(scenario: &str, implementation: &str, outcome: Outcome) -> Record {
        Record {
            scenario: scenario.into(),
            implementation: implementation.into(),
            start_method: "spawn".into(),
            outcome,
            seconds: 0.1,
            clauses: Vec::new(),
            variant: None,
            expected: None,
            actual: None,
            message: String::new(),
            identity: None,
        }
    }

    #[test]
    fn an_implementation_on_two_kernels_becomes_two_columns() {
        let linux = ResultsFile {
            run: run_on("Linux 6.1 x86_64", &["cpython-3.12.1", "reference"]),
            results: vec![
                record("a", "cpython-3.12.1", Outcome::Pass),
                record("a", "reference", Outcome::Pass),
            ],
        };
        let mac = ResultsFile {
            run: run_on("Darwin 23.0 arm64", &["cpython-3.12.1"]),
            results: vec![record("a", "cpython-3.12.1", Outcome::Fail)],
        };
        let merged = merge(
            vec![("l.json".into(), linux), ("m.json".into(), mac)],
            &["a".into()],
        )
        .unwrap();
        let names: Vec<&str> = merged
            .run
            .implementations
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "cpython-3.12.1 (Linux)",
                "reference",
                "cpython-3.12.1 (Darwin)"
            ]
        );
        assert_eq!(merged.results.len(), 3);
        assert_eq!(merged.run.parts.len(), 2);
    }

    #[test]
    fn diff_sorts_changes_into_regressions_fixes_others_new_and_removed() {
        let run = run_on("Linux", &["x"]);
        let old = ResultsFile {
            run: run.clone(),
            results: vec![
                record("same", "x", Outcome::Pass),
                record("worse", "x", Outcome::Pass),
                record("better", "x", Outcome::Fail),
                record("other", "x", Outcome::Fail),
                record("gone", "x", Outcome::Pass),
            ],
        };
        let new = ResultsFile {
            run,
            results: vec![
                record("same", "x", Outcome::Pass),
                record("worse", "x", Outcome::Timeout),
                record("better", "x", Outcome::Xfail),
                record("other", "x", Outcome::Leak),
                record("fresh", "x", Outcome::Skip),
            ],
        };
        let d = Diff::between(&old, &new);
        let ids = |v: &[(Record, Record)]| -> Vec<String> {
            v.iter().map(|(_, n)| n.scenario.clone()).collect()
        };
        assert_eq!(ids(&d.regressions), ["worse"]);
        assert_eq!(ids(&d.fixes), ["better"]);
        assert_eq!(ids(&d.changed), ["other"]);
        assert_eq!(d.new[0].scenario, "fresh");
        assert_eq!(d.removed[0].scenario, "gone");
        assert_eq!(Diff::between(&old, &old).render(), "no changes\n");
    }
}
