//! `cargo xtask matrix`: scenarios × start methods × implementations, in parallel, with a
//! progress display, a summary in the terminal and reports in the report directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::Args;
use conformance::leak::ShmSnapshot;
use conformance::run::Cancel;
use conformance::suite::shm_isolation_for;
use conformance::{Adapter, Outcome, RunOptions, Selection, ShmIsolation, StartMethod, Suite};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::progress::Progress;
use crate::report::{self, Links, Matrix};
use crate::results::{self, Implementation, Options, Record, ResultsFile, RunInfo};
use crate::{say, workspace, Failure};

/// Exit status: 0 every result as expected, 1 unexpected results, 2 bad usage, 3 an
/// implementation could not be set up (its runs are missing; the others ran), 130 interrupted
/// (Ctrl-C or SIGTERM: the running sessions were ended and their temporary directories
/// removed; no report was written).
#[derive(Args, Debug)]
pub struct MatrixArgs {
    /// An implementation: `reference`, `cpython`, `pypy`, or the path of an adapter manifest
    /// (repeatable). Default: the reference plus every Python found on PATH.
    #[arg(long = "impl", value_name = "NAME|PATH")]
    implementations: Vec<String>,
    /// A Python interpreter to test (repeatable: each one becomes a column).
    #[arg(long, value_name = "PATH")]
    python: Vec<PathBuf>,
    /// Only this start method (repeatable): fork, spawn, forkserver.
    #[arg(long = "start-method", value_name = "M")]
    start_methods: Vec<String>,
    /// Only scenarios whose id matches this glob (repeatable), e.g. `exitcode-*`.
    #[arg(long, value_name = "GLOB")]
    scenario: Vec<String>,
    /// Do not run what matches this glob (repeatable): a scenario id (`queue-*`: every start
    /// method) or ID@METHOD (`queue-*@spawn`, `*@fork`). Those runs are recorded as `skip`,
    /// naming the pattern.
    #[arg(long, value_name = "GLOB")]
    skip: Vec<String>,
    /// Multiply every scenario's timeout, and the runner's waits for processes to exit, by F
    /// (a positive number, e.g. 2.5 on a slow or loaded machine).
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = parse_factor)]
    timeout_factor: f64,
    /// How to find the /dev/shm entries a run leaves: `namespace` gives each run its own
    /// /dev/shm (a private mount namespace) where Linux allows it, else falls back to
    /// `snapshot`, which compares listings of the machine's /dev/shm (per run with --jobs 1,
    /// once around the whole run otherwise). Each record's `shm_isolation` says which was used.
    #[arg(long, value_name = "MODE", default_value = "namespace", value_parser = parse_isolation)]
    shm_isolation: ShmIsolation,
    /// The machine's shared-memory directory, for snapshots (tests give one of their own, which
    /// no other program on the machine snapshots or cleans).
    #[arg(long, value_name = "DIR", default_value = "/dev/shm", hide = true)]
    shm_dir: PathBuf,
    /// Run only share K of N (1 ≤ K ≤ N): the runs whose index in the plan is K-1 modulo N.
    /// `cargo xtask report merge` puts the shares back together.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Runs at a time (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Where the reports go (relative to the workspace root).
    #[arg(long, value_name = "DIR", default_value = "target/conformance")]
    report_dir: PathBuf,
    /// Where report.html's links to programs, expected outcomes and the spec point, e.g.
    /// `https://github.com/OWNER/REPO/blob/COMMIT` (default: this checkout's files).
    #[arg(long, value_name = "URL")]
    link_base: Option<String>,
    /// Print the full table (one row per scenario, one column per implementation × method).
    #[arg(long)]
    table: bool,
    /// Stop starting runs after the first unexpected result.
    #[arg(long)]
    fail_fast: bool,
    /// Draft `[[deviation]]` entries for the run's unexpected results into FILE, for a person to
    /// edit (one per scenario and outcome, methods grouped, the outcome pinned).
    #[arg(long, value_name = "FILE")]
    write_deviations: Option<PathBuf>,
}

/// `--shard K/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

fn parse_factor(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!("`{s}` is not a positive number, e.g. 2 or 2.5")),
    }
}

fn parse_isolation(s: &str) -> Result<ShmIsolation, String> {
    match s {
        "namespace" => Ok(ShmIsolation::Namespace),
        "snapshot" => Ok(ShmIsolation::Snapshot),
        _ => Err(format!("`{s}` is neither namespace nor snapshot")),
    }
}

/// A `--skip` pattern: a scenario-id glob, and a start-method glob after `@`.
struct SkipPattern {
    text: String,
    id: glob::Pattern,
    method: Option<glob::Pattern>,
}

impl SkipPattern {
    fn parse(text: &str) -> Result<SkipPattern, String> {
        let bad = |e: glob::PatternError| format!("bad --skip glob '{text}': {e}");
        let (id, method) = match text.rsplit_once('@') {
            Some((id, method)) => (id, Some(glob::Pattern::new(method).map_err(bad)?)),
            None => (text, None),
        };
        Ok(SkipPattern {
            text: text.to_owned(),
            id: glob::Pattern::new(id).map_err(bad)?,
            method,
        })
    }

    fn matches(&self, id: &str, method: StartMethod) -> bool {
        self.id.matches(id)
            && self
                .method
                .as_ref()
                .is_none_or(|m| m.matches(method.as_str()))
    }
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    let bad = || format!("`{s}` is not K/N with 1 <= K <= N, e.g. 2/3");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n): (usize, usize) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok(Shard { k, n })
}

/// Finds `name` on PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|candidate| candidate.is_file())
}

/// The interpreter a `--python` names, or a usage error.
pub fn interpreter(path: &Path) -> Result<PathBuf, Failure> {
    if path.components().count() == 1 {
        on_path(&path.to_string_lossy()).ok_or_else(|| {
            Failure::Usage(format!(
                "no interpreter '{}' on PATH: give its full path with --python",
                path.display()
            ))
        })
    } else if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(Failure::Usage(format!(
            "no interpreter at '{}': check the path given to --python",
            path.display()
        )))
    }
}

fn python_adapter(resolved: &Path) -> Result<Adapter, String> {
    let is_pypy = resolved
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("pypy"));
    let adapter = if is_pypy {
        Adapter::pypy(resolved)
    } else {
        Adapter::cpython(resolved)
    };
    adapter.map_err(|e| e.to_string())
}

/// An implementation to run, with its manifest when it has one.
struct Candidate {
    adapter: Adapter,
    manifest: Option<PathBuf>,
    /// The reference's private copy of its binary, kept until the matrix ends.
    _binary: Option<workspace::ScenarioBinary>,
}

/// The implementations to run, from the options, and a set-up error record for each one that
/// cannot be set up (a manifest that does not load, an interpreter that cannot be probed, a
/// command that cannot start, a build that fails). Built-in adapters get the suite's built-in
/// deviations (`scenarios/deviations.toml`); an adapter manifest lists its own.
fn adapters(args: &MatrixArgs, suite: &Suite) -> Result<(Vec<Candidate>, Vec<Record>), Failure> {
    let mut names = args.implementations.clone();
    if names.is_empty() {
        names.push("reference".into());
        if args.python.is_empty() {
            names.extend(
                ["python3", "pypy3"]
                    .iter()
                    .filter(|n| on_path(n).is_some())
                    .map(|n| n.to_string()),
            );
        }
    }
    let mut out = Vec::new();
    let mut setup = Vec::new();
    let mut fail = |who: &str, message: String| {
        setup.push(Record::whole_run(
            results::SETUP,
            who,
            Outcome::Error,
            message,
        ));
    };
    let mut pythons: Vec<(String, PathBuf)> = Vec::new();
    for name in &names {
        match name.as_str() {
            "reference" => match workspace::build_scenarios(&workspace::root()) {
                Ok(bin) => out.push(Candidate {
                    adapter: suite.with_builtin_deviations(Adapter::reference(&bin.path)),
                    manifest: None,
                    _binary: Some(bin),
                }),
                Err(e) => fail("reference", e),
            },
            "cpython" | "python3" => {
                pythons.push((name.clone(), interpreter(Path::new("python3"))?))
            }
            "pypy" | "pypy3" => pythons.push((name.clone(), interpreter(Path::new("pypy3"))?)),
            path if Path::new(path).is_file() => match Adapter::load(path) {
                Ok(a) => out.push(Candidate {
                    adapter: a,
                    manifest: Some(PathBuf::from(path)),
                    _binary: None,
                }),
                Err(e) => fail(path, e.to_string()),
            },
            other if other.ends_with(".toml") || other.contains('/') => {
                // Not a file: Adapter::load says there is no manifest there, and from where a
                // relative path started.
                match Adapter::load(other) {
                    Ok(a) => out.push(Candidate {
                        adapter: a,
                        manifest: Some(PathBuf::from(other)),
                        _binary: None,
                    }),
                    Err(e) => return Err(Failure::Usage(e.to_string())),
                }
            }
            other => {
                return Err(Failure::Usage(format!(
                    "unknown implementation '{other}': use reference, cpython, pypy, or the path \
                     of an adapter manifest (see README.md, \"Testing another implementation\")"
                )))
            }
        }
    }
    for python in &args.python {
        pythons.push((python.display().to_string(), interpreter(python)?));
    }
    for (name, path) in pythons {
        match python_adapter(&path) {
            Ok(a) => out.push(Candidate {
                adapter: suite.with_builtin_deviations(a),
                manifest: None,
                _binary: None,
            }),
            Err(e) => fail(&name, e),
        }
    }
    let mut seen = std::collections::HashSet::new();
    for c in &out {
        if !seen.insert(c.adapter.name.clone()) {
            return Err(Failure::Usage(format!(
                "the implementation '{}' is given twice",
                c.adapter.name
            )));
        }
    }
    // A command that cannot start is found once, here, rather than once per run.
    let mut ready = Vec::new();
    for c in out {
        match cannot_start(&c.adapter, suite) {
            Some(problem) => fail(&c.adapter.name, problem),
            None => ready.push(c),
        }
    }
    Ok((ready, setup))
}

/// Why the adapter's command cannot start, if it cannot: its program is not an executable file
/// (or not on PATH).
fn cannot_start(adapter: &Adapter, suite: &Suite) -> Option<String> {
    let scenario = suite.catalog.scenarios.first()?;
    let argv = match adapter.argv(
        &scenario.id,
        StartMethod::Spawn,
        &suite.runner.scenarios_dir,
    ) {
        Ok(argv) => argv,
        Err(e) => return Some(e.to_string()),
    };
    let program = argv.first()?;
    let found = if program.contains('/') {
        is_executable(Path::new(program))
    } else {
        on_path(program).is_some_and(|p| is_executable(&p))
    };
    (!found).then(|| {
        format!(
            "cannot start `{program}`: no such executable{}: check the `command` of {}'s adapter",
            if program.contains('/') {
                ""
            } else {
                " on PATH"
            },
            adapter.name
        )
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn selection(args: &MatrixArgs, suite: &Suite) -> Result<Selection, String> {
    let mut selection = Selection::all();
    if !args.scenario.is_empty() {
        let patterns: Vec<glob::Pattern> = args
            .scenario
            .iter()
            .map(|g| glob::Pattern::new(g).map_err(|e| format!("bad --scenario glob '{g}': {e}")))
            .collect::<Result<_, _>>()?;
        let ids: Vec<String> = suite
            .catalog
            .scenarios
            .iter()
            .filter(|s| patterns.iter().any(|p| p.matches(&s.id)))
            .map(|s| s.id.clone())
            .collect();
        if ids.is_empty() {
            return Err(format!(
                "no scenario matches {:?}: `cargo xtask list` shows the ids",
                args.scenario
            ));
        }
        selection = Selection::scenarios(ids);
    }
    if !args.start_methods.is_empty() {
        let methods: Vec<StartMethod> = args
            .start_methods
            .iter()
            .map(|m| {
                m.parse().map_err(|_| {
                    format!("unknown start method '{m}': use fork, spawn or forkserver")
                })
            })
            .collect::<Result<_, _>>()?;
        selection = selection.with_methods(&methods);
    }
    Ok(selection)
}

/// Ctrl-C and SIGTERM, from the start of a matrix to its reports: they raise `cancel`, so the
/// running sessions end (each run ends its own and removes its temporary directory) and no
/// more start. Signal-hook's handler only writes to a pipe; a thread reads it.
struct Interrupt {
    handle: signal_hook::iterator::Handle,
    signal: std::sync::Arc<Mutex<Option<i32>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Interrupt {
    fn watch(cancel: Cancel) -> Result<Interrupt, Failure> {
        let mut signals = Signals::new([SIGINT, SIGTERM])
            .map_err(|e| Failure::Setup(format!("cannot handle Ctrl-C: {e}")))?;
        let handle = signals.handle();
        let signal = std::sync::Arc::new(Mutex::new(None));
        let seen = std::sync::Arc::clone(&signal);
        let thread = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                if let Some(s) = signals.forever().next() {
                    *seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(s);
                    cancel.cancel();
                }
            })
            .map_err(|e| Failure::Setup(format!("cannot handle Ctrl-C: {e}")))?;
        Ok(Interrupt {
            handle,
            signal,
            thread: Some(thread),
        })
    }

    /// The signal received so far, if any.
    fn received(&self) -> Option<i32> {
        *self.signal.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stop watching; if a signal came, say so and return the exit status it calls for.
    fn finish(mut self) -> Option<ExitCode> {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let signal = self.received()?;
        let name = if signal == SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        eprintln!(
            "interrupted ({name}): the running sessions were ended and their temporary \
             directories removed; no report written"
        );
        Some(ExitCode::from(crate::EXIT_INTERRUPTED))
    }
}

pub fn run(args: MatrixArgs) -> Result<ExitCode, Failure> {
    let cancel = Cancel::default();
    let interrupt = Interrupt::watch(cancel.clone())?;
    let mut suite = workspace::load_suite().map_err(Failure::Setup)?;
    let selection = selection(&args, &suite)?;
    let skips: Vec<SkipPattern> = args
        .skip
        .iter()
        .map(|s| SkipPattern::parse(s))
        .collect::<Result<_, _>>()?;
    let (candidates, mut records) = adapters(&args, &suite)?;
    if interrupt.received().is_some() {
        // During the set-up (a build): nothing ran.
        return Ok(interrupt
            .finish()
            .unwrap_or(ExitCode::from(crate::EXIT_INTERRUPTED)));
    }
    for r in &records {
        match r.message.starts_with(&r.implementation) {
            true => eprintln!("error: {}", r.message),
            false => eprintln!("error: {}: {}", r.implementation, r.message),
        }
    }
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    // Each run its own /dev/shm where it can be had; without, overlapping runs cannot pin an
    // entry on one of them: check once, around the matrix.
    let shm_isolation = shm_isolation_for(args.shm_isolation, jobs);
    suite.runner = suite.runner.clone().with_options(RunOptions {
        shm_isolation,
        timeout_factor: args.timeout_factor,
        cancel: Some(cancel.clone()),
        shm_dir: args.shm_dir.clone(),
        ..RunOptions::default()
    });
    let adapters: Vec<Adapter> = candidates.iter().map(|c| c.adapter.clone()).collect();
    let implementations: Vec<Implementation> = candidates
        .iter()
        .map(|c| Implementation::of(&c.adapter, c.manifest.as_deref()))
        .collect();
    let options = Options {
        jobs,
        shard: args.shard.map(|s| format!("{}/{}", s.k, s.n)),
        scenarios: args.scenario.clone(),
        start_methods: args.start_methods.clone(),
        fail_fast: args.fail_fast,
        skip: args.skip.clone(),
        timeout_factor: args.timeout_factor,
        shm_isolation: Some(shm_isolation),
    };
    let mut run = RunInfo::here(options, implementations);
    let mut plan = suite
        .plan(&adapters, &selection)
        .map_err(|e| Failure::Setup(e.to_string()))?;
    if let Some(Shard { k, n }) = args.shard {
        plan = plan
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % n == k - 1)
            .map(|(_, job)| job)
            .collect();
    }
    let shm_before =
        (shm_isolation == ShmIsolation::WholeRun).then(|| ShmSnapshot::take(&args.shm_dir));
    let clauses = |id: &str| {
        suite
            .catalog
            .get(id)
            .map_or(Vec::new(), |s| s.clauses.clone())
    };

    let progress = Progress::new(plan.len());
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let done: Mutex<Vec<(usize, Record)>> = Mutex::new(Vec::with_capacity(plan.len()));
    let unexpected: Mutex<Vec<(usize, conformance::RunResult)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        scope.spawn(|| progress.tick_until_done());
        let workers: Vec<_> = (0..jobs.min(plan.len().max(1)))
            .map(|_| {
                scope.spawn(|| loop {
                    if stop.load(Ordering::Relaxed) || cancel.is_cancelled() {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = plan.get(i) else { return };
                    progress.started(
                        i,
                        format!("{} {} {}", job.adapter.name, job.method, job.scenario.id),
                    );
                    let (record, result) = match skips
                        .iter()
                        .find(|p| p.matches(&job.scenario.id, job.method))
                    {
                        Some(p) => (
                            Record::skipped(job, format!("skipped by --skip {}", p.text)),
                            None,
                        ),
                        None => {
                            let result = suite.runner.run(job.adapter, job.scenario, job.method);
                            (
                                Record::from_run(&result, &clauses(&result.scenario)),
                                Some(result),
                            )
                        }
                    };
                    progress.finished(i, &record);
                    if !record.outcome.is_ok() && args.fail_fast {
                        stop.store(true, Ordering::Relaxed);
                    }
                    if let Some(result) = result.filter(|r| !r.outcome.is_ok()) {
                        if args.write_deviations.is_some() {
                            unexpected
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .push((i, result));
                        }
                    }
                    done.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((i, record));
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        progress.finish();
    });
    if let Some(code) = interrupt.finish() {
        return Ok(code);
    }
    run.seconds = started.elapsed().as_secs_f64();
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_by_key(|(i, _)| *i);
    records.extend(done.into_iter().map(|(_, r)| r));
    if let Some(shm_before) = shm_before {
        let stray = shm_before.remove_new_entries();
        if !stray.is_empty() {
            let list: Vec<String> = stray.iter().map(|p| p.display().to_string()).collect();
            records.push(Record::whole_run(
                results::DEV_SHM,
                results::ALL,
                Outcome::Leak,
                format!(
                    "new /dev/shm entries appeared during the parallel run (removed; re-run with \
                     --jobs 1 to find the scenario):\n{}",
                    list.join("\n")
                ),
            ));
        }
    }

    if let Some(path) = &args.write_deviations {
        let mut results = unexpected.into_inner().unwrap_or_else(|p| p.into_inner());
        results.sort_by_key(|(i, _)| *i);
        let report = conformance::Report {
            results: results.into_iter().map(|(_, r)| r).collect(),
            stray_shm: Vec::new(),
        };
        std::fs::write(path, report.draft_deviations(&suite.catalog)).map_err(|e| {
            Failure::Setup(format!(
                "cannot write the deviations draft to {}: {e}",
                path.display()
            ))
        })?;
        eprintln!(
            "drafted [[deviation]] entries in {}: edit them before use",
            path.display()
        );
    }
    let file = ResultsFile {
        run,
        results: records,
    };
    let dir = report::report_dir(&args.report_dir);
    let code = show_and_write(&file, &suite, &dir, args.link_base.as_deref(), args.table)?;
    if stop.load(Ordering::Relaxed) {
        say("stopped early (--fail-fast)\n");
    }
    Ok(code)
}

/// Prints a results file's unexpected results and summary (the table too when asked), writes
/// its reports to `dir`, and returns the exit status it calls for.
pub fn show_and_write(
    file: &ResultsFile,
    suite: &Suite,
    dir: &Path,
    link_base: Option<&str>,
    table: bool,
) -> Result<ExitCode, Failure> {
    let matrix = Matrix::new(file, Some(&suite.catalog));
    if table {
        say(&matrix.table());
    }
    say(&matrix.unexpected());
    say(&format!("\n{}", matrix.summary()));
    matrix
        .write_reports(dir, &Links::new(link_base))
        .map_err(|e| {
            Failure::Setup(format!(
                "cannot write the reports to {}: {e}",
                dir.display()
            ))
        })?;
    let runs = file.results.iter().filter(|r| !r.is_whole_run()).count();
    say(&format!(
        "{runs} runs in {:.1} s; reports in {}\n",
        file.run.seconds,
        dir.display()
    ));
    Ok(if file.setup_failed() {
        ExitCode::from(crate::EXIT_SETUP)
    } else if file.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_UNEXPECTED)
    })
}

#[cfg(test)]
mod tests {
    use super::{parse_shard, Shard};

    #[test]
    fn shards_are_k_of_n() {
        assert_eq!(parse_shard("2/3"), Ok(Shard { k: 2, n: 3 }));
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", "1/2/3"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
