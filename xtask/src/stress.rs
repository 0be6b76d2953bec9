//! `cargo xtask stress`: kill soaks of the reference's queue, its load tests, and the barrier
//! and condition fault cases, under every start method, in a release and a debug build, with a
//! table of counts and `stress.json`.
//!
//! The soaks are in `xtask/stress-subject` (its documentation says what each checks); each run
//! of it is one soak under one start method, in its own process group, under a time limit, and
//! prints one JSON line of counts. This command builds it, runs every combination asked for,
//! prints `kills`, `corrupt`, `lost`, `duplicated`, `hung`, `broken` and `late` for each, and
//! exits 1 unless `corrupt`, `lost`, `duplicated`, `hung` and `late` are all 0 (and every run
//! finished). `broken` (barrier trials whose barrier broke after a kill) is expected.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::bench::subjects::{build_package, last_lines, run_in_group, LINGER};

#[derive(Args, Debug)]
pub struct StressArgs {
    /// The longest each soak runs, per start method and build (it stops earlier once it has
    /// its kills; see --producer-kills and --consumer-kills).
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Stop a producer soak once it has killed this many producers (0: run for --seconds).
    #[arg(long, default_value_t = 0)]
    producer_kills: u64,
    /// Stop a consumer soak once it has killed this many consumers (0: run for --seconds).
    #[arg(long, default_value_t = 0)]
    consumer_kills: u64,
    /// Only this start method (repeatable): fork, spawn, forkserver.
    #[arg(long = "start-method", value_name = "M")]
    methods: Vec<String>,
    /// Stop a barrier or condition soak once it has killed this many parties or waiters (0: run
    /// for --seconds).
    #[arg(long, default_value_t = 0)]
    fault_kills: u64,
    /// Only this soak (repeatable): producer, consumer, load, barrier, condition.
    #[arg(long = "soak", value_name = "SOAK")]
    soaks: Vec<String>,
    /// Which builds: release, debug or both.
    #[arg(long, default_value = "both", value_parser = ["release", "debug", "both"])]
    profile: String,
    /// Where `stress.json` goes.
    #[arg(long, value_name = "DIR", default_value = "target/stress")]
    report_dir: PathBuf,
}

/// One run's counts, as the subject prints them, and the build it ran in.
#[derive(Serialize, Deserialize, Debug, Default)]
struct Counts {
    soak: String,
    method: String,
    #[serde(default)]
    profile: String,
    kills: u64,
    corrupt: u64,
    lost: u64,
    duplicated: u64,
    hung: u64,
    #[serde(default)]
    broken: u64,
    #[serde(default)]
    late: u64,
    items: u64,
    seconds: f64,
    first_problem: Option<String>,
}

impl Counts {
    fn clean(&self) -> bool {
        self.corrupt + self.lost + self.duplicated + self.hung + self.late == 0
    }
}

pub fn run(args: StressArgs) -> Result<ExitCode, String> {
    let all_methods = ["fork", "spawn", "forkserver"];
    let methods: Vec<&str> = if args.methods.is_empty() {
        all_methods.to_vec()
    } else {
        for m in &args.methods {
            if !all_methods.contains(&m.as_str()) {
                return Err(format!(
                    "unknown start method {m:?}: use fork, spawn or forkserver"
                ));
            }
        }
        args.methods.iter().map(String::as_str).collect()
    };
    let all_soaks = ["producer", "consumer", "load", "barrier", "condition"];
    let soaks: Vec<&str> = if args.soaks.is_empty() {
        all_soaks.to_vec()
    } else {
        for s in &args.soaks {
            if !all_soaks.contains(&s.as_str()) {
                return Err(format!(
                    "unknown soak {s:?}: use producer, consumer, load, barrier or condition"
                ));
            }
        }
        args.soaks.iter().map(String::as_str).collect()
    };
    let profiles: Vec<&str> = match args.profile.as_str() {
        "both" => vec!["release", "debug"],
        one => vec![one],
    };
    let mut results = Vec::new();
    let mut failed_runs = Vec::new();
    for profile in profiles {
        let binaries = build_package("stress-subject", profile == "release")?;
        let subject = binaries
            .get("stress-subject")
            .ok_or("cargo built no stress-subject executable")?;
        for method in &methods {
            for soak in &soaks {
                let kills = match *soak {
                    "producer" => args.producer_kills,
                    "consumer" => args.consumer_kills,
                    _ => args.fault_kills,
                };
                eprintln!("stress: {soak} soak, {method}, {profile} build ...");
                match run_one(subject, soak, method, args.seconds, kills) {
                    Ok(mut counts) => {
                        counts.profile = profile.to_owned();
                        eprintln!("  {}", row(&counts));
                        results.push(counts);
                    }
                    Err(err) => {
                        eprintln!("  FAILED: {err}");
                        failed_runs.push(format!("{soak} soak, {method}, {profile}: {err}"));
                    }
                }
            }
        }
    }
    println!();
    println!(
        "{:<9} {:<11} {:<8} {:>7} {:>8} {:>5} {:>11} {:>5} {:>7} {:>5} {:>11} {:>8}",
        "soak",
        "method",
        "build",
        "kills",
        "corrupt",
        "lost",
        "duplicated",
        "hung",
        "broken",
        "late",
        "items",
        "seconds"
    );
    for counts in &results {
        println!("{}", row(counts));
    }
    for counts in results.iter().filter(|c| !c.clean()) {
        println!(
            "{} soak, {}, {}: {}",
            counts.soak,
            counts.method,
            counts.profile,
            counts.first_problem.as_deref().unwrap_or("(no detail)")
        );
    }
    for failure in &failed_runs {
        println!("run failed: {failure}");
    }
    write_report(&args.report_dir, &results)?;
    let clean = failed_runs.is_empty() && results.iter().all(Counts::clean);
    println!(
        "{}",
        if clean {
            "stress: 0 corrupt, 0 lost, 0 duplicated, 0 hung, 0 late"
        } else {
            "stress: FAILED"
        }
    );
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn row(c: &Counts) -> String {
    format!(
        "{:<9} {:<11} {:<8} {:>7} {:>8} {:>5} {:>11} {:>5} {:>7} {:>5} {:>11} {:>8.1}",
        c.soak,
        c.method,
        c.profile,
        c.kills,
        c.corrupt,
        c.lost,
        c.duplicated,
        c.hung,
        c.broken,
        c.late,
        c.items,
        c.seconds
    )
}

/// Runs one soak; a run that does not end within its time plus a margin is killed, and an error.
fn run_one(
    subject: &Path,
    soak: &str,
    method: &str,
    seconds: u64,
    kills: u64,
) -> Result<Counts, String> {
    let mut command = Command::new(subject);
    command.arg(soak);
    command.args(["--method", method, "--seconds", &seconds.to_string()]);
    command.args(["--kills", &kills.to_string()]);
    let limit = Duration::from_secs(seconds + 180);
    let output = run_in_group(command, limit, LINGER)?;
    if !output.success {
        return Err(format!("it failed: {}", last_lines(&output.stderr, 6)));
    }
    let line = output
        .stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("no counts in its output: {}", last_lines(&output.stdout, 3)))?;
    serde_json::from_str(line).map_err(|e| format!("bad output line {line:?}: {e}"))
}

fn write_report(dir: &Path, results: &[Counts]) -> Result<(), String> {
    let dir = if dir.is_absolute() {
        dir.to_owned()
    } else {
        crate::workspace::root().join(dir)
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("stress.json");
    let json = serde_json::to_string_pretty(results).map_err(|e| e.to_string())?;
    std::fs::write(&path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("stress: wrote {}", path.display());
    Ok(())
}
