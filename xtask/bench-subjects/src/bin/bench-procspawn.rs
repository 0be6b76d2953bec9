//! procspawn, the Rust peer of `spawn`, as `cargo xtask bench` measures it: `start-join`,
//! `start-join-16` and `child-rss` under `spawn` (procspawn re-executes the program, like
//! `spawn`), and its `Pool` (2 workers, one task a spawn: it has no chunks) for `pool-map-tiny`
//! and `pool-apply-roundtrip`. `procspawn::init()` must come first in `main`, hence a program
//! of its own.

use std::process::ExitCode;
use std::time::Instant;

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
        ("pool-map-tiny", None) => {
            let pool = procspawn::Pool::new(2)?;
            // A rate: at about 6 k tasks/s, 10 000 tasks a sample measure it as well as 100 000.
            let samples = collect(args, || pool_map(&pool, args.n.min(10_000)));
            pool.shutdown();
            samples
        }
        ("pool-apply-roundtrip", None) => {
            let pool = procspawn::Pool::new(1)?;
            let samples = collect(args, || apply_roundtrip(&pool, args.n));
            pool.shutdown();
            samples
        }
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

/// Tasks per second of `n` trivial tasks on the pool, submitted then joined in order, in batches
/// of [`BATCH`]: each pending task holds descriptors of its own (about two), so 10 000 at once
/// exceed a limit of 20 000 open files (`EMFILE`, a panic inside procspawn).
fn pool_map(pool: &procspawn::Pool, n: usize) -> Result<f64> {
    const BATCH: usize = 1_000;
    let t = Instant::now();
    for start in (0..n).step_by(BATCH) {
        let batch = start as u64..(start + BATCH).min(n) as u64;
        let handles: Vec<_> = batch.map(|i| (i, pool.spawn(i, |x: u64| x))).collect();
        for (i, handle) in handles {
            if handle.join()? != i {
                return Err("the pool returned the wrong result".into());
            }
        }
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

/// Seconds per trivial task on an idle pool of one worker, waited for one at a time.
fn apply_roundtrip(pool: &procspawn::Pool, n: usize) -> Result<f64> {
    let t = Instant::now();
    for i in 0..n as u64 {
        if pool.spawn(i, |x: u64| x).join()? != i {
            return Err("the pool returned the wrong result".into());
        }
    }
    Ok(t.elapsed().as_secs_f64() / n as f64)
}
