//! Drop-in Python replacements (`module = "..."`) and identity reports, against the suite's
//! real scenario programs and the fixture replacements in `tests/fixtures/dropin/`.
//!
//! The interpreters: `python3` and `pypy3` where they are on PATH, and those listed in
//! `CONFORMANCE_PYTHONS` (separated by `:`; the newest CPython releases, README "Interpreters").

use std::path::{Path, PathBuf};

use conformance::{Adapter, Catalog, Outcome, RunOptions, RunResult, Runner, StartMethod};

/// The suite's scenarios directory.
fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn runner() -> Runner {
    // Each run its own /dev/shm where a namespace can be made (see conformance::leak).
    Runner::new(scenarios(), scenarios().join("expected")).with_options(RunOptions::default())
}

fn run(adapter: &Adapter, id: &str, method: StartMethod) -> RunResult {
    let catalog = Catalog::load(scenarios().join("catalog.toml")).expect("the catalog loads");
    let scenario = catalog
        .get(id)
        .unwrap_or_else(|| panic!("no scenario {id}"));
    runner().run(adapter, scenario, method)
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The interpreters to check, each as the built-in adapter that probed it.
fn pythons() -> Vec<Adapter> {
    let mut paths: Vec<PathBuf> = on_path("python3").into_iter().collect();
    if let Some(list) = std::env::var_os("CONFORMANCE_PYTHONS") {
        paths.extend(std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()));
    }
    paths.extend(on_path("pypy3"));
    paths
        .iter()
        .map(|p| {
            Adapter::cpython(p)
                .or_else(|_| Adapter::pypy(p))
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
}

/// The fixture manifest `name`, loaded by a relative path (tests run in the crate's directory),
/// pointed at the interpreter `python` probed.
fn manifest(name: &str, python: &Adapter) -> Adapter {
    let relative = format!("tests/fixtures/dropin/{name}.toml");
    assert!(Path::new(&relative).is_relative());
    let mut a = Adapter::load(&relative).unwrap_or_else(|e| panic!("{e}"));
    a.python = python.python.clone();
    a.profile = python.profile.clone();
    a.name = format!("{}-on-{}", a.name, python.name);
    a
}

const SCENARIOS: &[&str] = &[
    // multiprocessing.set_start_method, multiprocessing.Process, current_process, parent_process
    "current-process-main",
    // from multiprocessing import shared_memory
    "shared-memory-attach-by-name",
    // from multiprocessing.connection import wait
    "sentinel-wait",
];

#[test]
fn a_drop_in_replacement_runs_in_every_process_and_is_identified() {
    for python in pythons() {
        let a = manifest("mp_reexport", &python);
        assert!(a.manifest_dir.is_absolute(), "{}", a.manifest_dir.display());
        for id in SCENARIOS {
            for method in StartMethod::ALL {
                let r = run(&a, id, method);
                let what = format!("{id} {method} on {}", python.name);
                assert_eq!(r.outcome, Outcome::Pass, "{what}:\n{}", r.message);
                let identity = r.identity.unwrap_or_default();
                assert!(
                    identity.starts_with("main mp_reexport, ")
                        && identity.ends_with(" mp_reexport"),
                    "{what}: the parent and a child must report mp_reexport: {identity:?}"
                );
            }
        }
    }
}

#[test]
fn a_replacement_that_differs_fails() {
    for python in pythons() {
        let a = manifest("mp_different", &python);
        for method in StartMethod::ALL {
            let r = run(&a, "current-process-main", method);
            assert_eq!(r.outcome, Outcome::Fail, "{method}:\n{}", r.message);
            assert!(
                r.message.contains("+ child current_process: Different-1"),
                "{}",
                r.message
            );
            let identity = r.identity.unwrap_or_default();
            assert!(
                identity.starts_with("main mp_different, ") && identity.ends_with(" mp_different"),
                "{identity}"
            );
        }
    }
}

#[test]
fn the_standard_library_is_identified_as_multiprocessing() {
    let python = &pythons()[0];
    for method in StartMethod::ALL {
        let r = run(python, "current-process-main", method);
        assert_eq!(r.outcome, Outcome::Pass, "{method}:\n{}", r.message);
        let identity = r.identity.unwrap_or_default();
        assert!(identity.starts_with("main multiprocessing"), "{identity}");
    }
}

#[test]
fn a_manifest_claiming_another_module_while_the_standard_library_runs_is_an_error() {
    let python = &pythons()[0];
    let mut a = Adapter::parse(
        "name = \"claims-mp-reexport\"\n\
         command = [\"{python}\", \"{scenarios}/python/{id_underscore}.py\", \"{method}\"]\n\
         profile = \"3.14\"\nidentity = \"mp_reexport\"\n",
        "claims.toml",
    )
    .unwrap();
    a.python = python.python.clone();
    a.profile = python.profile.clone();
    for method in StartMethod::ALL {
        let r = run(&a, "current-process-main", method);
        assert_eq!(r.outcome, Outcome::Error, "{method}:\n{}", r.message);
        assert!(
            r.message.starts_with(
                "the run does not prove that claims-mp-reexport ran: claims-mp-reexport \
                 declares identity `mp_reexport`, but main process reported \
                 `multiprocessing.context`"
            ),
            "{}",
            r.message
        );
    }
}

#[test]
fn a_python_that_skips_the_shim_is_an_error_that_says_why() {
    let python = &pythons()[0];
    let mut a = manifest("mp_reexport", python);
    // `-I` ignores PYTHONPATH: neither the replacement nor the shim is loaded.
    a.command.insert(1, "-I".into());
    let r = run(&a, "current-process-main", StartMethod::Spawn);
    assert_eq!(r.outcome, Outcome::Error, "{}", r.message);
    assert!(
        r.message
            .contains("and no main process reported one: the runner's Python shim"),
        "{}",
        r.message
    );
}
