//! `cargo xtask stress` works: a one-second run of every soak under `fork` in the dev profile
//! prints the table and writes `stress.json` with the counts README.md documents, all clean.
//! (The figures that count are from long runs: README, "Robustness".)

use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

#[test]
fn a_short_stress_run_prints_the_counts_and_writes_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["stress", "--seconds", "1", "--profile", "debug"])
        .args(["--start-method", "fork", "--report-dir"])
        .arg(dir.path())
        .timeout(Duration::from_secs(900))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("kills  corrupt  lost  duplicated  hung  broken  late"),
        "{stdout}"
    );
    assert!(
        stdout.contains("stress: 0 corrupt, 0 lost, 0 duplicated, 0 hung, 0 late"),
        "{stdout}"
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("stress.json")).unwrap())
            .unwrap();
    let runs = report.as_array().unwrap();
    let soaks = ["producer", "consumer", "load", "barrier", "condition"];
    assert_eq!(runs.len(), soaks.len(), "{report}");
    for (run, soak) in runs.iter().zip(soaks) {
        assert_eq!(run["soak"], soak);
        assert_eq!(run["method"], "fork");
        assert_eq!(run["profile"], "debug");
        for count in ["corrupt", "lost", "duplicated", "hung", "late"] {
            assert_eq!(run[count], 0, "{run}");
        }
        // The load soak kills nothing; every other soak kills at least once in a second.
        assert_eq!(run["kills"].as_u64().unwrap() > 0, soak != "load", "{run}");
        assert!(run["broken"].as_u64().is_some(), "{run}");
    }
}
