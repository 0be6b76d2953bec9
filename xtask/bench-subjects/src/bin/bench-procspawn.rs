//! procspawn, the Rust peer of `spawn`, as `cargo xtask bench` measures it: `start-join`,
//! `start-join-16` and `child-rss` under `spawn` (procspawn re-executes the program, like
//! `spawn`). `procspawn::init()` must come first in `main`, hence a program of its own.

use std::process::ExitCode;

use bench_subjects::{collect, peak_rss, seconds, Args, Method, Result};

fn main() -> ExitCode {
    procspawn::init();
    bench_subjects::main(measure)
}

fn measure(args: &Args) -> Result<Vec<f64>> {
    match (args.figure.as_str(), args.start_method) {
        ("start-join", Some(Method::Spawn)) => collect(args, || seconds(|| spawn_and_join(1))),
        ("start-join-16", Some(Method::Spawn)) => {
            collect(args, || seconds(|| spawn_and_join(args.n)))
        }
        ("child-rss", Some(Method::Spawn)) => collect(args, child_rss),
        _ => Err(args.unsupported()),
    }
}

/// Spawns `n` children that do nothing, then joins them all.
fn spawn_and_join(n: usize) -> Result<()> {
    let children: Vec<_> = (0..n).map(|_| procspawn::spawn((), |()| ())).collect();
    for child in children {
        child.join()?;
    }
    Ok(())
}

/// A trivial child's peak memory, which it returns.
fn child_rss() -> Result<f64> {
    let reported = procspawn::spawn((), |()| peak_rss().map_err(|e| e.to_string())).join()?;
    Ok(reported? as f64)
}
