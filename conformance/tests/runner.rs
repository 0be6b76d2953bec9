//! The runner catches each kind of misbehaviour of the fixture programs (tests/fixtures/sh).

mod common;

use common::{is_dead, pid_after, redact, run, run_with, serial};
use conformance::{Adapter, Deviation, Expected, Outcome, StartMethod};
use rstest::rstest;

use StartMethod::{Fork, Forkserver, Spawn};

#[test]
fn a_correct_program_passes_with_its_normalized_trace() {
    let _g = serial();
    let r = run("good", Spawn);
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    assert_eq!(r.message, "");
    let lines = ["start P1", "child P2 of P1", "done P1 N"]
        .map(String::from)
        .to_vec();
    assert_eq!(r.actual, Some(Expected { exit: 0, lines }));
    assert_eq!(r.actual, r.expected);
    assert_eq!(
        (r.scenario.as_str(), r.implementation.as_str()),
        ("good", "fixture-sh")
    );
    assert_eq!(r.start_method, Spawn);
    assert!(r.seconds > 0.0);
}

#[rstest]
fn the_program_runs_in_a_fresh_empty_temporary_directory(
    #[values(
        conformance::ShmIsolation::Namespace,
        conformance::ShmIsolation::Snapshot
    )]
    isolation: conformance::ShmIsolation,
) {
    let _g = serial();
    let catalog = common::catalog();
    // A snapshot of a directory of the test's own: the machine's /dev/shm is other programs'.
    let shm = tempfile::tempdir().unwrap();
    let runner = common::runner().with_options(conformance::RunOptions {
        shm_isolation: isolation,
        shm_dir: shm.path().to_path_buf(),
        ..Default::default()
    });
    let r = runner.run(
        &common::adapter(),
        catalog.get("in-temp-dir").unwrap(),
        Fork,
    );
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    assert_eq!(r.shm_isolation, isolation);
}

#[test]
fn a_wrong_exit_status_fails_showing_both_outcomes() {
    let _g = serial();
    let r = run("wrong-exit", Fork);
    assert_eq!(r.outcome, Outcome::Fail);
    assert_eq!(r.actual.as_ref().map(|a| a.exit), Some(3));
    insta::assert_snapshot!(redact(&r.message));
}

#[test]
fn an_extra_line_fails_with_a_diff_and_both_traces() {
    let _g = serial();
    let r = run("extra-line", Fork);
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(r.message.contains("+ one line too many"), "{}", r.message);
    assert!(
        r.message.contains("expected:\n    exit: 0"),
        "{}",
        r.message
    );
    assert!(r.message.contains("actual:\n    exit: 0"), "{}", r.message);
    insta::assert_snapshot!(redact(&r.message));
}

#[test]
fn a_child_left_in_the_session_is_a_leak_and_is_killed() {
    let _g = serial();
    let r = run("leaves-child", Fork);
    assert_eq!(r.outcome, Outcome::Leak, "{}", r.message);
    assert!(
        r.message.contains("(sleep) was still running"),
        "{}",
        r.message
    );
    let pid = pid_after(&r.message, "process ");
    assert!(is_dead(pid), "the leaked sleep {pid} is still alive");
    // The trace itself was right: the leak alone makes it fail.
    assert_eq!(r.actual, r.expected);
}

#[test]
fn a_child_that_escaped_the_session_but_holds_stdout_is_a_leak_and_is_killed() {
    let _g = serial();
    let r = run("escapes-session", Fork);
    assert_eq!(r.outcome, Outcome::Leak, "{}", r.message);
    assert!(
        r.message.contains("left the scenario's session"),
        "{}",
        r.message
    );
    let pid = pid_after(&r.message, "process ");
    assert!(is_dead(pid), "the escaped sleep {pid} is still alive");
}

#[test]
fn a_helper_that_exits_within_the_grace_period_is_no_leak() {
    let _g = serial();
    let r = run("slow-exit", Forkserver);
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
}

#[test]
fn a_hanging_program_times_out_and_its_session_is_killed() {
    let _g = serial();
    let r = run("hangs", Spawn);
    assert_eq!(r.outcome, Outcome::Timeout, "{}", r.message);
    assert!(r.message.contains("timeout of 1s"), "{}", r.message);
    assert!(r.seconds >= 1.0 && r.seconds < 10.0, "{}", r.seconds);
    assert_eq!(r.actual, None);
    let pid = pid_after(&r.message, "sleeper ");
    assert!(
        is_dead(pid),
        "the hanging program's sleep {pid} is still alive"
    );
}

#[test]
fn a_timeout_gets_sigterm_first_and_sigkill_only_when_that_is_not_enough() {
    let _g = serial();
    // SIGTERM is enough for a plain program: it ends there.
    let r = run("hangs", Spawn);
    assert_eq!(r.outcome, Outcome::Timeout, "{}", r.message);
    assert_eq!(r.ended_by.as_deref(), Some("SIGTERM"), "{}", r.message);
    assert!(
        r.message.contains("SIGTERM to its 2 processes ended them"),
        "{}",
        r.message
    );

    // A program that ignores SIGTERM gets SIGKILL once it has settled: its sleep is dead.
    let r = run("ignores-term", Spawn);
    assert_eq!(r.outcome, Outcome::Timeout, "{}", r.message);
    assert_eq!(r.ended_by.as_deref(), Some("SIGKILL"), "{}", r.message);
    assert!(r.message.contains("then SIGKILL after"), "{}", r.message);
    let pid = pid_after(&r.message, "sleeper ");
    assert!(
        is_dead(pid),
        "the sleep {pid} that ignored SIGTERM is still alive"
    );

    // SIGTERM lets a program remove what it made, as named semaphores are: nothing is left.
    let r = run("cleans-up-on-term", Spawn);
    assert_eq!(r.outcome, Outcome::Timeout, "{}", r.message);
    assert_eq!(r.ended_by.as_deref(), Some("SIGTERM"), "{}", r.message);
    assert_eq!(
        r.stray_shm,
        Vec::<std::path::PathBuf>::new(),
        "{}",
        r.message
    );
}

#[test]
fn a_timeout_factor_scales_the_timeout() {
    let _g = serial();
    let catalog = common::catalog();
    let runner = common::runner().with_options(conformance::RunOptions {
        timeout_factor: 2.5,
        ..Default::default()
    });
    let r = runner.run(&common::adapter(), catalog.get("hangs").unwrap(), Fork);
    assert_eq!(r.outcome, Outcome::Timeout, "{}", r.message);
    assert!(r.message.contains("timeout of 2.5s"), "{}", r.message);
    assert!(r.seconds >= 2.5, "{}", r.seconds);
}

#[test]
fn a_dev_shm_entry_left_behind_is_a_leak_and_is_removed() {
    let _g = serial();
    let r = run("leaves-shm", Fork);
    assert_eq!(r.outcome, Outcome::Leak, "{}", r.message);
    let at = r
        .message
        .find("/dev/shm/conformance-fixture-")
        .expect("names the entry");
    let path: String = r.message[at..]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .into();
    assert!(
        !std::path::Path::new(&path).exists(),
        "{path} was not removed"
    );
}

#[test]
fn unordered_traces_are_sorted_then_numbered() {
    let _g = serial();
    let r = run("unordered", Fork);
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
}

#[rstest]
fn per_method_scenarios_use_their_method_file(#[values(Fork, Spawn, Forkserver)] m: StartMethod) {
    let _g = serial();
    let r = run("per-method", m);
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    assert_eq!(r.actual.map(|a| a.lines), Some(vec![format!("method {m}")]));
}

#[test]
fn stderr_contains_is_checked() {
    let _g = serial();
    let ok = run("stderr-needed", Fork);
    assert_eq!(ok.outcome, Outcome::Pass, "{}", ok.message);
    let bad = run("stderr-missing", Fork);
    assert_eq!(bad.outcome, Outcome::Fail);
    insta::assert_snapshot!(redact(&bad.message));
}

#[test]
fn a_program_killed_by_a_signal_exits_with_minus_the_signal() {
    let _g = serial();
    let r = run("killed-by-signal", Fork);
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    assert_eq!(r.actual.map(|a| a.exit), Some(-9));
}

#[rstest]
#[case::method_not_listed("fork-only", Spawn, "does not apply to start method spawn")]
#[case::profile_outside_range(
    "future-python",
    Fork,
    "describes Python >=3.15; fixture-sh claims profile 3.14"
)]
fn scenarios_that_do_not_apply_are_skipped(
    #[case] id: &str,
    #[case] m: StartMethod,
    #[case] reason: &str,
) {
    let r = run(id, m);
    assert_eq!(r.outcome, Outcome::Skip);
    assert!(r.message.contains(reason), "{}", r.message);
    assert_eq!(r.seconds, 0.0);
}

#[test]
fn an_adapter_lacking_the_method_skips() {
    let mut a = common::adapter();
    a.methods = vec![Fork, Spawn];
    let r = run_with(&a, "good", Forkserver);
    assert_eq!(r.outcome, Outcome::Skip);
    assert_eq!(r.message, "fixture-sh lacks start method forkserver");
}

#[test]
fn a_missing_expected_file_is_an_error_that_shows_the_actual_outcome() {
    let _g = serial();
    let r = run("no-expected", Fork);
    assert_eq!(r.outcome, Outcome::Error);
    insta::assert_snapshot!(redact(&r.message));
}

#[test]
fn a_program_that_cannot_start_is_an_error() {
    let _g = serial();
    let mut a = common::adapter();
    a.command = vec!["/nonexistent/interpreter".into(), "{id}".into()];
    let r = run_with(&a, "good", Fork);
    assert_eq!(r.outcome, Outcome::Error);
    assert!(
        r.message
            .starts_with("cannot start `/nonexistent/interpreter`"),
        "{}",
        r.message
    );
}

fn deviation(scenario: &str, method: Option<StartMethod>) -> Deviation {
    let d = Deviation::new(scenario, "FIX-3", "prints a debugging line");
    match method {
        Some(m) => d.with_methods(&[m]),
        None => d,
    }
}

#[test]
fn a_listed_deviation_that_fails_is_xfail() {
    let _g = serial();
    let a = common::adapter().with_deviation(deviation("extra-line", None));
    let r = run_with(&a, "extra-line", Spawn);
    assert_eq!(r.outcome, Outcome::Xfail, "{}", r.message);
    assert!(r
        .message
        .starts_with("listed as a deviation from FIX-3 in fixture-sh"));
}

#[test]
fn a_listed_deviation_that_passes_is_xpass() {
    let _g = serial();
    let a = common::adapter().with_deviation(deviation("good", Some(Fork)));
    let r = run_with(&a, "good", Fork);
    assert_eq!(r.outcome, Outcome::Xpass, "{}", r.message);
    assert!(!r.outcome.is_ok());
    assert!(
        r.message.contains("remove the [[deviation]] entry"),
        "{}",
        r.message
    );
    // The deviation names fork only: spawn is judged plainly.
    let r = run_with(&a, "good", Spawn);
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
}

#[test]
fn the_reference_adapter_runs_bin_id_method() {
    let a = Adapter::reference("/bin/echo");
    let argv = a.argv("good", Forkserver, "/x".as_ref()).unwrap();
    assert_eq!(argv, ["/bin/echo", "good", "forkserver"]);
}

#[test]
fn a_variant_is_expected_of_the_versions_it_names_and_the_main_outcome_of_the_others() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let (sh, expected) = (dir.path().join("sh"), dir.path().join("expected"));
    std::fs::create_dir_all(&sh).unwrap();
    std::fs::create_dir_all(&expected).unwrap();
    std::fs::write(
        sh.join("changed.sh"),
        "echo main fixture-sh >> \"$CONFORMANCE_IDENTITY_FILE\"\necho new behaviour\n",
    )
    .unwrap();
    let snap = |line: &str| format!("---\nsource: t\nexpression: x\n---\nexit: 0\n---\n{line}\n");
    std::fs::write(expected.join("changed.snap"), snap("new behaviour")).unwrap();
    std::fs::write(expected.join("changed+old.snap"), snap("old behaviour")).unwrap();
    let catalog = conformance::Catalog::parse(
        "[[scenario]]\nid = \"changed\"\nclauses = [\"FIX-1\"]\nstatement = \"s\"\n\
         [[scenario.variant]]\nname = \"old\"\nprofiles = \"<3.13.8 || ==3.14.0\"\n\
         note = \"before the change\"\n",
        "catalog.toml",
    )
    .unwrap();
    let runner = conformance::Runner::new(dir.path(), &expected);
    let mut adapter = common::adapter();
    for (profile, outcome, variant) in [
        ("3.14.10", Outcome::Pass, None),
        ("3.13.18", Outcome::Pass, None),
        ("3.13.0", Outcome::Fail, Some("old")),
        ("3.14", Outcome::Fail, Some("old")),
    ] {
        adapter.profile = profile.parse().unwrap();
        let r = runner.run(&adapter, catalog.get("changed").unwrap(), Spawn);
        assert_eq!(
            (r.outcome, r.variant.as_deref()),
            (outcome, variant),
            "{profile}: {}",
            r.message
        );
        if variant.is_some() {
            assert!(r.message.contains("old behaviour"), "{}", r.message);
        }
    }
}

#[test]
fn a_program_that_does_not_report_its_identity_is_an_error() {
    let _g = serial();
    let mut a = common::adapter();
    a.identity = "another".into();
    let r = run_with(&a, "good", Fork);
    assert_eq!(r.outcome, Outcome::Error, "{}", r.message);
    assert!(
        r.message.starts_with(
            "the run does not prove that fixture-sh ran: fixture-sh declares identity \
             `another`, but main process reported `fixture-sh`"
        ),
        "{}",
        r.message
    );
    let r = run("good", Fork);
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    assert_eq!(r.identity.as_deref(), Some("main fixture-sh"));
}

/// Run as root and, by `unprivileged_runs_get_their_own_dev_shm_through_a_user_namespace`, as
/// `nobody`: a run's leaked entry is found in its own /dev/shm.
#[test]
fn a_leaked_entry_is_found_in_the_runs_own_dev_shm() {
    if !common::namespaces() {
        return;
    }
    let _g = serial();
    let ns = conformance::leak::ShmNamespace::new().expect("a private /dev/shm can be made here");
    // SAFETY: geteuid cannot fail.
    let root = unsafe { nix::libc::geteuid() } == 0;
    assert_eq!(ns.has_user_namespace(), !root);
    drop(ns);
    let r = run("leaves-shm", Fork);
    assert_eq!(r.outcome, Outcome::Leak, "{}", r.message);
    assert_eq!(r.shm_isolation, conformance::ShmIsolation::Namespace);
    assert_eq!(r.stray_shm.len(), 1, "{:?}", r.stray_shm);
}

#[test]
fn unprivileged_runs_get_their_own_dev_shm_through_a_user_namespace() {
    let as_nobody = |program: &std::path::Path, args: &[&str]| {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(program)
            .args(args)
            .output()
    };
    // SAFETY: geteuid cannot fail.
    let root = unsafe { nix::libc::geteuid() } == 0;
    let userns = as_nobody("unshare".as_ref(), &["--user", "--mount", "true"]);
    if !root || !userns.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: needs root, setpriv, and unprivileged user namespaces");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = as_nobody(
        &exe,
        &["--exact", "a_leaked_entry_is_found_in_the_runs_own_dev_shm"],
    )
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "{text}");
}
