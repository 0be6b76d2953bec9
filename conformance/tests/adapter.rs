//! Adapter manifests and the built-in adapters.

use std::path::Path;

use conformance::{Adapter, AdapterError, Deviation, StartMethod};
use rstest::rstest;

use StartMethod::{Fork, Forkserver, Spawn};

const MANIFEST: &str = r#"
name = "pypy-3.10"
command = ["{python}", "{scenarios}/python/{id_underscore}.py", "{method}", "{{literal}}"]
python = "/opt/pypy/bin/pypy3"
methods = ["fork", "spawn"]
profile = "3.10"

[[deviation]]
scenario = "queue-feeder-flush"
method = "spawn"
reason = "the feeder thread flushes late"
clause = "QUEUE-4"

[[deviation]]
scenario = "gc-finalizer-order"
reason = "no refcounting"
clause = "PROC-9"
"#;

#[test]
fn a_full_manifest() {
    let a = Adapter::parse(MANIFEST, "pypy.toml").unwrap();
    assert_eq!(a.name, "pypy-3.10");
    assert_eq!(a.methods, [Fork, Spawn]);
    assert_eq!(a.profile.to_string(), "3.10");
    assert!(!a.has_method(Forkserver));
    assert_eq!(
        a.argv("queue-feeder-flush", Spawn, Path::new("/s"))
            .unwrap(),
        [
            "/opt/pypy/bin/pypy3",
            "/s/python/queue_feeder_flush.py",
            "spawn",
            "{literal}"
        ]
    );
    assert_eq!(a.deviations.len(), 2);
    assert_eq!(
        a.deviation("queue-feeder-flush", Spawn)
            .map(|d| d.clause.as_str()),
        Some("QUEUE-4")
    );
    assert_eq!(a.deviation("queue-feeder-flush", Fork), None);
    for m in StartMethod::ALL {
        assert_eq!(
            a.deviation("gc-finalizer-order", m)
                .map(|d| d.reason.as_str()),
            Some("no refcounting")
        );
    }
}

#[test]
fn defaults_all_methods_and_python3() {
    let a = Adapter::parse(
        "name = \"x\"\ncommand = [\"{python}\", \"{id}\"]\nprofile = \"3.12\"\n",
        "x.toml",
    )
    .unwrap();
    assert_eq!(a.methods, StartMethod::ALL);
    assert!(a.deviations.is_empty());
    assert_eq!(
        a.argv("a-b", Fork, Path::new("/s")).unwrap(),
        ["python3", "a-b"]
    );
}

#[test]
fn manifest_dir_is_the_manifest_s_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("impl.toml");
    std::fs::write(
        &path,
        "name = \"x\"\ncommand = [\"{manifest_dir}/run.sh\", \"{id}\", \"{method}\"]\nprofile = \"3.14\"\nidentity = \"x\"\n",
    )
    .unwrap();
    let a = Adapter::load(&path).unwrap();
    let argv = a.argv("a", Forkserver, Path::new("/s")).unwrap();
    assert_eq!(argv[0], format!("{}/run.sh", dir.path().display()));
}

#[test]
fn relative_paths_are_resolved_against_the_manifest_s_directory() {
    // A manifest given by a relative path (tests run in the crate's directory).
    let a = Adapter::load("tests/fixtures/dropin/mp_reexport.toml").unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dropin");
    assert_eq!(a.manifest_dir, dir);
    let text = "name = \"x\"\ncommand = [\"bin/run\", \"{manifest_dir}\", \"{python}\"]\n\
                profile = \"3.14\"\nidentity = \"x\"\npython = \"./venv/bin/python\"\n\
                env = { LD_LIBRARY_PATH = \"{manifest_dir}/lib\", PLAIN = \"v\" }\n";
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("m.toml"), text).unwrap();
    let a = Adapter::load(t.path().join("m.toml")).unwrap();
    let d = t.path().display();
    assert_eq!(
        a.argv("s", Fork, Path::new("/s")).unwrap(),
        [
            format!("{d}/bin/run"),
            format!("{d}"),
            format!("{d}/venv/bin/python")
        ]
    );
    let env = a
        .environment(
            "s",
            Fork,
            Path::new("/s"),
            Path::new("/t/id"),
            Path::new("/t"),
        )
        .unwrap();
    assert_eq!(
        env,
        [
            ("LD_LIBRARY_PATH".to_string(), format!("{d}/lib")),
            ("PLAIN".into(), "v".into()),
            ("CONFORMANCE_IDENTITY_FILE".into(), "/t/id".into()),
        ]
    );
    // A bare program name is looked up on PATH, as `python3` is.
    let a = Adapter::parse(
        "name = \"x\"\ncommand = [\"sh\"]\nprofile = \"3.14\"\nidentity = \"x\"\n",
        "x.toml",
    )
    .unwrap();
    assert_eq!(a.argv("s", Fork, Path::new("/s")).unwrap(), ["sh"]);
}

#[test]
fn identity_defaults() {
    let parse = |extra: &str| {
        Adapter::parse(
            &format!("name = \"x\"\ncommand = [\"{{python}}\"]\nprofile = \"3.14\"\n{extra}"),
            "x.toml",
        )
        .unwrap()
    };
    let stdlib = parse("");
    assert_eq!(
        (stdlib.identity.as_str(), stdlib.python_shim),
        ("multiprocessing", true)
    );
    let dropin = parse("module = \"multiprocess\"\n");
    assert_eq!(dropin.identity, "multiprocess");
    assert_eq!(dropin.module.as_deref(), Some("multiprocess"));
    let own = parse("module = \"wrapper\"\nidentity = \"multiprocessing\"\n");
    assert_eq!(own.identity, "multiprocessing");
    let r = Adapter::reference("/bin/scenarios");
    assert_eq!((r.identity.as_str(), r.python_shim), ("reference", false));
}

#[rstest]
#[case::main_and_children("main m\nchild m.context 12\nchild m\n", Ok("main m, children m"))]
#[case::inside_the_package("main m.context\n", Ok("main m"))]
#[case::not_a_prefix("main mx\n", Err("but main process reported `mx`"))]
#[case::wrong_child(
    "main m\nchild multiprocessing.context 7\n",
    Err("but child process reported `multiprocessing.context`")
)]
#[case::no_main("child m\n", Err("and no main process reported one"))]
#[case::nothing("", Err("and no main process reported one"))]
#[case::garbage("main\n", Err("unreadable line \"main\""))]
fn identity_reports(#[case] report: &str, #[case] want: Result<&str, &str>) {
    let a = Adapter::parse(
        "name = \"x\"\ncommand = [\"run\"]\nprofile = \"3.14\"\nidentity = \"m\"\n",
        "x.toml",
    )
    .unwrap();
    match (a.check_identity(Some(report)), want) {
        (Ok(got), Ok(want)) => assert_eq!(got, want),
        (Err(got), Err(want)) => assert!(
            got.starts_with("the run does not prove that x ran: x declares identity `m`")
                && got.contains(want),
            "{got}"
        ),
        (got, want) => panic!("{got:?}, want {want:?}"),
    }
}

#[rstest]
#[case::unknown_key(
    "name = \"x\"\ncommand = [\"a\"]\nprofile = \"3.14\"\nmethod = [\"fork\"]\n",
    "unknown field `method`"
)]
#[case::missing_profile("name = \"x\"\ncommand = [\"a\"]\n", "missing field `profile`")]
#[case::bad_profile(
    "name = \"x\"\ncommand = [\"a\"]\nprofile = \"latest\"\n",
    "x.toml: invalid adapter manifest: `profile`: invalid version `latest`: write it as dotted numbers, e.g. `3.12`"
)]
#[case::unknown_method(
    "name = \"x\"\ncommand = [\"a\"]\nprofile = \"3.14\"\nmethods = [\"vfork\"]\n",
    "x.toml: invalid adapter manifest: `methods`: unknown start method `vfork`: expected one of `fork`, `spawn`, `forkserver`"
)]
#[case::empty_command(
    "name = \"x\"\ncommand = []\nprofile = \"3.14\"\n",
    "x.toml: invalid adapter manifest: `command` is empty: list the program and its arguments"
)]
#[case::unknown_placeholder(
    "name = \"x\"\ncommand = [\"a\", \"{scenario}\"]\nprofile = \"3.14\"\n",
    "x.toml: command word `{scenario}`: unknown placeholder `{scenario}`; the placeholders are {id}, {id_underscore}, {method}, {scenarios}, {python}, {manifest_dir} (write `{{` and `}}` for literal braces)"
)]
#[case::unclosed_brace(
    "name = \"x\"\ncommand = [\"a\", \"{id\"]\nprofile = \"3.14\"\n",
    "x.toml: command word `{id`: a `{` is never closed"
)]
#[case::deviation_method(
    "name = \"x\"\ncommand = [\"a\"]\nprofile = \"3.14\"\n[[deviation]]\nscenario = \"s\"\nmethod = \"thread\"\nreason = \"r\"\nclause = \"A-1\"\n",
    "unknown start method `thread`"
)]
#[case::deviation_without_reason(
    "name = \"x\"\ncommand = [\"a\"]\nprofile = \"3.14\"\n[[deviation]]\nscenario = \"s\"\nreason = \" \"\nclause = \"A-1\"\n",
    "x.toml: invalid adapter manifest: deviation for scenario \"s\": `reason` is empty: say why it deviates"
)]
#[case::deviation_unknown_key(
    "name = \"x\"\ncommand = [\"a\"]\nprofile = \"3.14\"\n[[deviation]]\nscenario = \"s\"\nreason = \"r\"\nclause = \"A-1\"\nissue = 3\n",
    "unknown field `issue`"
)]
#[case::no_identity(
    "name = \"x\"\ncommand = [\"/opt/mine/run\"]\nprofile = \"3.14\"\n",
    "x.toml: invalid adapter manifest: `identity` is missing: a program not run by `{python}` must prove which implementation ran. Declare `identity = \"<your implementation>\"`"
)]
#[case::bad_module(
    "name = \"x\"\ncommand = [\"{python}\"]\nprofile = \"3.14\"\nmodule = \"my-mp\"\n",
    "`module` = \"my-mp\" is not a Python module name"
)]
#[case::two_word_identity(
    "name = \"x\"\ncommand = [\"run\"]\nprofile = \"3.14\"\nidentity = \"my mp\"\n",
    "`identity` = \"my mp\" must be one word"
)]
#[case::runner_variable(
    "name = \"x\"\ncommand = [\"{python}\"]\nprofile = \"3.14\"\nenv = { CONFORMANCE_MODULE = \"m\" }\n",
    "`env` key `CONFORMANCE_MODULE`: the runner sets the CONFORMANCE_ variables itself"
)]
#[case::env_placeholder(
    "name = \"x\"\ncommand = [\"{python}\"]\nprofile = \"3.14\"\nenv = { A = \"{dir}\" }\n",
    "x.toml: command word `env.A = {dir}`: unknown placeholder `{dir}`"
)]
fn manifest_errors(#[case] text: &str, #[case] message: &str) {
    let e = Adapter::parse(text, "x.toml").unwrap_err();
    let shown = e.to_string();
    assert!(shown.starts_with("x.toml: "), "{shown}");
    assert!(
        shown.contains(message),
        "{shown}\n  does not contain\n{message}"
    );
}

#[test]
fn a_missing_manifest_names_it() {
    let e = Adapter::load("/nonexistent/impl.toml").unwrap_err();
    assert!(matches!(e, AdapterError::Missing { .. }));
    assert!(e.to_string().starts_with(
        "/nonexistent/impl.toml: there is no adapter manifest at this path (relative paths \
         start from the current directory, "
    ));
}

#[test]
fn the_reference_adapter() {
    let a = Adapter::reference("/t/debug/scenarios{x}");
    assert_eq!(a.name, "reference");
    assert_eq!(a.profile.to_string(), "3.14.10");
    assert_eq!(a.methods, StartMethod::ALL);
    // The binary path is taken literally, braces included.
    assert_eq!(
        a.argv("exit-code", Spawn, Path::new("/s")).unwrap(),
        ["/t/debug/scenarios{x}", "exit-code", "spawn"]
    );
}

#[test]
fn with_deviation_adds_one() {
    let a = Adapter::reference("/bin/true").with_deviation(Deviation {
        scenario: "s".into(),
        method: Some(Fork),
        reason: "r".into(),
        clause: "A-1".into(),
    });
    assert!(a.deviation("s", Fork).is_some());
    assert!(a.deviation("s", Spawn).is_none());
}

/// `python3` on PATH, if any.
fn python3() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("python3"))
        .find(|p| p.is_file())
}

#[test]
fn cpython_probes_the_interpreter() {
    let Some(py) = python3() else {
        eprintln!("skipped: no python3 on PATH");
        return;
    };
    let a = match Adapter::cpython(&py) {
        Ok(a) => a,
        Err(AdapterError::WrongImplementation { found, .. }) => {
            eprintln!("skipped: python3 is {found}, not CPython");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert!(a.name.starts_with("cpython-3."), "{}", a.name);
    assert_eq!(a.name, format!("cpython-{}", a.profile));
    assert_eq!(
        a.argv("queue-put-get", Fork, Path::new("/s")).unwrap(),
        [
            py.to_string_lossy().as_ref(),
            "/s/python/queue_put_get.py",
            "fork"
        ]
    );
    // The same interpreter is not PyPy.
    let e = Adapter::pypy(&py).unwrap_err();
    assert!(e.to_string().contains("is cpython, not pypy"), "{e}");
}

#[test]
fn probing_a_missing_interpreter_fails_clearly() {
    let e = Adapter::cpython("/nonexistent/python9").unwrap_err();
    assert!(matches!(e, AdapterError::Probe { .. }));
    assert!(
        e.to_string()
            .starts_with("cannot probe the interpreter `/nonexistent/python9`: "),
        "{e}"
    );
}

#[test]
fn probing_something_that_is_not_python_fails_clearly() {
    let e = Adapter::cpython("/bin/false").unwrap_err();
    assert!(e.to_string().contains("it exited with"), "{e}");
}

#[test]
fn toml_errors_give_the_line() {
    let e = Adapter::parse(
        "name = \"x\"\ncommand = [\"a\"]\nprofile = \"3.14\"\n\n[[deviation]]\nscenario = \"s\"\nreason = \"r\"\nclause = \"A-1\"\nissue = 3\n",
        "x.toml",
    )
    .unwrap_err();
    insta::assert_snapshot!(e.to_string(), @"x.toml: invalid adapter manifest: line 9: unknown field `issue`, expected one of `scenario`, `method`, `reason`, `clause`");
}

// ---------------------------------------------------------------------------------------------
// The built-in adapters' deviations (`scenarios/deviations.toml`).

const BUILTIN_DEVIATIONS: &str = r#"
[[deviation]]
implementation = "pypy"
profiles = "<3.10"
scenario = "queue-feeder-flush"
reason = "the feeder thread flushes late"
clause = "IPC-4"

[[deviation]]
implementation = "reference"
scenario = "queue-unserializable-item"
method = "spawn"
reason = "put reports the error"
clause = "SER-5"
"#;

fn adapter(name: &str, profile: &str) -> Adapter {
    Adapter::parse(
        &format!("name = \"{name}\"\ncommand = [\"x\"]\nprofile = \"{profile}\"\nidentity = \"x\""),
        "m.toml",
    )
    .unwrap()
}

#[test]
fn builtin_deviations_go_to_their_implementation_and_profiles_only() {
    let list =
        conformance::suite::parse_builtin_deviations(BUILTIN_DEVIATIONS, Path::new("d.toml"))
            .unwrap();
    let applies = |name: &str, profile: &str| -> Vec<&str> {
        list.iter()
            .filter(|d| d.applies_to(&adapter(name, profile)))
            .map(|d| d.deviation.scenario.as_str())
            .collect()
    };
    assert_eq!(applies("pypy-3.9", "3.9"), ["queue-feeder-flush"]);
    assert!(
        applies("pypy-3.10", "3.10").is_empty(),
        "out of the profile range"
    );
    assert!(
        applies("cpython-3.9", "3.9").is_empty(),
        "another implementation"
    );
    assert_eq!(applies("reference", "3.14"), ["queue-unserializable-item"]);
    assert_eq!(list[1].deviation.method, Some(Spawn));
}

#[rstest]
#[case::unknown_implementation(
    "implementation = \"jython\"\nscenario = \"s\"\nreason = \"r\"\nclause = \"c\"",
    "unknown implementation \"jython\""
)]
#[case::no_reason(
    "implementation = \"pypy\"\nscenario = \"s\"\nreason = \" \"\nclause = \"c\"",
    "`reason` and `clause` must say why"
)]
#[case::bad_profiles(
    "implementation = \"pypy\"\nprofiles = \"3.x\"\nscenario = \"s\"\nreason = \"r\"\nclause = \"c\"",
    "`profiles`"
)]
#[case::unknown_key(
    "implementation = \"pypy\"\nscenario = \"s\"\nreason = \"r\"\nclause = \"c\"\nwhy = \"w\"",
    "why"
)]
fn a_bad_builtin_deviation_is_an_error_that_says_what_to_fix(
    #[case] entry: &str,
    #[case] message: &str,
) {
    let text = format!("[[deviation]]\n{entry}\n");
    let err = conformance::suite::parse_builtin_deviations(&text, Path::new("d.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("d.toml: invalid deviations file"), "{err}");
    assert!(err.contains(message), "{err}");
}
