//! The conformance scenarios as Rust programs against the reference: `scenarios <id> <method>`.
//!
//! Each scenario mirrors `scenarios/python/<id>.py` line for line: same trace lines, same
//! observable outcome (see `conformance/SPEC.md`). Everything a scenario does before
//! `main_guard()` is its "module top level": it runs again in `spawn`/`forkserver` children.

mod contexts;
mod ipc;
mod pool;
mod process_model;
mod trace;

use std::process::ExitCode;

/// The directory this binary was built from, kept in the binary so that `cargo xtask matrix`
/// can tell a build of this checkout from another checkout's sharing the target directory
/// (cargo names both builds alike and may take one for the other).
#[used]
static BUILT_FROM: &str = concat!("scenarios built from ", env!("CARGO_MANIFEST_DIR"), "\n");

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(id), Some(method)) = (args.next(), args.next()) else {
        eprintln!("usage: scenarios <scenario-id> <fork|spawn|forkserver>");
        return ExitCode::from(2);
    };
    match process_model::SCENARIOS
        .iter()
        .chain(ipc::SCENARIOS)
        .chain(contexts::SCENARIOS)
        .chain(pool::SCENARIOS)
        .find(|(name, _)| *name == id)
    {
        Some((_, scenario)) => {
            scenario(&method);
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("scenarios: no scenario '{id}' in the Rust programs");
            ExitCode::from(2)
        }
    }
}
