//! Project automation, in plain Rust: `cargo xtask <task>` (an alias in `.cargo/config.toml`).
//!
//! * `matrix`: scenarios × start methods × implementations, a table, and reports.
//! * `list`: the scenario catalog.
//! * `explain ID`: a scenario's clauses, programs and expected outcome.
//! * `bench`: the reference against CPython and the raw OS primitives: a table and reports.
//! * `cross-check`: type-check the macOS and Windows code paths from this machine.
//! * `stress`: kill soaks of the reference's queue, with counts of what went wrong.
//! * `fuzz`: the reference's fuzz targets on random inputs, for a given time each.

mod bench;
mod cross_check;
mod fuzz;
mod matrix;
mod report;
mod stress;
mod workspace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// cargo xtask: the project's tasks.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the conformance matrix: scenarios × start methods × implementations.
    Matrix(matrix::MatrixArgs),
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Matrix(args) => matrix::run(args),
        Task::List => workspace::list().map(|()| ExitCode::SUCCESS),
        Task::Explain { id } => workspace::explain(&id).map(|()| ExitCode::SUCCESS),
        Task::Bench(args) => bench::run(args),
        Task::CrossCheck(args) => cross_check::run(args),
        Task::Stress(args) => stress::run(args),
        Task::Fuzz(args) => fuzz::run(args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
