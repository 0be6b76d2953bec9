//! The suite runs the fixture catalog in parallel and reports every outcome.

mod common;

use common::{fixtures, serial};
use conformance::{Outcome, RunOptions, Selection, ShmIsolation, StartMethod, Suite, SuiteError};

fn suite() -> Suite {
    Suite::load(fixtures()).expect("the fixture suite loads")
}

#[test]
fn the_whole_fixture_catalog_in_parallel() {
    if !common::namespaces() {
        return;
    }
    let _g = serial();
    let report = suite()
        .run(&[common::adapter()], &Selection::all(), 2)
        .expect("the plan is valid");
    let outcomes: String = report
        .results
        .iter()
        .map(|r| format!("{:<16} {:<10} {}\n", r.scenario, r.start_method, r.outcome))
        .collect();
    insta::assert_snapshot!(outcomes);
    assert!(!report.ok());
    // Each run has its own /dev/shm: each leaves-shm run is blamed for its own entry and for
    // nothing else, although the three overlapped.
    assert!(report.stray_shm.is_empty(), "{report}");
    for r in &report.results {
        let own = format!("/dev/shm/conformance-fixture-{}-", r.start_method);
        let names: Vec<String> = r
            .stray_shm
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        if r.scenario == "leaves-shm" {
            assert_eq!(r.shm_isolation, ShmIsolation::Namespace);
            assert!(names.len() == 1 && names[0].starts_with(&own), "{names:?}");
        } else {
            assert!(names.is_empty(), "{}: {names:?}", r.scenario);
        }
    }
    let text = report.to_string();
    assert!(
        text.contains("== fixture-sh wrong-exit fork: fail"),
        "{text}"
    );
    assert_eq!(
        report.summary(),
        "22 pass, 9 fail, 5 skip, 9 timeout, 9 leak, 3 error"
    );
}

#[test]
fn one_job_attributes_shm_leaks_to_their_run() {
    let _g = serial();
    let report = suite()
        .run(
            &[common::adapter()],
            &Selection::scenarios(["good", "leaves-shm"]).with_methods(&[StartMethod::Spawn]),
            1,
        )
        .expect("the plan is valid");
    let outcomes: Vec<_> = report.results.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Pass, Outcome::Leak], "{report}");
    assert!(report.stray_shm.is_empty());
    assert_eq!(report.summary(), "1 pass, 1 leak");
}

/// A `/dev/shm` entry of someone else's, made while the suite runs.
struct Bystander(std::path::PathBuf);

impl Bystander {
    fn new() -> Bystander {
        let path = format!("/dev/shm/conformance-bystander-{}", std::process::id());
        std::fs::write(&path, "not the suite's").unwrap();
        Bystander(path.into())
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn parallel_runs_that_leave_segments_are_each_blamed_for_their_own_and_nothing_else_is_removed() {
    if !common::namespaces() {
        return;
    }
    let _g = serial();
    let bystander = Bystander::new();
    let report = suite()
        .run(
            &[common::adapter()],
            &Selection::scenarios(["leaves-shm", "good"]),
            2,
        )
        .unwrap();
    assert!(
        bystander.0.exists(),
        "the suite removed another program's entry"
    );
    for r in &report.results {
        assert_eq!(r.shm_isolation, ShmIsolation::Namespace);
        if r.scenario == "leaves-shm" {
            assert_eq!(r.outcome, Outcome::Leak, "{}", r.message);
            let own = format!("/dev/shm/conformance-fixture-{}-", r.start_method);
            assert_eq!(r.stray_shm.len(), 1, "{:?}", r.stray_shm);
            assert!(r.stray_shm[0].display().to_string().starts_with(&own));
            assert!(r.message.contains(&own), "{}", r.message);
            // Removed from the run's own tmpfs; never on the machine's.
            assert!(!r.stray_shm[0].exists());
        } else {
            assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
            assert!(r.stray_shm.is_empty());
        }
    }
    assert!(report.stray_shm.is_empty());
}

#[rstest::rstest]
#[case::one_job(1, ShmIsolation::Snapshot)]
#[case::two_jobs(2, ShmIsolation::WholeRun)]
fn without_a_namespace_the_machines_dev_shm_is_snapshot_and_labelled_so(
    #[case] jobs: usize,
    #[case] label: ShmIsolation,
) {
    let _g = serial();
    // A shared-memory directory of the test's own: the machine's /dev/shm is snapshot by other
    // programs too, which may remove what the test's runs leave (and the test theirs).
    let shm = tempfile::tempdir().unwrap();
    let mut adapter = common::adapter();
    adapter.command.push(shm.path().display().to_string());
    let mut s = suite();
    s.runner.options = RunOptions {
        shm_isolation: ShmIsolation::Snapshot,
        shm_dir: shm.path().to_path_buf(),
        ..RunOptions::default()
    };
    let report = s
        .run(
            &[adapter],
            &Selection::scenarios(["leaves-shm"])
                .with_methods(&[StartMethod::Fork, StartMethod::Spawn]),
            jobs,
        )
        .unwrap();
    assert!(
        report.results.iter().all(|r| r.shm_isolation == label),
        "{report}"
    );
    let ours = |paths: &[std::path::PathBuf]| {
        paths
            .iter()
            .filter(|p| p.to_string_lossy().contains("/conformance-fixture-"))
            .count()
    };
    if jobs == 1 {
        // One at a time, the snapshot pins each entry on its run.
        for r in &report.results {
            assert_eq!(r.outcome, Outcome::Leak, "{}", r.message);
            assert_eq!(ours(&r.stray_shm), 1, "{:?}", r.stray_shm);
        }
    } else {
        // Overlapping runs: the entries are found once, around the whole run, and removed.
        assert_eq!(ours(&report.stray_shm), 2, "{report}");
        assert!(report.to_string().contains("re-run with one job"));
    }
    for p in report
        .stray_shm
        .iter()
        .chain(report.results.iter().flat_map(|r| &r.stray_shm))
    {
        assert!(!p.exists(), "{p:?} was not removed");
    }
}

#[test]
fn a_selection_naming_an_unknown_scenario_is_an_error() {
    let err = suite()
        .run(&[common::adapter()], &Selection::scenarios(["nope"]), 1)
        .unwrap_err();
    assert!(matches!(err, SuiteError::UnknownScenario { .. }));
    let msg = common::redact(&err.to_string());
    insta::assert_snapshot!(msg, @r#"[fixtures]/catalog.toml: no scenario "nope": check the selection against the catalog's ids"#);
}

#[test]
fn a_deviation_for_an_unknown_scenario_is_an_error() {
    let a =
        common::adapter().with_deviation(conformance::Deviation::new("renamed-away", "FIX-1", "r"));
    let err = suite().run(&[a], &Selection::all(), 1).unwrap_err();
    let msg = common::redact(&err.to_string());
    insta::assert_snapshot!(msg, @r#"adapter fixture-sh: deviation for unknown scenario "renamed-away" (not in [fixtures]/catalog.toml): fix or remove the [[deviation]] entry"#);
}

#[test]
fn the_plan_is_adapter_then_catalog_then_method_order() {
    let s = suite();
    let adapters = [common::adapter()];
    let plan = s
        .plan(&adapters, &Selection::scenarios(["hangs", "good"]))
        .unwrap();
    let got: Vec<String> = plan
        .iter()
        .map(|j| format!("{} {}", j.scenario.id, j.method))
        .collect();
    assert_eq!(
        got,
        [
            "hangs fork",
            "hangs spawn",
            "hangs forkserver",
            "good fork",
            "good spawn",
            "good forkserver"
        ]
    );
}

#[test]
fn the_report_table_lists_every_run() {
    let _g = serial();
    let report = suite()
        .run(
            &[common::adapter()],
            &Selection::scenarios(["fork-only"]),
            1,
        )
        .unwrap();
    assert!(report.ok(), "{report}");
    let table = report.table();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["implementation", "scenario", "method", "outcome", "seconds"]
    );
    assert_eq!(rows[1][..4], ["fixture-sh", "fork-only", "fork", "pass"]);
    assert_eq!(rows[2][..4], ["fixture-sh", "fork-only", "spawn", "skip"]);
    assert_eq!(
        rows[3][..4],
        ["fixture-sh", "fork-only", "forkserver", "skip"]
    );
}

#[test]
fn expected_files_are_checked_against_the_catalog() {
    let s = suite();
    let missing: Vec<String> = s
        .missing_expected_files()
        .iter()
        .map(|p| common::redact(&p.display().to_string()))
        .collect();
    assert_eq!(missing, ["[fixtures]/expected/no-expected.snap"]);
    assert_eq!(s.stray_expected_files(), Vec::<std::path::PathBuf>::new());

    // A scenario that became per-method leaves its old file stray.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.snap"), "exit: 0\n").unwrap();
    std::fs::write(dir.path().join("b@fork.snap"), "exit: 0\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a snapshot").unwrap();
    let catalog = conformance::Catalog::parse(
        "[[scenario]]\nid = \"a\"\nclauses = [\"A-1\"]\nstatement = \"s\"\nper_method = true\nmethods = [\"fork\"]\n",
        "c.toml",
    )
    .unwrap();
    let s = Suite::new(catalog, conformance::Runner::new(dir.path(), dir.path()));
    let names = |v: Vec<std::path::PathBuf>| -> Vec<String> {
        v.iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(s.stray_expected_files()), ["a.snap", "b@fork.snap"]);
    assert_eq!(names(s.missing_expected_files()), ["a@fork.snap"]);
}
