//! `cargo xtask mutants`: the suite's power, measured. Each mutant is CPython's own
//! `multiprocessing` with one behaviour broken by a small patch (`conformance/mutants/<name>.py`),
//! run through the adapter protocol's drop-in mechanism (a manifest with `module = "<name>"`).
//! A mutant is killed when some scenario run against it fails, times out or leaks; a mutant that
//! survives is a hole in the suite.
//!
//! A mutant's docstring (its first line) says what is broken and which clauses should catch it;
//! the mutant is run against the scenarios of those clauses (or every scenario with
//! `--all-scenarios`), under every start method. `# requires: RANGE` under the docstring limits it
//! to the Python versions where the behaviour exists. The control, `unmutated.py` (the standard
//! library re-exported the same way, unpatched), runs first on the same scenarios: a scenario it
//! fails proves nothing about a mutant, so that is a set-up error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::Args;
use conformance::{
    Adapter, Job, Outcome, RunOptions, RunResult, Selection, Suite, Version, VersionRange,
};

use crate::{matrix, say, workspace, Failure, EXIT_UNEXPECTED};

/// The control's module name.
const CONTROL: &str = "unmutated";

/// Exit status: 0 every mutant killed; 1 a mutant survived (or could not be judged); 2 bad
/// usage; 3 the unmutated library fails a scenario (or cannot be set up).
#[derive(Args, Debug)]
pub struct MutantsArgs {
    /// The CPython whose standard library the mutants patch.
    #[arg(long, value_name = "PATH", default_value = "python3")]
    python: PathBuf,
    /// Only the mutants whose name matches this glob (repeatable), e.g. `join_*`.
    #[arg(long, value_name = "GLOB")]
    mutant: Vec<String>,
    /// Run every scenario against every mutant, not only the scenarios of the clauses it names.
    #[arg(long)]
    all_scenarios: bool,
    /// Runs at a time (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// The directory of the mutants (default: conformance/mutants); it also holds the control
    /// `unmutated.py` and the helpers they import.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Where the generated adapter manifests go (relative to the workspace root); each can be
    /// run alone with `cargo xtask matrix --impl DIR/<name>.toml`.
    #[arg(long, value_name = "DIR", default_value = "target/mutants")]
    out_dir: PathBuf,
}

/// One deliberately broken `multiprocessing`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutant {
    /// Its module name (the file's stem).
    pub name: String,
    /// Its docstring's first line: what is broken, and which clauses should catch it.
    pub summary: String,
    /// The clause ids its summary names.
    pub clauses: Vec<String>,
    /// The Python versions it applies to (`# requires:`), all when absent.
    pub requires: VersionRange,
}

impl Mutant {
    /// Reads a mutant from its source text: the docstring on its first line, the clause ids in
    /// it (`LIFE-10`), and a `# requires: RANGE` comment line right under it, if any (the unit
    /// tests below show each).
    pub fn parse(name: &str, source: &str) -> Result<Mutant, String> {
        let mut lines = source.lines();
        let summary = lines
            .next()
            .and_then(|l| l.strip_prefix("\"\"\""))
            .map(|l| l.trim_end().trim_end_matches("\"\"\"").to_string())
            .filter(|l| !l.is_empty())
            .ok_or_else(|| {
                format!(
                    "mutant `{name}`: its first line must be a docstring saying what is broken \
                     and which clause should catch it"
                )
            })?;
        let clauses = clause_ids(&summary);
        if clauses.is_empty() {
            return Err(format!(
                "mutant `{name}`: its docstring names no clause (such as LIFE-4) that should \
                 catch it"
            ));
        }
        let requires = match lines
            .take_while(|l| l.starts_with('#'))
            .find_map(|l| l.strip_prefix("# requires:"))
        {
            Some(range) => range
                .trim()
                .parse()
                .map_err(|e| format!("mutant `{name}`: `# requires: {}`: {e}", range.trim()))?,
            None => VersionRange::all(),
        };
        Ok(Mutant {
            name: name.to_string(),
            summary,
            clauses,
            requires,
        })
    }
}

/// The clause ids (`LIFE-4`, `IPC-13`) a text names, in order, without repeats.
fn clause_ids(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
        let word = word.trim_matches('-');
        if let Some((area, number)) = word.split_once('-') {
            let is_id = !area.is_empty()
                && area.chars().all(|c| c.is_ascii_uppercase())
                && !number.is_empty()
                && number.chars().all(|c| c.is_ascii_digit());
            if is_id && !out.iter().any(|c| c == word) {
                out.push(word.to_string());
            }
        }
    }
    out
}

/// The mutants directory of the workspace.
pub fn mutants_dir() -> PathBuf {
    workspace::root().join("conformance").join("mutants")
}

/// Every mutant in `dir`: the `.py` files but the control and the helpers (`_*.py`), by name.
pub fn discover(dir: &Path) -> Result<Vec<Mutant>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut mutants = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".py"))
        else {
            continue;
        };
        if name.starts_with('_') || name == CONTROL {
            continue;
        }
        let source = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        mutants.push(Mutant::parse(name, &source)?);
    }
    mutants.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(mutants)
}

/// A TOML basic string (JSON's string escapes are TOML's).
fn toml_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The adapter manifest that runs the scenario programs with `module` (found in `dir`) in place
/// of `multiprocessing`, under `python` (whose version is `profile`).
pub fn manifest(
    module: &str,
    summary: &str,
    dir: &Path,
    python: &Path,
    profile: &Version,
) -> String {
    format!(
        "# Generated by `cargo xtask mutants`. {summary}\n\
         name = {name}\n\
         command = [\"{{python}}\", \"{{scenarios}}/python/{{id_underscore}}.py\", \"{{method}}\"]\n\
         python = {python}\n\
         profile = {profile}\n\
         module = {module}\n\
         env = {{ PYTHONPATH = {path} }}\n",
        summary = summary.replace('\n', " "),
        name = toml_string(&format!("mutant-{module}")),
        python = toml_string(&python.to_string_lossy()),
        profile = toml_string(&profile.to_string()),
        module = toml_string(module),
        path = toml_string(&dir.to_string_lossy()),
    )
}

/// What became of one mutant.
#[derive(Debug)]
enum Verdict {
    /// These runs (scenario, method, outcome) caught it.
    Killed(Vec<(String, String, Outcome)>),
    /// Every run passed (or was skipped).
    Survived { runs: usize },
    /// A run could not be judged (e.g. the mutant did not load), and none caught it.
    Error(String),
    /// Its `# requires:` excludes this Python.
    NotApplicable,
}

fn verdict(results: &[Run]) -> Verdict {
    let killers: Vec<(String, String, Outcome)> = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Fail | Outcome::Timeout | Outcome::Leak))
        .map(|r| (r.scenario.clone(), r.method.clone(), r.outcome))
        .collect();
    if !killers.is_empty() {
        return Verdict::Killed(killers);
    }
    match results.iter().find(|r| !r.outcome.is_ok()) {
        Some(r) => Verdict::Error(format!(
            "{} {}: {}: {}",
            r.scenario,
            r.method,
            r.outcome.as_str(),
            r.message.lines().next().unwrap_or("")
        )),
        None => Verdict::Survived {
            runs: results
                .iter()
                .filter(|r| r.outcome != Outcome::Skip)
                .count(),
        },
    }
}

/// `killed by exitcode-kill (fork, spawn), join-timeout (fork: timeout)`.
fn killers_text(killers: &[(String, String, Outcome)]) -> String {
    let mut by_scenario: Vec<(String, Vec<String>)> = Vec::new();
    for (scenario, method, outcome) in killers {
        let what = match outcome {
            Outcome::Fail => method.clone(),
            other => format!("{method}: {}", other.as_str()),
        };
        match by_scenario.iter_mut().find(|(s, _)| s == scenario) {
            Some((_, methods)) => methods.push(what),
            None => by_scenario.push((scenario.clone(), vec![what])),
        }
    }
    by_scenario
        .iter()
        .map(|(s, m)| format!("{s} ({})", m.join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs every job, `jobs` at a time, and returns the results in plan order.
fn run_all(suite: &Suite, plan: &[Job<'_>], jobs: usize) -> Vec<Run> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<RunResult>>> = Mutex::new(vec![None; plan.len()]);
    let started = Instant::now();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(job) = plan.get(i) else { break };
        let r = suite.runner.run(job.adapter, job.scenario, job.method);
        if let Some(slot) = slots.lock().unwrap_or_else(|p| p.into_inner()).get_mut(i) {
            *slot = Some(r);
        }
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(25) || n == plan.len() {
            eprintln!(
                "[{:>5.0}s] {n}/{} runs",
                started.elapsed().as_secs_f64(),
                plan.len()
            );
        }
    };
    std::thread::scope(|s| {
        for _ in 1..jobs.min(plan.len()).max(1) {
            s.spawn(work);
        }
        work();
    });
    slots
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .zip(plan)
        .map(|(r, job)| Run::of(r, job))
        .collect()
}

/// One run's judgement, as the verdict needs it.
#[derive(Debug, Clone)]
struct Run {
    scenario: String,
    method: String,
    outcome: Outcome,
    message: String,
}

impl Run {
    /// `None` is a run whose worker thread panicked: an error, never a kill.
    fn of(r: Option<RunResult>, job: &Job<'_>) -> Run {
        match r {
            Some(r) => Run {
                scenario: r.scenario,
                method: r.start_method.to_string(),
                outcome: r.outcome,
                message: r.message,
            },
            None => Run {
                scenario: job.scenario.id.clone(),
                method: job.method.to_string(),
                outcome: Outcome::Error,
                message: "the run did not report (its worker thread panicked)".into(),
            },
        }
    }
}

/// The ids of the scenarios that check any of `clauses`, in catalog order.
fn scenarios_of(suite: &Suite, clauses: &[String]) -> Vec<String> {
    suite
        .catalog
        .scenarios
        .iter()
        .filter(|s| s.clauses.iter().any(|c| clauses.contains(c)))
        .map(|s| s.id.clone())
        .collect()
}

pub fn run(args: MutantsArgs) -> Result<ExitCode, Failure> {
    let mut suite = workspace::load_suite().map_err(Failure::Setup)?;
    let python = matrix::interpreter(&args.python)?;
    let probed = Adapter::cpython(&python).map_err(|e| {
        Failure::Usage(format!(
            "{e} (the mutants patch CPython's own multiprocessing)"
        ))
    })?;
    // The interpreter itself (`sys.executable`), not a launcher such as pyenv's shim.
    let python = probed
        .executable
        .clone()
        .unwrap_or_else(|| std::path::absolute(&python).unwrap_or(python));
    let dir = match &args.dir {
        Some(d) => std::path::absolute(d).unwrap_or_else(|_| d.clone()),
        None => mutants_dir(),
    };
    if !dir.join(format!("{CONTROL}.py")).is_file() {
        return Err(Failure::Setup(format!(
            "{} has no control, {CONTROL}.py: the standard library re-exported without a patch, \
             which must pass every scenario a mutant is run against",
            dir.display()
        )));
    }
    let mut mutants = discover(&dir).map_err(Failure::Setup)?;
    if !args.mutant.is_empty() {
        let patterns: Vec<glob::Pattern> = args
            .mutant
            .iter()
            .map(|g| glob::Pattern::new(g).map_err(|e| format!("bad --mutant glob '{g}': {e}")))
            .collect::<Result<_, _>>()?;
        mutants.retain(|m| patterns.iter().any(|p| p.matches(&m.name)));
        if mutants.is_empty() {
            return Err(Failure::Usage(format!(
                "no mutant matches {:?}: the mutants are the files of {}",
                args.mutant,
                dir.display()
            )));
        }
    }
    let all: Vec<String> = suite
        .catalog
        .scenarios
        .iter()
        .map(|s| s.id.clone())
        .collect();
    let mut selections: Vec<Vec<String>> = Vec::new();
    for m in &mutants {
        let ids = if args.all_scenarios {
            all.clone()
        } else {
            scenarios_of(&suite, &m.clauses)
        };
        if ids.is_empty() {
            return Err(Failure::Setup(format!(
                "mutant `{}` names {}, which no scenario of the catalog checks: name the clause \
                 that should catch it",
                m.name,
                m.clauses.join(", ")
            )));
        }
        selections.push(ids);
    }

    // The manifests, written where a person can re-run one.
    let out_dir = workspace::root().join(&args.out_dir);
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| Failure::Setup(format!("cannot create {}: {e}", out_dir.display())))?;
    let load = |module: &str, summary: &str| -> Result<Adapter, Failure> {
        let path = out_dir.join(format!("{module}.toml"));
        std::fs::write(
            &path,
            manifest(module, summary, &dir, &python, &probed.profile),
        )
        .map_err(|e| Failure::Setup(format!("cannot write {}: {e}", path.display())))?;
        Adapter::load(&path).map_err(|e| Failure::Setup(e.to_string()))
    };
    let control = load(CONTROL, "The standard library, unpatched: the control.")?;
    let mut adapters = Vec::new();
    for m in &mutants {
        adapters.push(load(&m.name, &m.summary)?);
    }
    let applies: Vec<bool> = mutants
        .iter()
        .map(|m| m.requires.matches(&probed.profile))
        .collect();

    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    // Each run its own /dev/shm where a namespace can be made; elsewhere overlapping runs are
    // checked once around the whole run (see `conformance::suite::shm_isolation_for`).
    suite.runner = suite.runner.clone().with_options(RunOptions {
        shm_isolation: conformance::suite::shm_isolation_for(
            conformance::ShmIsolation::Namespace,
            jobs,
        ),
        ..RunOptions::default()
    });

    // The control first, on every scenario some mutant is run against.
    let union: BTreeSet<&String> = selections
        .iter()
        .zip(&applies)
        .filter(|(_, a)| **a)
        .flat_map(|(ids, _)| ids)
        .collect();
    let union: Vec<String> = all
        .iter()
        .filter(|id| union.contains(id))
        .cloned()
        .collect();
    let started = Instant::now();
    say(&format!(
        "{} mutants of {}'s multiprocessing; the control first ({} scenarios × 3 methods)\n",
        mutants.len(),
        probed.name,
        union.len()
    ));
    let controls = [control];
    let plan = suite
        .plan(&controls, &Selection::scenarios(union))
        .map_err(|e| Failure::Setup(e.to_string()))?;
    let control_runs = run_all(&suite, &plan, jobs);
    let bad: Vec<String> = control_runs
        .iter()
        .filter(|r| !r.outcome.is_ok())
        .map(|r| {
            format!(
                "  {} {} {}: {}",
                r.outcome.as_str(),
                r.method,
                r.scenario,
                r.message.lines().next().unwrap_or("")
            )
        })
        .collect();
    if !bad.is_empty() {
        return Err(Failure::Setup(format!(
            "the unmutated standard library ({}) does not pass these runs through the drop-in \
             mechanism, so a mutant's failure there would prove nothing (re-run one with `cargo \
             xtask matrix --impl {}`):\n{}",
            probed.name,
            out_dir.join(format!("{CONTROL}.toml")).display(),
            bad.join("\n")
        )));
    }
    say(&format!(
        "the control passes its {} runs; now the mutants\n",
        control_runs.len()
    ));

    // Then every mutant on its scenarios, all runs in one pool.
    let mut plan = Vec::new();
    let mut owner = Vec::new();
    for (i, adapter) in adapters.iter().enumerate() {
        if !applies[i] {
            continue;
        }
        let jobs = suite
            .plan(
                std::slice::from_ref(adapter),
                &Selection::scenarios(selections[i].clone()),
            )
            .map_err(|e| Failure::Setup(e.to_string()))?;
        owner.extend(std::iter::repeat_n(i, jobs.len()));
        plan.extend(jobs);
    }
    let results = run_all(&suite, &plan, jobs);

    let (mut killed, mut applicable) = (0, 0);
    let mut holes = Vec::new();
    for (i, m) in mutants.iter().enumerate() {
        let mine: Vec<Run> = results
            .iter()
            .zip(&owner)
            .filter(|(_, o)| **o == i)
            .map(|(r, _)| r.clone())
            .collect();
        let v = if applies[i] {
            verdict(&mine)
        } else {
            Verdict::NotApplicable
        };
        let line = match &v {
            Verdict::Killed(k) => {
                killed += 1;
                format!("killed    {}: by {}", m.name, killers_text(k))
            }
            Verdict::Survived { runs } => {
                holes.push(m.name.clone());
                format!(
                    "SURVIVED  {}: {runs} runs of {} passed; a hole in the suite: {}",
                    m.name,
                    selections[i].join(", "),
                    m.summary
                )
            }
            Verdict::Error(e) => {
                holes.push(m.name.clone());
                format!("ERROR     {}: not judged: {e}", m.name)
            }
            Verdict::NotApplicable => format!(
                "n/a       {}: requires Python {}; {} is {}",
                m.name, m.requires, probed.name, probed.profile
            ),
        };
        if applies[i] {
            applicable += 1;
        }
        say(&format!("{line}\n"));
    }
    let not_applicable = mutants.len() - applicable;
    say(&format!(
        "\n{killed} of {applicable} mutants killed{} in {:.0} s{}\n",
        match not_applicable {
            0 => String::new(),
            n => format!(" ({n} not applicable to {})", probed.name),
        },
        started.elapsed().as_secs_f64(),
        match holes.is_empty() {
            true => String::new(),
            false => format!("; holes: {}", holes.join(", ")),
        }
    ));
    Ok(if holes.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_UNEXPECTED)
    })
}

#[cfg(test)]
mod tests {
    use super::{clause_ids, discover, mutants_dir, Mutant};

    #[test]
    fn a_mutant_names_its_clauses_and_versions() {
        let m = Mutant::parse(
            "fork_warning",
            "\"\"\"No warning; FORK-1 and LIFE-4 should catch it.\"\"\"\n# requires: >=3.12\nimport x\n",
        )
        .unwrap();
        assert_eq!(m.clauses, ["FORK-1", "LIFE-4"]);
        assert!(!m.requires.matches(&"3.11.7".parse().unwrap()));
        assert!(m.requires.matches(&"3.14.10".parse().unwrap()));
        assert!(Mutant::parse("x", "import os\n").is_err());
        assert!(Mutant::parse("x", "\"\"\"Nothing named.\"\"\"\n").is_err());
        assert_eq!(
            clause_ids("(PROC-2, PROC-7; x-1 START-10."),
            ["PROC-2", "PROC-7", "START-10"]
        );
    }

    #[test]
    fn every_mutant_in_the_repository_reads() {
        let mutants = discover(&mutants_dir()).unwrap();
        assert!(mutants.len() >= 15, "{} mutants", mutants.len());
    }
}
