//! `cargo xtask fuzz --seconds N`: the fuzz targets of the reference (`reference/src/fuzz.rs`:
//! the frame reader, the wire decoder, the preparation data, the queue's ring and header, a
//! connection's receiving end) on random inputs for N seconds each, in a release build, on
//! stable Rust. It runs `reference/tests/fuzz.rs` with a longer budget than `cargo test` gives
//! it; a failure prints the seed that replays it.

use std::process::{Command, ExitCode};

use clap::Args;

#[derive(Args, Debug)]
pub struct FuzzArgs {
    /// How long each target runs.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Only the targets whose test name contains this (e.g. `wire_decoder`).
    #[arg(long, value_name = "NAME")]
    target: Option<String>,
}

pub fn run(args: FuzzArgs) -> Result<ExitCode, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(crate::workspace::root())
        .args([
            "test",
            "--release",
            "--package",
            "multiprocessing-rs",
            "--test",
            "fuzz",
        ])
        .env("MULTIPROCESSING_FUZZ_MS", (args.seconds * 1000).to_string())
        .arg("--");
    if let Some(target) = &args.target {
        command.arg(target);
    }
    // One target at a time: each gets the machine's CPUs for its budget.
    command.arg("--test-threads=1");
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo test for the fuzz targets: {e}"))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
