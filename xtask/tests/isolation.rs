//! `cargo xtask matrix` run in a fixture workspace (conformance/tests/fixtures, with a
//! `[workspace]` Cargo.toml): the workspace is the one found from the current directory, each run
//! has its own /dev/shm at any --jobs, Ctrl-C leaves nothing behind, `--skip` and
//! `--timeout-factor` work.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

/// A workspace holding the fixture scenarios, in a temporary directory.
fn fixture_workspace() -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/tests/fixtures");
    copy_dir(&fixtures, &ws.path().join("scenarios"));
    std::fs::write(ws.path().join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    ws
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `xtask matrix` with the fixture adapter, run from `dir`, reports in `<ws>/out`.
fn matrix(ws: &Path, dir: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(dir)
        .args(["matrix", "--impl"])
        .arg(ws.join("scenarios/adapter.toml"))
        .arg("--report-dir")
        .arg(ws.join("out"))
        .args(extra)
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap()
}

fn results(ws: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(ws.join("out/results.json")).unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    file["results"].as_array().unwrap().clone()
}

fn find<'a>(records: &'a [Value], scenario: &str, method: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["scenario"] == scenario && r["start_method"] == method)
        .unwrap_or_else(|| panic!("no record {scenario} {method} in {records:#?}"))
}

/// A /dev/shm entry of someone else's, there while the matrix runs.
struct Bystander(PathBuf);

impl Bystander {
    fn new(tag: &str) -> Bystander {
        let path = PathBuf::from(format!(
            "/dev/shm/xtask-bystander-{tag}-{}",
            std::process::id()
        ));
        std::fs::write(&path, "not the matrix's").unwrap();
        Bystander(path)
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn at_two_jobs_each_run_is_blamed_for_its_own_segments_in_every_report_and_nothing_else_is_removed()
{
    if let Err(e) = conformance::leak::namespace_available() {
        eprintln!("skipped: no private /dev/shm can be made here ({e})");
        return;
    }
    let ws = fixture_workspace();
    let bystander = Bystander::new("ns");
    let out = matrix(
        ws.path(),
        ws.path(),
        &[
            "--scenario",
            "leaves-shm",
            "--scenario",
            "good",
            "--jobs",
            "2",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        bystander.0.exists(),
        "the matrix removed another program's entry"
    );
    let records = results(ws.path());
    assert!(
        records.iter().all(|r| r["scenario"] != "(dev-shm)"),
        "{records:#?}"
    );
    for method in ["fork", "spawn", "forkserver"] {
        let leak = find(&records, "leaves-shm", method);
        assert_eq!(leak["outcome"], "leak");
        assert_eq!(leak["shm_isolation"], "namespace");
        let stray = leak["stray_shm"].as_array().unwrap();
        assert_eq!(stray.len(), 1, "{leak:#}");
        let own = format!("/dev/shm/conformance-fixture-{method}-");
        assert!(stray[0].as_str().unwrap().starts_with(&own), "{leak:#}");
        let good = find(&records, "good", method);
        assert_eq!(good["outcome"], "pass");
        assert!(good.get("stray_shm").is_none(), "{good:#}");
        // Every report names it: the terminal, junit.xml, report.html.
        let name = stray[0].as_str().unwrap();
        assert!(
            stdout.contains(&format!(
                "left in /dev/shm (removed; found by namespace): {name}"
            )),
            "{stdout}"
        );
        let junit = std::fs::read_to_string(ws.path().join("out/junit.xml")).unwrap();
        assert!(
            junit.contains(&format!("name=\"stray_shm\" value=\"{name}\"")),
            "{junit}"
        );
        let html = std::fs::read_to_string(ws.path().join("out/report.html")).unwrap();
        assert!(html.contains(name), "report.html lacks {name}");
    }
    assert!(
        stdout.contains("left in /dev/shm (removed): 3 entries by 3 runs"),
        "{stdout}"
    );
}

#[test]
fn forced_snapshots_at_two_jobs_check_once_around_the_whole_run_and_say_so() {
    let ws = fixture_workspace();
    // A shared-memory directory of the test's own, given to the fixture programs and to the
    // matrix: other programs snapshot and clean the machine's /dev/shm too.
    let shm = ws.path().join("shm");
    std::fs::create_dir(&shm).unwrap();
    let before = shm.join("there-before");
    std::fs::write(&before, "not the matrix's").unwrap();
    std::fs::write(
        ws.path().join("scenarios/adapter.toml"),
        format!(
            "name = \"fixture-sh\"\ncommand = [\"/bin/sh\", \"{{scenarios}}/sh/{{id_underscore}}.sh\", \
             \"{{method}}\", \"{}\"]\nidentity = \"fixture-sh\"\nprofile = \"3.14\"\n",
            shm.display()
        ),
    )
    .unwrap();
    let out = matrix(
        ws.path(),
        ws.path(),
        &[
            "--scenario",
            "leaves-shm",
            "--jobs",
            "2",
            "--shm-isolation",
            "snapshot",
            "--shm-dir",
            shm.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        before.exists(),
        "the matrix removed an entry that was there before it"
    );
    let records = results(ws.path());
    for method in ["fork", "spawn", "forkserver"] {
        let r = find(&records, "leaves-shm", method);
        assert_eq!(r["shm_isolation"], "whole-run", "{r:#}");
        assert_eq!(r["outcome"], "pass", "{r:#}");
    }
    let whole = find(&records, "(dev-shm)", "(all)");
    assert_eq!(whole["outcome"], "leak");
    let message = whole["message"].as_str().unwrap();
    for method in ["fork", "spawn", "forkserver"] {
        assert!(
            message.contains(&format!("/shm/conformance-fixture-{method}-")),
            "{message}"
        );
    }
}

#[test]
fn skip_and_timeout_factor() {
    let ws = fixture_workspace();
    let out = matrix(
        ws.path(),
        ws.path(),
        &[
            "--scenario",
            "hangs",
            "--scenario",
            "good",
            "--skip",
            "hangs@spawn",
            "--skip",
            "hangs@fork*",
            "--skip",
            "g*@fork",
            "--timeout-factor",
            "1.5",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let records = results(ws.path());
    for (scenario, method, pattern) in [
        ("hangs", "spawn", "hangs@spawn"),
        ("hangs", "fork", "hangs@fork*"),
        ("good", "fork", "g*@fork"),
    ] {
        let r = find(&records, scenario, method);
        assert_eq!(r["outcome"], "skip", "{r:#}");
        assert_eq!(r["message"], format!("skipped by --skip {pattern}"));
    }
    // hangs@fork* matched forkserver too; good ran with spawn and forkserver.
    assert_eq!(find(&records, "hangs", "forkserver")["outcome"], "skip");
    assert_eq!(find(&records, "good", "spawn")["outcome"], "pass");

    // The factor scales the 1 s timeout; the run ended by SIGTERM.
    let out = matrix(
        ws.path(),
        ws.path(),
        &[
            "--scenario",
            "hangs",
            "--start-method",
            "fork",
            "--timeout-factor",
            "2.5",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let r = find(&results(ws.path()), "hangs", "fork").clone();
    assert_eq!(r["outcome"], "timeout");
    assert!(
        r["message"].as_str().unwrap().contains("timeout of 2.5s"),
        "{r:#}"
    );
    assert!(r["seconds"].as_f64().unwrap() >= 2.5, "{r:#}");
    assert_eq!(r["ended_by"], "SIGTERM");

    for bad in ["0", "-1", "x"] {
        let out = matrix(ws.path(), ws.path(), &["--timeout-factor", bad]);
        assert_eq!(out.status.code(), Some(2), "--timeout-factor {bad}");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["matrix", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for option in [
        "--skip <GLOB>",
        "--timeout-factor <F>",
        "--shm-isolation <MODE>",
        "130",
    ] {
        assert!(help.contains(option), "{option} not in:\n{help}");
    }
}

#[test]
fn the_workspace_is_the_one_around_the_current_directory() {
    // From a subdirectory of the fixture workspace: its scenarios, not this checkout's.
    let ws = fixture_workspace();
    let out = matrix(
        ws.path(),
        &ws.path().join("scenarios/sh"),
        &["--scenario", "good"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let records = results(ws.path());
    assert_eq!(records.len(), 3, "{records:#?}");
    // Outside any workspace: a usage error that says where to run it.
    let nowhere = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(nowhere.path())
        .arg("list")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no Cargo.toml with a [workspace] table"),
        "{stderr}"
    );
}

/// The pids of the processes whose working directory is under `dir` (`true`: a run's), and of
/// the other children of `parent` (the namespaces' keepers).
fn processes_of(dir: &Path, parent: u32) -> Vec<(i32, bool)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let under = std::fs::read_link(entry.path().join("cwd")).is_ok_and(|c| c.starts_with(dir));
        let child = std::fs::read_to_string(entry.path().join("stat")).is_ok_and(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                == Some(parent)
        });
        if under || child {
            out.push((pid, under));
        }
    }
    out
}

fn is_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => matches!(
            stat.rsplit_once(')')
                .and_then(|(_, r)| r.trim_start().chars().next()),
            Some('Z' | 'X')
        ),
    }
}

#[test]
fn ctrl_c_ends_every_session_and_leaves_no_process_and_no_temporary_directory() {
    let ws = fixture_workspace();
    let tmp = ws.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(ws.path())
        .env("TMPDIR", &tmp)
        .args(["matrix", "--impl"])
        .arg(ws.path().join("scenarios/adapter.toml"))
        .args([
            "--scenario",
            "hangs",
            "--jobs",
            "2",
            "--timeout-factor",
            "60",
        ])
        .arg("--report-dir")
        .arg(ws.path().join("out"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until both runs have their program and its sleep going (and, where runs have a
    // private /dev/shm, its keeper: a child of the matrix).
    let deadline = Instant::now() + Duration::from_secs(60);
    let running = loop {
        let running = processes_of(&tmp, child.id());
        let sessions = running.iter().filter(|p| p.1).count();
        if sessions >= 4 || Instant::now() > deadline {
            break running;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let sessions = running.iter().filter(|p| p.1).count();
    assert!(sessions >= 4, "the runs did not start: {running:?}");
    nix_kill(child.id() as i32, 2);
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted (SIGINT)"), "{stderr}");
    for (pid, _) in running {
        assert!(is_gone(pid), "process {pid} outlived the matrix");
    }
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "temporary directories left: {left:?}");
    assert!(
        !ws.path().join("out/results.json").exists(),
        "an interrupted matrix wrote a report"
    );
}

fn nix_kill(pid: i32, signal: i32) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}
