//! The conformance scenarios as Rust programs against the reference: `scenarios <id> <method>`.
//!
//! Each scenario mirrors `scenarios/python/<id>.py` line for line: same trace lines, same
//! observable outcome (see `conformance/SPEC.md`). Everything a scenario does before
//! `main_guard()` is its "module top level": it runs again in `spawn`/`forkserver` children.

mod contexts;
mod ipc;
mod pool;
mod process_model;
mod reaping;
mod timeouts;
mod trace;

use std::process::ExitCode;

fn main() -> ExitCode {
    report_identity();
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
        .chain(reaping::SCENARIOS)
        .chain(timeouts::SCENARIOS)
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

/// The identity report the conformance runner asks every process of a run for (README.md,
/// "Testing another implementation"): `main reference` from the program it started, `child
/// reference` from the children that run `main` again (spawn).
fn report_identity() {
    use std::io::Write;
    let Some(path) = std::env::var_os("CONFORMANCE_IDENTITY_FILE") else {
        return;
    };
    // The runner starts the program as the leader of a new session (SPEC.md 0.1); the children
    // that run `main` again are not (and `parent_process()` is not known yet in them here).
    let main = nix::unistd::getsid(None).is_ok_and(|sid| sid == nix::unistd::getpid());
    let role = if main { "main" } else { "child" };
    // One write of one short line to a file opened for appending: lines of concurrent
    // processes do not mix. A failure shows as a missing report, which the runner explains.
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        let _ = f.write_all(format!("{role} reference {}\n", std::process::id()).as_bytes());
    }
}
