//! Honest deviations and capabilities: a deviation excuses the failure it declares and no other,
//! a leak or a timeout can be declared, clauses are checked against the specification, an
//! optional API an implementation lacks skips the scenarios that need it, and a run's unexpected
//! results can be drafted as entries.

mod common;

use common::{fixtures, run_with, serial};
use conformance::{
    Adapter, DeviantOutcome, Deviation, DeviationKind, Outcome, Selection, StartMethod, Suite,
    SuiteError,
};

use StartMethod::{Fork, Forkserver, Spawn};

fn suite() -> Suite {
    Suite::load(fixtures()).expect("the fixture suite loads")
}

fn with(d: Deviation) -> Adapter {
    common::adapter().with_deviation(d)
}

const EXTRA_LINE_TRACE: [&str; 4] = ["start P1", "child P2 of P1", "done P1 N", "one line *"];

#[test]
fn a_pinned_deviation_that_happens_is_xfail() {
    let _g = serial();
    let d = Deviation::new("extra-line", "FIX-3", "prints a debugging line")
        .with_lines(EXTRA_LINE_TRACE);
    let r = run_with(&with(d), "extra-line", Spawn);
    assert_eq!(r.outcome, Outcome::Xfail, "{}", r.message);
    assert!(
        r.message
            .starts_with("listed as a deviation from FIX-3 in fixture-sh"),
        "{}",
        r.message
    );
}

#[test]
fn a_pinned_deviation_with_another_failure_fails() {
    let _g = serial();
    // The trace pinned is not the one printed: another failure, not the one declared.
    let d = Deviation::new("extra-line", "FIX-3", "prints a debugging line").with_lines([
        "start P1",
        "child P2 of P1",
        "done P1 N",
        "another line",
    ]);
    let r = run_with(&with(d), "extra-line", Spawn);
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    assert!(r.message.contains("another failure"), "{}", r.message);
    assert!(r.message.contains("    another line"), "{}", r.message);
    // The exit status pinned is not the one it has.
    let mut d = Deviation::new("wrong-exit", "FIX-2", "exits 3");
    d.exit = Some(4);
    let r = run_with(&with(d.clone()), "wrong-exit", Fork);
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    d.exit = Some(3);
    let r = run_with(&with(d), "wrong-exit", Fork);
    assert_eq!(r.outcome, Outcome::Xfail, "{}", r.message);
    // A deviation pinned to fail does not excuse a timeout.
    let d = Deviation::new("hangs", "FIX-5", "r").with_outcome(DeviantOutcome::Fail);
    let r = run_with(&with(d), "hangs", Fork);
    assert_eq!(r.outcome, Outcome::Timeout, "{}", r.message);
}

#[test]
fn a_declared_leak_is_xfail_and_an_undeclared_one_stays_a_leak() {
    let _g = serial();
    let plain = Deviation::new("leaves-child", "FIX-4", "its helper outlives it");
    let r = run_with(&with(plain.clone()), "leaves-child", Fork);
    assert_eq!(r.outcome, Outcome::Leak, "{}", r.message);
    assert!(r.message.contains("outcome = \"leak\""), "{}", r.message);
    let r = run_with(
        &with(plain.with_outcome(DeviantOutcome::Leak)),
        "leaves-child",
        Fork,
    );
    assert_eq!(r.outcome, Outcome::Xfail, "{}", r.message);
    // What it left was killed all the same.
    assert!(r.message.contains("killed"), "{}", r.message);
}

#[test]
fn a_declared_timeout_is_xfail() {
    let _g = serial();
    let d = Deviation::new("hangs", "FIX-5", "waits for ever by design")
        .with_outcome(DeviantOutcome::Timeout);
    let r = run_with(&with(d), "hangs", Spawn);
    assert_eq!(r.outcome, Outcome::Xfail, "{}", r.message);
}

#[test]
fn a_deviation_names_a_list_of_methods_and_its_kind_shows() {
    let _g = serial();
    let d = Deviation::new("extra-line", "FIX-3", "r")
        .with_methods(&[Fork, Forkserver])
        .with_kind(DeviationKind::ImplementationDefined);
    let a = with(d);
    let r = run_with(&a, "extra-line", Forkserver);
    assert_eq!(r.outcome, Outcome::Xfail, "{}", r.message);
    assert!(
        r.message
            .starts_with("listed as a deviation (implementation-defined) from FIX-3"),
        "{}",
        r.message
    );
    assert_eq!(run_with(&a, "extra-line", Spawn).outcome, Outcome::Fail);
}

#[test]
fn a_not_applicable_scenario_is_skipped_with_its_reason() {
    let _g = serial();
    let d = Deviation::new("extra-line", "FIX-3", "it has no such thing")
        .with_kind(DeviationKind::NotApplicable);
    let r = run_with(&with(d), "extra-line", Fork);
    assert_eq!(r.outcome, Outcome::Skip, "{}", r.message);
    assert_eq!(
        r.message,
        "not applicable to fixture-sh (FIX-3): it has no such thing"
    );
}

#[test]
fn a_lacked_capability_skips_the_scenarios_that_need_it_with_the_reason() {
    let _g = serial();
    let mut a = common::adapter();
    a.lacks = vec!["shared_memory".into()];
    let report = suite()
        .run(
            &[a],
            &Selection::scenarios(["leaves-shm", "good"]).with_methods(&[Spawn]),
            1,
        )
        .unwrap();
    let got: Vec<_> = report
        .results
        .iter()
        .map(|r| (r.scenario.as_str(), r.outcome, r.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "leaves-shm",
                Outcome::Skip,
                "fixture-sh lacks shared_memory, which the scenario needs (`lacks` in its manifest)"
            ),
            ("good", Outcome::Pass, ""),
        ]
    );
}

#[test]
fn lacks_reads_from_a_manifest_and_an_unknown_capability_is_an_error() {
    let a = Adapter::parse(
        "name = \"m\"\ncommand = [\"x\"]\nidentity = \"m\"\nprofile = \"3.14\"\nlacks = [\"sharde_memory\"]\n",
        "m.toml",
    )
    .unwrap();
    assert_eq!(a.lacks, ["sharde_memory"]);
    let err = suite()
        .plan(&[a], &Selection::all())
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, SuiteError::UnknownCapability { .. }), "{err}");
    let msg = common::redact(&err.to_string());
    insta::assert_snapshot!(msg, @r#"adapter m: `lacks` names "sharde_memory", which no scenario of [fixtures]/catalog.toml needs; the optional APIs are: shared_memory"#);
}

#[test]
fn a_deviation_naming_an_unknown_clause_is_rejected() {
    let a = with(Deviation::new("extra-line", "FIX-33", "r"));
    let err = suite()
        .plan(&[a], &Selection::all())
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, SuiteError::UnknownClause { .. }), "{err}");
    let msg = common::redact(&err.to_string());
    insta::assert_snapshot!(msg, @r#"adapter fixture-sh: the [[deviation]] of scenario "extra-line" names clause "FIX-33", which [fixtures]/SPEC.md does not define: name one of its clauses (the scenario checks FIX-3)"#);
}

#[test]
fn a_catalog_or_builtin_deviation_naming_an_unknown_clause_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("SPEC.md"), "- **A-1** a clause\n").unwrap();
    let catalog = |clause: &str| {
        format!("spec = \"SPEC.md\"\n[[scenario]]\nid = \"s\"\nclauses = [\"{clause}\"]\nstatement = \"x\"\n")
    };
    std::fs::write(dir.path().join("catalog.toml"), catalog("A-2")).unwrap();
    let err = Suite::load(dir.path()).unwrap_err().to_string();
    let spec = dir.path().join("SPEC.md");
    assert!(
        err.ends_with(&format!(
            "catalog.toml: scenario \"s\" names clause \"A-2\", which {} does not define: name \
             one of its clauses",
            spec.display()
        )),
        "{err}"
    );
    std::fs::write(dir.path().join("catalog.toml"), catalog("A-1")).unwrap();
    std::fs::write(
        dir.path().join("deviations.toml"),
        "[[deviation]]\nimplementation = \"pypy\"\nscenario = \"s\"\nreason = \"r\"\nclause = \"SPEC 12\"\n",
    )
    .unwrap();
    let err = Suite::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains(
            "deviations.toml: the [[deviation]] of scenario \"s\" names clause \"SPEC 12\""
        ),
        "{err}"
    );
    std::fs::remove_file(dir.path().join("SPEC.md")).unwrap();
    let err = Suite::load(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("cannot read the specification the catalog names"),
        "{err}"
    );
}

#[test]
fn unexpected_results_are_drafted_as_entries_that_then_hold() {
    let _g = serial();
    let s = suite();
    let selection = Selection::scenarios(["good", "extra-line", "wrong-exit", "leaves-child"])
        .with_methods(&[Fork, Spawn]);
    let report = s.run(&[common::adapter()], &selection, 1).unwrap();
    let draft = s_draft(&report, &s);
    insta::assert_snapshot!(draft);
    // Filled in by a person (here: a reason for each), the entries make the same run green.
    let filled = draft.replace("reason = \"\"", "reason = \"known\"");
    let manifest = format!(
        "name = \"fixture-sh\"\ncommand = [\"/bin/sh\", \"{{scenarios}}/sh/{{id_underscore}}.sh\", \"{{method}}\"]\nidentity = \"fixture-sh\"\nprofile = \"3.14\"\n{filled}"
    );
    let a = Adapter::parse(&manifest, "drafted.toml").unwrap();
    let report = s.run(&[a], &selection, 1).unwrap();
    assert!(report.ok(), "{report}");
    assert_eq!(report.count(Outcome::Xfail), 6, "{report}");
}

fn s_draft(report: &conformance::Report, s: &Suite) -> String {
    report.draft_deviations(&s.catalog)
}

#[test]
fn a_need_is_a_snake_case_api_name() {
    let err = conformance::Catalog::parse(
        "[[scenario]]\nid = \"s\"\nclauses = [\"A-1\"]\nstatement = \"x\"\nneeds = [\"Parent-Process\"]\n",
        "catalog.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("key `needs`: \"Parent-Process\" is not an API name"),
        "{err}"
    );
    let c = conformance::Catalog::parse(
        "[[scenario]]\nid = \"s\"\nclauses = [\"A-1\"]\nstatement = \"x\"\nneeds = [\"parent_process\"]\n",
        "catalog.toml",
    )
    .unwrap();
    assert_eq!(c.capabilities(), ["parent_process"]);
}
