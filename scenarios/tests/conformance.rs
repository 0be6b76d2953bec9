//! The conformance suite over the real catalog: the Rust reference (this package's `scenarios`
//! binary) and CPython (`python3` on PATH) must each pass, xfail or skip every scenario.
//!
//! A catalog entry the reference binary does not implement yet fails here, as it should.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use conformance::{Adapter, Report, Selection, Suite};

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The suite, or `None` (with a printed reason) when the catalog does not exist yet.
fn suite() -> Option<Suite> {
    let dir = scenarios_dir();
    if !dir.join("catalog.toml").exists() {
        eprintln!(
            "skipped: {} does not exist yet, so there is nothing to run",
            dir.join("catalog.toml").display()
        );
        return None;
    }
    match Suite::load(&dir) {
        Ok(suite) => Some(suite),
        Err(e) => panic!("the catalog does not load: {e}"),
    }
}

/// The two suites run one after the other: each already uses every CPU, and the `/dev/shm` check
/// of a suite would see the entries of the other one.
static ONE_SUITE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn check(report: &Report, what: &str) {
    eprintln!("{what}: {}", report.summary());
    assert!(
        report.ok(),
        "{what}: not every scenario passes:\n\n{report}"
    );
}

#[test]
fn the_reference_conforms() {
    let Some(suite) = suite() else { return };
    let _one = ONE_SUITE_AT_A_TIME
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let reference =
        suite.with_builtin_deviations(Adapter::reference(env!("CARGO_BIN_EXE_scenarios")));
    let report = suite
        .run(&[reference], &Selection::all(), jobs())
        .unwrap_or_else(|e| panic!("{e}"));
    check(&report, "reference");
}

#[test]
fn every_expected_file_belongs_to_a_catalog_entry() {
    let Some(suite) = suite() else { return };
    let stray = suite.stray_expected_files();
    assert!(
        stray.is_empty(),
        "expected-outcome files no catalog entry uses (rename or remove them, or fix the \
         entry's id or per_method):\n{}",
        stray
            .iter()
            .map(|p| format!("    {}", p.display()))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// `python3` on PATH, if any.
fn python3() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("python3"))
        .find(|p| p.is_file())
}

#[test]
fn cpython_conforms() {
    let Some(suite) = suite() else { return };
    let Some(python) = python3() else {
        eprintln!("skipped: no python3 on PATH, so CPython cannot be checked");
        return;
    };
    let cpython = match Adapter::cpython(&python) {
        Ok(a) => suite.with_builtin_deviations(a),
        Err(conformance::AdapterError::WrongImplementation { found, .. }) => {
            eprintln!(
                "skipped: {} is {found}, not CPython",
                Path::new(&python).display()
            );
            return;
        }
        Err(e) => panic!("{e}"),
    };
    conforms(&suite, cpython);
}

/// Runs the whole suite against one implementation, alone, and checks the report.
fn conforms(suite: &Suite, adapter: Adapter) {
    let name = adapter.name.clone();
    let _one = ONE_SUITE_AT_A_TIME
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let report = suite
        .run(&[adapter], &Selection::all(), jobs())
        .unwrap_or_else(|e| panic!("{e}"));
    check(&report, &name);
}

/// The variable naming more interpreters to check, separated by `:` (as `PATH`).
const MORE_PYTHONS: &str = "CONFORMANCE_PYTHONS";

/// Every interpreter listed in [`MORE_PYTHONS`]: CPython or PyPy, each by its full version, so
/// the newest patch releases (README, "Interpreters") are proven by `cargo test` where present.
#[test]
fn listed_pythons_conform() {
    let Some(suite) = suite() else { return };
    let Some(list) = std::env::var_os(MORE_PYTHONS).filter(|l| !l.is_empty()) else {
        eprintln!(
            "skipped: {MORE_PYTHONS} is not set, so only python3 was checked. To check the newest \
             CPython releases too, install them (on Debian or Ubuntu, as root: \
             `VERSIONS=\"3.13 3.14 3.15\" sh .ci/sid-python.sh`, about 20 s) and set \
             {MORE_PYTHONS} to the interpreters it prints, separated by ':' (README, \
             \"Interpreters\")"
        );
        return;
    };
    for python in std::env::split_paths(&list) {
        let adapter = Adapter::cpython(&python)
            .or_else(|_| Adapter::pypy(&python))
            .unwrap_or_else(|e| panic!("{MORE_PYTHONS} names {}: {e}", python.display()));
        conforms(&suite, suite.with_builtin_deviations(adapter));
    }
}
