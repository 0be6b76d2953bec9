//! `cargo xtask bench` works: with `--quick` (and the dev profile, so that CI builds nothing in
//! release) it prints the table and writes `bench.json` and `bench.svg` with the shape README.md
//! documents. No speed is ever asserted: this machine is shared and noisy.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

fn python3_on_path() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("python3").is_file()))
}

fn two_cpus() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

#[test]
fn quick_bench_prints_the_table_and_writes_the_reports() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = xtask()
        .args(["bench", "--quick", "--debug", "--report-dir"])
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
    eprintln!(
        "cargo xtask bench --quick --debug: {:.0?}",
        started.elapsed()
    );

    // The table: a block per figure, with a header, and the targets.
    let mut expected = vec![
        "start-join (fork)",
        "start-join (spawn)",
        "start-join (forkserver)",
        "start-join-first (forkserver)",
        "start-join-16 (fork)",
        "start-join-16 (spawn)",
        "start-join-16 (forkserver)",
        "queue-throughput",
        "send-bytes-1mib",
        "roundtrip-1cpu",
        "value-increments",
        "shm-write",
        "child-rss (fork)",
        "child-rss (spawn)",
        "child-rss (forkserver)",
    ];
    if two_cpus() {
        expected.push("roundtrip-2cpu");
    }
    for label in &expected {
        assert!(
            stdout.contains(&format!("\n{label}: ")),
            "no block for {label}:\n{stdout}"
        );
    }
    assert!(stdout.contains("subject") && stdout.contains("median"));
    assert!(stdout.contains("targets: "), "{stdout}");
    assert!(!stdout.contains("ERROR"), "{stdout}");

    // bench.json: one record per figure × subject, with every field.
    let text = std::fs::read_to_string(dir.path().join("bench.json")).unwrap();
    let records: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut seen = BTreeSet::new();
    for r in &records {
        let figure = r["figure"].as_str().expect("figure");
        let subject = r["subject"].as_str().expect("subject");
        assert!(r["unit"].is_string(), "{r}");
        assert!(
            r["start_method"].is_string() || r["start_method"].is_null(),
            "{r}"
        );
        let (median, min, max) = (
            r["median"].as_f64().expect("median"),
            r["min"].as_f64().expect("min"),
            r["max"].as_f64().expect("max"),
        );
        assert!(0.0 < min && min <= median && median <= max, "{r}");
        let runs = r["runs"].as_u64().expect("runs");
        assert!(runs >= 1, "{r}");
        assert_eq!(r["samples"].as_array().map(Vec::len), Some(runs as usize));
        let label = match r["start_method"].as_str() {
            Some(m) => format!("{figure} ({m})"),
            None => figure.to_owned(),
        };
        assert!(seen.insert((label, subject.to_owned())), "twice: {r}");
    }
    let subjects: BTreeSet<&str> = seen.iter().map(|(_, s)| s.as_str()).collect();
    for subject in ["reference", "os", "procspawn", "ipc-channel"] {
        assert!(subjects.contains(subject), "no {subject}: {subjects:?}");
    }
    if python3_on_path() {
        assert!(
            subjects.iter().any(|s| s.starts_with("cpython-3.")),
            "no CPython: {subjects:?}"
        );
    }
    for label in &expected {
        for subject in ["reference", "os"] {
            assert!(
                seen.contains(&(label.to_string(), subject.to_owned())),
                "no {subject} record for {label}"
            );
        }
    }
    assert!(seen.contains(&("start-join (spawn)".to_owned(), "procspawn".to_owned())));
    assert!(seen.contains(&("send-bytes-1mib".to_owned(), "ipc-channel".to_owned())));

    // bench.svg: a chart with its legend.
    let svg = std::fs::read_to_string(dir.path().join("bench.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.contains("reference ÷ os"));
    assert!(svg.contains("start-join (fork)"));
}

#[test]
fn bad_options_are_refused_with_status_2() {
    for args in [
        &["bench", "--no-such-option"][..],
        &["bench", "--figure", "no-such-figure"],
        &["bench", "--figure", "["],
        &["bench", "--python", "/no/such/python"],
    ] {
        let output = xtask().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!output.stderr.is_empty(), "{args:?}");
    }
}
