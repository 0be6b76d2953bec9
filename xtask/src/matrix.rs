//! `cargo xtask matrix`: scenarios × start methods × implementations, in parallel, with a
//! progress display, a summary in the terminal and reports in the report directory.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::Args;
use conformance::leak::ShmSnapshot;
use conformance::{Adapter, Outcome, RunOptions, Selection, StartMethod, Suite};

use crate::progress::Progress;
use crate::report::{self, Links, Matrix};
use crate::results::{self, Implementation, Options, Record, ResultsFile, RunInfo};
use crate::{say, workspace, Failure};

/// Exit status: 0 every result as expected, 1 unexpected results, 2 bad usage, 3 an
/// implementation could not be set up (its runs are missing; the others ran).
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
}

/// `--shard K/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
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

/// Builds the Rust scenario programs and returns the binary's path. Cargo's progress shows.
fn build_reference() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("building the reference's scenario programs (cargo build --package scenarios)");
    let status = Command::new(cargo)
        .current_dir(workspace::root())
        .args(["build", "--package", "scenarios"])
        .status()
        .map_err(|e| format!("cannot run cargo to build the scenarios: {e}"))?;
    if !status.success() {
        return Err("building the Rust scenario programs failed (cargo's errors are above)".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace::root().join("target"));
    Ok(target.join("debug").join("scenarios"))
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
            "reference" => match build_reference() {
                Ok(bin) => out.push(Candidate {
                    adapter: suite.with_builtin_deviations(Adapter::reference(bin)),
                    manifest: None,
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

pub fn run(args: MatrixArgs) -> Result<ExitCode, Failure> {
    let mut suite = workspace::load_suite().map_err(Failure::Setup)?;
    let selection = selection(&args, &suite)?;
    let (candidates, mut records) = adapters(&args, &suite)?;
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
    // Overlapping runs cannot pin a /dev/shm entry on one of them: check once, around the matrix.
    suite.runner = suite.runner.clone().with_options(RunOptions {
        check_shm: jobs == 1,
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
    let shm_before = ShmSnapshot::take("/dev/shm");
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
    std::thread::scope(|scope| {
        scope.spawn(|| progress.tick_until_done());
        let workers: Vec<_> = (0..jobs.min(plan.len().max(1)))
            .map(|_| {
                scope.spawn(|| loop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = plan.get(i) else { return };
                    progress.started(
                        i,
                        format!("{} {} {}", job.adapter.name, job.method, job.scenario.id),
                    );
                    let result = suite.runner.run(job.adapter, job.scenario, job.method);
                    let record = Record::from_run(&result, &clauses(&result.scenario));
                    progress.finished(i, &record);
                    if !record.outcome.is_ok() && args.fail_fast {
                        stop.store(true, Ordering::Relaxed);
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
    run.seconds = started.elapsed().as_secs_f64();
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_by_key(|(i, _)| *i);
    records.extend(done.into_iter().map(|(_, r)| r));
    if jobs > 1 {
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
