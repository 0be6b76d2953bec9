//! `cargo xtask mutants`: broken variants of CPython's `multiprocessing`, run through the
//! drop-in mechanism, are each caught by some scenario; a mutant nothing catches is reported as
//! a hole, with exit status 1.
//!
//! The first test runs a subset whose scenarios are quick (the whole set takes minutes on two
//! cores: `cargo xtask mutants`); `MUTANTS_ALL=1` runs them all.

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;

/// Mutants of every kind (a method, a property, the exit function, an API's flag, a
/// reaping side effect) whose scenarios take a second or two each.
const QUICK: &[&str] = &[
    "join_returns_early",
    "sys_exit_reported_as_zero",
    "is_alive_after_join",
    "start_twice_allowed",
    "daemons_not_terminated_at_exit",
    "nondaemons_not_joined_at_exit",
    "active_children_keeps_ended",
    "parent_process_none",
    "no_flush_before_start",
];

fn xtask() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.timeout(Duration::from_secs(1800));
    cmd
}

fn have_python3() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn every_mutant_is_killed() {
    if !have_python3() {
        eprintln!("no python3 on PATH: nothing to mutate");
        return;
    }
    let out_dir = tempfile::tempdir().unwrap();
    let mut cmd = xtask();
    cmd.args(["mutants", "--jobs", "2", "--out-dir"])
        .arg(out_dir.path());
    let quick = std::env::var_os("MUTANTS_ALL").is_none();
    if quick {
        for m in QUICK {
            cmd.args(["--mutant", m]);
        }
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if quick {
        let n = QUICK.len();
        assert!(
            stdout.contains(&format!("\n{n} of {n} mutants killed")),
            "{stdout}"
        );
    }
    // Each kill names its scenarios; the manifests are left to re-run one.
    assert!(
        stdout.contains(
            "killed    join_returns_early: by join-means-ended (fork, spawn, forkserver)"
        ),
        "{stdout}"
    );
    assert!(out_dir.path().join("join_returns_early.toml").is_file());
}

/// A directory with the repository's control and helper, and `mutants` (name, source).
fn mutants_dir(mutants: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/mutants");
    for helper in ["_stdlib.py", "unmutated.py"] {
        std::fs::copy(ours.join(helper), dir.path().join(helper)).unwrap();
    }
    for (name, source) in mutants {
        std::fs::write(dir.path().join(format!("{name}.py")), source).unwrap();
    }
    dir
}

#[test]
fn a_surviving_mutant_is_a_hole_and_a_broken_one_is_not_a_kill() {
    if !have_python3() {
        eprintln!("no python3 on PATH: nothing to mutate");
        return;
    }
    let dir = mutants_dir(&[
        (
            "harmless",
            "\"\"\"Nothing is broken; LIFE-1 cannot catch it.\"\"\"\nfrom _stdlib import reexport\n\nreexport(globals())\n",
        ),
        (
            "does_not_import",
            "\"\"\"It raises on import; LIFE-1 fails, but that is no kill.\"\"\"\nraise ImportError('broken on purpose')\n",
        ),
        (
            "too_new",
            "\"\"\"For a Python to come; LIFE-1.\"\"\"\n# requires: >=99\nfrom _stdlib import reexport\n\nreexport(globals())\n",
        ),
    ]);
    let out_dir = tempfile::tempdir().unwrap();
    let out = xtask()
        .args(["mutants", "--jobs", "2", "--dir"])
        .arg(dir.path())
        .arg("--out-dir")
        .arg(out_dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("SURVIVED  harmless: 3 runs of exitcode-return passed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ERROR     does_not_import: not judged"),
        "{stdout}"
    );
    assert!(
        stdout.contains("n/a       too_new: requires Python >=99"),
        "{stdout}"
    );
    assert!(
        stdout.contains("0 of 2 mutants killed (1 not applicable to cpython-")
            && stdout.contains("holes: does_not_import, harmless"),
        "{stdout}"
    );
}
