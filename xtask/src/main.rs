//! Project automation, in plain Rust: `cargo xtask <task>` (an alias in `.cargo/config.toml`).
//!
//! * `matrix`: scenarios × start methods × implementations, a summary, and reports.
//! * `report merge` / `report diff`: put the results of several runs together, compare two runs.
//! * `list`: the scenario catalog.
//! * `explain ID`: a scenario's clauses, programs and expected outcome.
//! * `bench`: the reference against CPython and the raw OS primitives: a table and reports.
//! * `cross-check`: type-check the macOS and Windows code paths from this machine.
//! * `stress`: kill soaks of the reference's queue, with counts of what went wrong.
//! * `fuzz`: the reference's fuzz targets on random inputs, for a given time each.
//! * `mutants`: the suite's power: broken variants of CPython's `multiprocessing`, each of which
//!   some scenario must catch.

mod bench;
mod cross_check;
mod fuzz;
mod html;
mod matrix;
mod mutants;
mod progress;
mod report;
mod results;
mod stress;
mod workspace;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status of `matrix` and `report merge` when a result is not as expected, and of
/// `report diff` when there is a regression.
pub const EXIT_UNEXPECTED: u8 = 1;
/// Exit status for bad usage (options, files).
pub const EXIT_USAGE: u8 = 2;
/// Exit status when an implementation could not be set up (its runs are missing).
pub const EXIT_SETUP: u8 = 3;
/// Exit status of `matrix` when interrupted by Ctrl-C (SIGINT) or SIGTERM, after ending the
/// running sessions and removing their temporary directories (128 + SIGINT, as a shell reports
/// a command Ctrl-C ended).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Why a task did not run to its end.
pub enum Failure {
    /// Bad options or input files: exit status 2.
    Usage(String),
    /// Something the task needs could not be set up: exit status 3.
    Setup(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Usage(message)
    }
}

/// Writes to stdout. A closed pipe (`cargo xtask list | head`) is not an error: the rest of the
/// output is dropped, and the task goes on (a matrix still writes its reports).
pub fn say(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// cargo xtask: the project's tasks.
///
/// Exit status: 0 success (every result as expected); 1 unexpected results (or a regression,
/// for `report diff`); 2 bad usage; 3 an implementation or the suite could not be set up;
/// 130 `matrix` interrupted (Ctrl-C or SIGTERM; its running sessions were ended).
#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    about,
    long_about
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the conformance matrix: scenarios × start methods × implementations.
    ///
    /// Run it inside a checkout: the workspace (and its suite) is the one around the current
    /// directory. Exit status: 0 every result as expected; 1 unexpected results; 2 bad usage;
    /// 3 an implementation could not be set up (its runs are missing, the others ran); 130
    /// interrupted by Ctrl-C (SIGINT) or SIGTERM: the running sessions were ended (SIGTERM,
    /// then SIGKILL), their temporary directories removed, and no report written.
    Matrix(matrix::MatrixArgs),
    /// Merge or compare results.json files.
    #[command(subcommand)]
    Report(ReportTask),
    /// Print the scenario catalog: id, clauses, statement.
    List,
    /// Print a scenario's clauses, its programs and its expected outcome.
    Explain {
        /// The scenario id (see `cargo xtask list`).
        id: String,
    },
    /// Measure the reference against CPython and the raw OS primitives (and procspawn and
    /// ipc-channel): a table, bench.json and bench.svg.
    Bench(bench::BenchArgs),
    /// Type-check the macOS and Windows code paths (needs a toolchain with the standard
    /// library's source; see README, "What is verified where").
    CrossCheck(cross_check::CrossCheckArgs),
    /// Kill soaks of the reference's queue (producers and consumers SIGKILLed at random
    /// points), per start method, in release and debug builds: kills, corrupt, lost,
    /// duplicated, hung.
    Stress(stress::StressArgs),
    /// Run the reference's fuzz targets (frames, wire decoding, preparation data, the queue's
    /// ring, connections) on random inputs for N seconds each, in a release build.
    Fuzz(fuzz::FuzzArgs),
    /// The suite's power: run deliberately broken variants of CPython's multiprocessing (each
    /// a one-patch drop-in replacement, conformance/mutants) against the scenarios of the
    /// clauses that should catch them; `N of M mutants killed`. Exit status 1 when one survives.
    Mutants(mutants::MutantsArgs),
}

#[derive(Subcommand)]
enum ReportTask {
    /// Merge the results.json of runs made on other machines, systems or shards into one
    /// results.json, junit.xml and report.html. Exit status as `matrix` on the merged records.
    Merge {
        /// The results.json files.
        #[arg(required = true, value_name = "RESULTS.json")]
        files: Vec<PathBuf>,
        /// The directory for the merged reports.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Where report.html's links point (see `matrix --link-base`).
        #[arg(long, value_name = "URL")]
        link_base: Option<String>,
        /// Print the full table.
        #[arg(long)]
        table: bool,
    },
    /// What changed from OLD to NEW: regressions, fixes, other changes, new and removed runs.
    /// Exit status 1 when there is a regression.
    Diff {
        /// The earlier results.json.
        old: PathBuf,
        /// The later results.json.
        new: PathBuf,
    },
}

fn report(task: ReportTask) -> Result<ExitCode, Failure> {
    let suite = workspace::load_suite().map_err(Failure::Setup)?;
    let order: Vec<String> = suite
        .catalog
        .scenarios
        .iter()
        .map(|s| s.id.clone())
        .collect();
    match task {
        ReportTask::Merge {
            files,
            out,
            link_base,
            table,
        } => {
            let inputs = files
                .iter()
                .map(|f| results::ResultsFile::read(f).map(|r| (f.clone(), r)))
                .collect::<Result<Vec<_>, _>>()?;
            let merged = results::merge(inputs, &order)?;
            let out = std::path::absolute(&out).unwrap_or(out);
            matrix::show_and_write(&merged, &suite, &out, link_base.as_deref(), table)
        }
        ReportTask::Diff { old, new } => {
            let diff = results::Diff::between(
                &results::ResultsFile::read(&old)?,
                &results::ResultsFile::read(&new)?,
            );
            say(&diff.render());
            Ok(if diff.regressions.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_UNEXPECTED)
            })
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(message) = workspace::check_root() {
        eprintln!("error: {message}");
        return ExitCode::from(EXIT_USAGE);
    }
    let result = match cli.task {
        Task::Matrix(args) => matrix::run(args),
        Task::Report(task) => report(task),
        Task::List => workspace::list()
            .map(|()| ExitCode::SUCCESS)
            .map_err(Failure::from),
        Task::Explain { id } => workspace::explain(&id)
            .map(|()| ExitCode::SUCCESS)
            .map_err(Failure::from),
        Task::Bench(args) => bench::run(args).map_err(Failure::from),
        Task::CrossCheck(args) => cross_check::run(args).map_err(Failure::from),
        Task::Stress(args) => stress::run(args).map_err(Failure::from),
        Task::Fuzz(args) => fuzz::run(args).map_err(Failure::from),
        Task::Mutants(args) => mutants::run(args),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Setup(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_SETUP)
        }
    }
}
