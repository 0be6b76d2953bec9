//! `cargo xtask matrix` and `cargo xtask report`: sharding and merging give the records of one
//! run, `report diff` finds what changed, a broken adapter is one set-up error (exit 3), bad
//! usage is exit 2, and a closed stdout is no panic.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

fn xtask() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.timeout(Duration::from_secs(900));
    cmd
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The records without their times and in a fixed order, for comparing runs.
fn records(file: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = file["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            // The judgement, not what a run happened to print: a listed deviation's actual trace
            // may interleave its processes' lines differently from run to run, and its message
            // carries the end of stderr; whether a child killed early reported its identity
            // varies too.
            let mut r = r.clone();
            let r_obj = r.as_object_mut().unwrap();
            for volatile in ["seconds", "actual", "message", "identity"] {
                r_obj.remove(volatile);
            }
            r
        })
        .collect();
    out.sort_by_key(|r| r.to_string());
    out
}

fn matrix(dir: &Path, extra: &[&str]) -> std::process::Output {
    xtask()
        .args(["matrix", "--impl", "reference", "--report-dir"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn three_shards_merged_are_the_whole_run_and_diff_finds_a_changed_expectation() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let out = matrix(&whole, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut shard_files = Vec::new();
    let mut total = 0;
    for k in 1..=3 {
        let dir = tmp.path().join(format!("shard{k}"));
        let out = matrix(&dir, &["--shard", &format!("{k}/3")]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let file = read(&dir.join("results.json"));
        assert_eq!(file["run"]["options"]["shard"], format!("{k}/3"));
        total += file["results"].as_array().unwrap().len();
        shard_files.push(dir.join("results.json"));
    }
    let merged = tmp.path().join("merged");
    let out = xtask()
        .args(["report", "merge"])
        .args(&shard_files)
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for report in ["results.json", "junit.xml", "report.html"] {
        assert!(merged.join(report).is_file(), "{report}");
    }
    let whole_file = read(&whole.join("results.json"));
    let merged_file = read(&merged.join("results.json"));
    assert_eq!(total, whole_file["results"].as_array().unwrap().len());
    assert_eq!(records(&merged_file), records(&whole_file));
    assert_eq!(merged_file["run"]["parts"].as_array().unwrap().len(), 3);

    // A run against itself: nothing changed.
    let whole_json = whole.join("results.json");
    let out = xtask()
        .args(["report", "diff"])
        .args([&whole_json, &whole_json])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "no changes\n");

    // A run where one expectation changed: the run that passed now fails.
    let mut changed = whole_file.clone();
    let record = changed["results"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["outcome"] == "pass")
        .unwrap();
    record["outcome"] = "fail".into();
    record["expected"] = "exit: 0\n---\nsomething else\n".into();
    let (id, method) = (
        record["scenario"].as_str().unwrap().to_owned(),
        record["start_method"].as_str().unwrap().to_owned(),
    );
    let changed_json = tmp.path().join("changed.json");
    std::fs::write(&changed_json, changed.to_string()).unwrap();
    let out = xtask()
        .args(["report", "diff"])
        .args([&whole_json, &changed_json])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("regressions (1):\n")
            && stdout.contains(&format!("reference {method} {id}: pass -> fail")),
        "{stdout}"
    );
    // And back: a fix, exit 0.
    let out = xtask()
        .args(["report", "diff"])
        .args([&changed_json, &whole_json])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("fixes (1):\n"));

    // The same shard twice is refused.
    let out = xtask()
        .args(["report", "merge"])
        .args([&shard_files[0], &shard_files[0]])
        .arg("--out")
        .arg(tmp.path().join("twice"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give each shard once"));
}

#[test]
fn an_adapter_whose_command_cannot_start_is_one_setup_error() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = tmp.path().join("broken.toml");
    std::fs::write(
        &manifest,
        "name = \"broken\"\ncommand = [\"/nonexistent/run-scenario\", \"{id}\", \"{method}\"]\nprofile = \"3.14\"\nidentity = \"broken\"\n",
    )
    .unwrap();
    let invalid = tmp.path().join("invalid.toml");
    std::fs::write(&invalid, "name = \"invalid\"\ncommand = \n").unwrap();
    let dir = tmp.path().join("reports");
    let out = xtask()
        .args(["matrix", "--scenario", "exitcode-*", "--impl"])
        .arg(&manifest)
        .arg("--impl")
        .arg(&invalid)
        .arg("--report-dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert_eq!(
        stderr
            .matches("cannot start `/nonexistent/run-scenario`")
            .count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("invalid adapter manifest").count(),
        1,
        "{stderr}"
    );
    let file = read(&dir.join("results.json"));
    let results = file["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results
        .iter()
        .all(|r| r["scenario"] == "(setup)" && r["outcome"] == "error"));
    assert!(stdout.contains("SET-UP ERRORS"), "{stdout}");
}

#[test]
fn bad_usage_is_exit_2_and_usage_says_cargo_xtask() {
    let out = xtask().args(["matrix", "--shard", "4/3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = xtask()
        .args(["matrix", "--impl", "nothing-of-the-kind"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = xtask().arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: cargo xtask"));
}

#[test]
fn a_closed_stdout_is_no_panic() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("list")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_drop_in_replacement_s_manifest_given_by_a_relative_path_runs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reports");
    // Relative to the xtask crate's directory, where this runs.
    let manifest = "../conformance/tests/fixtures/dropin/mp_reexport.toml";
    let out = xtask()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "matrix",
            "--scenario",
            "current-process-main",
            "--impl",
            manifest,
        ])
        .arg("--report-dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let results = read(&dir.join("results.json"));
    let runs = results["results"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "{results}");
    for r in runs {
        assert_eq!(r["outcome"], "pass", "{r}");
        assert_eq!(
            r["identity"], "main mp_reexport, children mp_reexport",
            "{r}"
        );
    }
}

#[test]
fn a_missing_manifest_is_a_usage_error_that_says_so() {
    let out = xtask()
        .args(["matrix", "--impl", "no/such/impl.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no/such/impl.toml: there is no adapter manifest at this path"),
        "{stderr}"
    );
}
