//! `cargo xtask matrix`: scenarios × start methods × implementations, in parallel, with a progress
//! bar, a table in the terminal and reports in the report directory.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::Args;
use conformance::leak::ShmSnapshot;
use conformance::{Adapter, Outcome, RunOptions, RunResult, Selection, StartMethod, Suite};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{report, workspace};

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
    /// Runs at a time (default: the number of cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Where the reports go.
    #[arg(long, value_name = "DIR", default_value = "target/conformance")]
    report_dir: PathBuf,
    /// Stop starting runs after the first unexpected result.
    #[arg(long)]
    fail_fast: bool,
}

/// Finds `name` on PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_string_lossy()
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|candidate| candidate.is_file())
}

/// Builds the Rust scenario programs and returns the binary's path.
fn build_reference() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace::root())
        .args(["build", "--quiet", "--package", "scenarios"])
        .status()
        .map_err(|e| format!("cannot run cargo to build the scenarios: {e}"))?;
    if !status.success() {
        return Err("building the Rust scenario programs failed (see above)".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace::root().join("target"));
    Ok(target.join("debug").join("scenarios"))
}

fn python_adapter(path: &Path) -> Result<Adapter, String> {
    let resolved = if path.components().count() == 1 {
        on_path(&path.to_string_lossy()).ok_or_else(|| {
            format!(
                "no interpreter '{}' on PATH: give its full path with --python",
                path.display()
            )
        })?
    } else if path.is_file() {
        path.to_path_buf()
    } else {
        return Err(format!(
            "no interpreter at '{}': check the path given to --python",
            path.display()
        ));
    };
    let is_pypy = resolved
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("pypy"));
    let adapter = if is_pypy {
        Adapter::pypy(&resolved)
    } else {
        Adapter::cpython(&resolved)
    };
    adapter.map_err(|e| e.to_string())
}

/// The implementations to run, from the options.
/// Built-in adapters get the suite's built-in deviations (`scenarios/deviations.toml`); an
/// adapter manifest lists its own.
fn adapters(args: &MatrixArgs, suite: &Suite) -> Result<Vec<Adapter>, String> {
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
    let mut adapters = Vec::new();
    for name in &names {
        let adapter = match name.as_str() {
            "reference" => suite.with_builtin_deviations(Adapter::reference(build_reference()?)),
            "cpython" | "python3" => {
                suite.with_builtin_deviations(python_adapter(Path::new("python3"))?)
            }
            "pypy" | "pypy3" => suite.with_builtin_deviations(python_adapter(Path::new("pypy3"))?),
            path if Path::new(path).is_file() => Adapter::load(path).map_err(|e| e.to_string())?,
            other => {
                return Err(format!(
                    "unknown implementation '{other}': use reference, cpython, pypy, or the path of an \
                     adapter manifest (see README.md, \"Testing another implementation\")"
                ))
            }
        };
        adapters.push(adapter);
    }
    for python in &args.python {
        adapters.push(suite.with_builtin_deviations(python_adapter(python)?));
    }
    let mut seen = std::collections::HashSet::new();
    for adapter in &adapters {
        if !seen.insert(adapter.name.clone()) {
            return Err(format!(
                "the implementation '{}' is given twice",
                adapter.name
            ));
        }
    }
    Ok(adapters)
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

pub fn run(args: MatrixArgs) -> Result<ExitCode, String> {
    let mut suite = workspace::load_suite()?;
    let selection = selection(&args, &suite)?;
    let adapters = adapters(&args, &suite)?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    // Overlapping runs cannot pin a /dev/shm entry on one of them: check once, around the matrix.
    suite.runner = suite.runner.clone().with_options(RunOptions {
        check_shm: jobs == 1,
        ..RunOptions::default()
    });
    let plan = suite
        .plan(&adapters, &selection)
        .map_err(|e| e.to_string())?;
    let shm_before = ShmSnapshot::take("/dev/shm");

    let bar = ProgressBar::new(plan.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {msg} [{elapsed}]")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message("0 unexpected");
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let unexpected = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<(usize, RunResult)>> = Mutex::new(Vec::with_capacity(plan.len()));
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(plan.len().max(1)) {
            scope.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = plan.get(i) else { return };
                let result = suite.runner.run(job.adapter, job.scenario, job.method);
                if !result.outcome.is_ok() {
                    let n = unexpected.fetch_add(1, Ordering::Relaxed) + 1;
                    bar.set_message(format!("{n} unexpected"));
                    if args.fail_fast {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                bar.inc(1);
                results
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((i, result));
            });
        }
    });
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<RunResult> = results.into_iter().map(|(_, r)| r).collect();
    let stray_shm = if jobs == 1 {
        Vec::new()
    } else {
        shm_before.remove_new_entries()
    };

    let matrix = report::Matrix::new(&suite, &adapters, &selection, results, stray_shm, elapsed);
    print!("{}", matrix.terminal_table());
    for r in matrix.results.iter().filter(|r| !r.outcome.is_ok()) {
        println!(
            "\n{} {} {} {}:\n{}",
            r.outcome.as_str().to_uppercase(),
            r.implementation,
            r.scenario,
            r.start_method.as_str(),
            workspace::indent(&r.message)
        );
    }
    if !matrix.stray_shm.is_empty() {
        println!(
            "\nLEAK: new /dev/shm entries during the matrix (removed): {:?}",
            matrix.stray_shm
        );
    }
    let dir = if args.report_dir.is_absolute() {
        args.report_dir.clone()
    } else {
        workspace::root().join(&args.report_dir)
    };
    matrix
        .write_reports(&dir)
        .map_err(|e| format!("cannot write the reports to {}: {e}", dir.display()))?;
    let rendered = report::check_in_browser(&dir, matrix.results.len());
    match &rendered {
        Ok(what) => println!("report.html: {what}"),
        Err(problem) => println!("report.html: {problem}"),
    }
    println!("\n{}", matrix.totals());
    println!(
        "{} runs in {:.1} s with {jobs} jobs; reports in {}",
        matrix.results.len(),
        elapsed.as_secs_f64(),
        dir.display()
    );
    if stop.load(Ordering::Relaxed) {
        println!("stopped early (--fail-fast)");
    }
    Ok(if matrix.ok() && rendered.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Compact cell text for an outcome.
pub fn cell(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "FAIL",
        Outcome::Xfail => "xfail",
        Outcome::Xpass => "XPASS",
        Outcome::Skip => "skip",
        Outcome::Timeout => "TIMEOUT",
        Outcome::Leak => "LEAK",
        Outcome::Error => "ERROR",
    }
}
