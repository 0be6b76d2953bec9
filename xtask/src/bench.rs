//! `cargo xtask bench`: the reference against CPython and the raw OS primitives (and procspawn
//! and ipc-channel where they apply), figure by figure, interleaved, with a table, `bench.json`
//! and `bench.svg`.
//!
//! The measured programs are in `xtask/bench-subjects` (one binary per Rust subject, and
//! `python/bench.py`); each run of a subject measures one figure and prints its samples. For each
//! figure the subjects take turns, round after round (A B C A B C ...), so that whatever else the
//! machine is doing hits them all alike. The first round is a warm-up whose samples are thrown
//! away, and within each run the program throws away its own first samples too (see
//! [`figures`] for the sizes).

mod chart;
mod figures;
mod report;
pub(crate) mod subjects;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use figures::Figure;
use report::{FigureResult, Row, Stats};
use subjects::Subject;

use crate::matrix::on_path;
use crate::workspace;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// A run under a minute: less work per sample, fewer samples and rounds (rougher figures).
    #[arg(long)]
    quick: bool,
    /// Another Python interpreter to measure besides `python3` (repeatable).
    #[arg(long, value_name = "PATH")]
    python: Vec<PathBuf>,
    /// Only the figures whose id matches this glob (repeatable), e.g. `start-join*`.
    #[arg(long, value_name = "GLOB")]
    figure: Vec<String>,
    /// Where `bench.json` and `bench.svg` go.
    #[arg(long, value_name = "DIR", default_value = "target/bench")]
    report_dir: PathBuf,
    /// Build the subjects with the dev profile instead of release. For the test of this command:
    /// the Rust figures are then meaningless.
    #[arg(long, hide = true)]
    debug: bool,
}

/// Warm-up rounds (thrown away) and counted rounds.
fn rounds(quick: bool) -> (usize, usize) {
    if quick {
        (0, 2)
    } else {
        (1, 12)
    }
}

/// How long one run of one subject may take.
fn time_limit(quick: bool) -> Duration {
    Duration::from_secs(if quick { 120 } else { 600 })
}

fn select_figures(globs: &[String]) -> Result<Vec<Figure>, String> {
    let all = figures::all();
    if globs.is_empty() {
        return Ok(all);
    }
    let patterns: Vec<glob::Pattern> = globs
        .iter()
        .map(|g| glob::Pattern::new(g).map_err(|e| format!("bad --figure glob '{g}': {e}")))
        .collect::<Result<_, _>>()?;
    let selected: Vec<Figure> = all
        .iter()
        .filter(|f| patterns.iter().any(|p| p.matches(f.id)))
        .cloned()
        .collect();
    if selected.is_empty() {
        let mut ids: Vec<&str> = all.iter().map(|f| f.id).collect();
        ids.dedup();
        return Err(format!(
            "no figure matches {globs:?}; the figures are: {}",
            ids.join(", ")
        ));
    }
    Ok(selected)
}

/// `python3` (when on PATH) and every `--python`, each once.
fn python_subjects(extra: &[PathBuf], notes: &mut Vec<String>) -> Result<Vec<Subject>, String> {
    let mut pythons = Vec::new();
    if on_path("python3").is_some() {
        match subjects::python_subject(Path::new("python3")) {
            Ok(subject) => pythons.push(subject),
            Err(why) => notes.push(format!("python3 is left out: {why}")),
        }
    } else {
        notes.push("no python3 on PATH: no CPython figures".to_owned());
    }
    for path in extra {
        let subject = subjects::python_subject(path)?;
        if pythons.iter().any(|p| p.name == subject.name) {
            notes.push(format!(
                "{} is {}, already measured: given once only",
                path.display(),
                subject.name
            ));
        } else {
            pythons.push(subject);
        }
    }
    Ok(pythons)
}

/// How many CPUs this process may run on (std reads the affinity mask and cgroup quota on
/// Linux).
fn allowed_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| {
            let fields: Vec<&str> = l.split_whitespace().take(3).collect();
            (fields.len() == 3).then(|| fields.join(" "))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn shm_entries() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/dev/shm")
        .map(|entries| {
            entries
                .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub fn run(args: BenchArgs) -> Result<ExitCode, String> {
    let figures = select_figures(&args.figure)?;
    let mut notes = Vec::new();
    let pythons = python_subjects(&args.python, &mut notes)?;
    let report_dir = if args.report_dir.is_absolute() {
        args.report_dir.clone()
    } else {
        workspace::root().join(&args.report_dir)
    };
    let binaries = subjects::build(!args.debug)?;
    let (reference, others) = subjects::rust_subjects(&binaries);
    let mut order = vec![reference];
    order.extend(pythons);
    order.extend(others);

    let cpus = allowed_cpus();
    let (warmup_rounds, counted_rounds) = rounds(args.quick);
    let names: Vec<&str> = order.iter().map(|s| s.name.as_str()).collect();
    println!(
        "cargo xtask bench: {} figures; subjects {}; {} build",
        figures.len(),
        names.join(", "),
        binaries.profile
    );
    println!(
        "{warmup_rounds} warm-up round(s) + {counted_rounds} counted rounds, the subjects \
         interleaved in each; {cpus} CPUs; load average {} at the start",
        load_average()
    );
    if args.quick {
        notes.push("--quick: little work per sample and few samples: rough figures".to_owned());
    }
    if args.debug {
        notes.push("--debug: unoptimized Rust subjects: their figures mean nothing".to_owned());
    }
    for note in &notes {
        println!("note: {note}");
    }

    let shm_before = shm_entries();
    let started = Instant::now();
    let runs: usize = figures
        .iter()
        .map(|f| order.iter().filter(|s| subjects::measures(s, f)).count())
        .sum::<usize>()
        * (warmup_rounds + counted_rounds);
    let bar = ProgressBar::new(runs as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs [{elapsed}] {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let mut results = Vec::new();
    for figure in &figures {
        let subjects: Vec<&Subject> = order
            .iter()
            .filter(|s| subjects::measures(s, figure))
            .collect();
        if figure.cpus.is_some_and(|wanted| wanted > cpus) {
            bar.inc((subjects.len() * (warmup_rounds + counted_rounds)) as u64);
            results.push(FigureResult {
                figure: figure.clone(),
                rows: Vec::new(),
                skipped: Some(format!(
                    "this process may run on {cpus} CPU(s), the figure needs {}",
                    figure.cpus.unwrap_or_default()
                )),
            });
            continue;
        }
        let size = figure.size(args.quick);
        let mut samples: Vec<Result<Vec<f64>, String>> = vec![Ok(Vec::new()); subjects.len()];
        for round in 0..warmup_rounds + counted_rounds {
            for (subject, kept) in subjects.iter().zip(samples.iter_mut()) {
                bar.set_message(format!("{}: {}", figure.label(), subject.name));
                if let Ok(kept_so_far) = kept {
                    match subject.run(figure, size, time_limit(args.quick)) {
                        Ok(new) if round >= warmup_rounds => kept_so_far.extend(new),
                        Ok(_) => {}
                        Err(why) => *kept = Err(why),
                    }
                }
                bar.inc(1);
            }
        }
        let rows = subjects
            .iter()
            .zip(samples)
            .map(|(subject, samples)| Row {
                subject: subject.name.clone(),
                kind: subject.kind.clone(),
                outcome: samples.and_then(|s| {
                    Stats::of(s.iter().map(|v| v * figure.scale).collect())
                        .ok_or_else(|| "no samples".to_owned())
                }),
            })
            .collect();
        results.push(FigureResult {
            figure: figure.clone(),
            rows,
            skipped: None,
        });
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();

    print!("{}", report::table(&results));
    println!();
    print!("{}", report::targets(&results));

    std::fs::create_dir_all(&report_dir)
        .map_err(|e| format!("cannot create {}: {e}", report_dir.display()))?;
    let json_path = report_dir.join("bench.json");
    std::fs::write(&json_path, report::json(&results))
        .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
    let svg_path = report_dir.join("bench.svg");
    let charted = chart::write(&results, &svg_path)?;

    let errors = results
        .iter()
        .flat_map(|r| &r.rows)
        .filter(|r| r.outcome.is_err())
        .count();
    let stray: Vec<String> = shm_entries()
        .into_iter()
        .filter(|e| !shm_before.contains(e))
        .collect();
    if !stray.is_empty() {
        println!(
            "\nwarning: new /dev/shm entries during the bench (maybe another program's): {stray:?}"
        );
    }
    println!(
        "\n{} figures in {:.0} s; load average {} at the end; {} and {} ({charted} figures \
         charted)",
        results.len(),
        elapsed.as_secs_f64(),
        load_average(),
        json_path.display(),
        svg_path.display()
    );
    if errors > 0 {
        println!("{errors} subject run(s) failed: see ERROR above");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_selected_by_glob() {
        let figures = select_figures(&["start-join*".to_owned()]).unwrap();
        assert_eq!(figures.len(), 9); // start-join × 3, -paired × 2, -first, -16 × 3
        assert!(select_figures(&["nothing".to_owned()])
            .unwrap_err()
            .contains("queue-throughput"));
        assert!(select_figures(&["[".to_owned()]).is_err());
        assert_eq!(select_figures(&[]).unwrap().len(), figures::all().len());
    }

    #[test]
    fn a_missing_python_is_an_error() {
        let mut notes = Vec::new();
        let err =
            python_subjects(&[PathBuf::from("/no/such/python")], &mut notes).expect_err("an error");
        assert!(err.contains("--python"), "{err}");
    }
}
