//! report.html in a real headless browser, with interaction: a results file with a failure, an
//! expected failure, a skip and two CPython versions that behave differently is rendered by
//! `cargo xtask report merge`, then Chromium loads the page, clicks filters and a cell through
//! the page's test hook (`?click=SEL|SEL`, `?search=TEXT`), and the test reads what the page
//! shows from the DOM Chromium dumps. Screenshots go to `CARGO_TARGET_TMPDIR`.
//!
//! Without a Chromium-family browser on PATH the test says so and checks nothing more
//! (`apt-get install chromium`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome", "chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

fn record(
    scenario: &str,
    implementation: &str,
    method: &str,
    outcome: &str,
    actual: &str,
) -> Value {
    json!({
        "scenario": scenario, "implementation": implementation, "start_method": method,
        "outcome": outcome, "seconds": 0.25, "clauses": [],
        "actual": format!("exit: 0\n---\n{actual}\n"),
    })
}

fn implementation(name: &str, profile: &str) -> Value {
    json!({
        "name": name, "version": profile, "executable": format!("/usr/bin/{name}"),
        "profile": profile, "methods": ["fork", "spawn"], "manifest": null,
        "manifest_sha256": "00".repeat(32),
    })
}

/// Four scenarios × reference, CPython 3.8 and 3.14 × fork, spawn.
fn fixture() -> Value {
    let mut results = Vec::new();
    for method in ["fork", "spawn"] {
        for imp in ["reference", "cpython-3.8.20", "cpython-3.14.10"] {
            results.push(record(
                "lesson-four-workers",
                imp,
                method,
                "pass",
                "Process: Worker-0",
            ));
            let mut pid = record(
                "child-pid-and-parent",
                imp,
                method,
                "pass",
                "parent pid: P1",
            );
            if imp == "reference" && method == "spawn" {
                pid["outcome"] = "fail".into();
                pid["expected"] = "exit: 0\n---\nparent pid: P1\n".into();
                pid["actual"] = "exit: 0\n---\nparent pid: P2\n".into();
                pid["message"] = "trace differs (- expected, + actual):\n- parent pid: P1\n+ parent pid: P2\nexpected:\n    exit: 0\ncommand: scenarios child-pid-and-parent spawn".into();
            }
            results.push(pid);
            let name = if imp == "cpython-3.8.20" {
                "child: Process-1"
            } else {
                "child: Process-2"
            };
            results.push(record("names-default", imp, method, "pass", name));
            let mut kill = record("exitcode-kill", imp, method, "pass", "exitcode: -9");
            if imp == "reference" {
                kill["outcome"] = "xfail".into();
                kill["message"] = "listed as a deviation from LIFE-4 in reference: a reason".into();
            }
            if imp == "cpython-3.8.20" {
                kill = json!({
                    "scenario": "exitcode-kill", "implementation": imp, "start_method": method,
                    "outcome": "skip", "seconds": 0.0, "clauses": ["LIFE-4"],
                    "message": "the scenario describes Python >=3.9; cpython-3.8.20 claims profile 3.8.20",
                });
            }
            results.push(kill);
        }
    }
    json!({
        "run": {
            "schema": 2, "suite": {"revision": "0123abc", "dirty": false},
            "date": "2026-12-03T12:00:00Z", "host": "test-host", "os": "Test OS",
            "kernel": "Linux 6.1 x86_64", "command": ["cargo", "xtask", "matrix"],
            "options": {"jobs": 2, "shard": null, "scenarios": [], "start_methods": [], "fail_fast": false},
            "seconds": 3.0,
            "implementations": [
                implementation("reference", "3.14.10"),
                implementation("cpython-3.8.20", "3.8.20"),
                implementation("cpython-3.14.10", "3.14.10"),
            ],
        },
        "results": results,
    })
}

/// The page after loading with `query`: Chromium's DOM dump.
fn load(
    browser: &Path,
    page: &Path,
    query: &str,
    profile: &Path,
    screenshot: Option<&Path>,
) -> String {
    let url = format!("file://{}{query}", page.display());
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=5000",
        "--window-size=1400,900",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    match screenshot {
        Some(png) => cmd.arg(format!("--screenshot={}", png.display())),
        None => cmd.arg("--dump-dom"),
    };
    let out = cmd.arg(&url).output().expect("the browser runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of `name="..."` on the `<body>` tag of a dumped DOM.
fn body_attr(dom: &str, name: &str) -> Option<String> {
    let start = dom.find("<body")?;
    let tag = &dom[start..start + dom[start..].find('>')?];
    let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
    Some(tag[at..at + tag[at..].find('"')?].to_owned())
}

#[test]
fn the_report_filters_and_opens_a_cell_in_a_headless_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("fixture.json");
    std::fs::write(&input, fixture().to_string()).unwrap();
    let out_dir = tmp.path().join("report");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["report", "merge"])
        .arg(&input)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    // A failure in the fixture: exit 1, and the report is written.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // junit.xml as CI systems read it: the diff as element text, xfail visible, classname, time.
    let junit = std::fs::read_to_string(out_dir.join("junit.xml")).unwrap();
    assert!(junit.contains("classname=\"reference.spawn\""), "{junit}");
    let failure = &junit[junit.find("<failure").expect("a failure element")..];
    let failure = &failure[..failure.find("</failure>").unwrap()];
    assert!(failure.contains("type=\"fail\"") && failure.contains("message=\"fail: trace differs"));
    assert!(
        failure
            .contains(">trace differs (- expected, + actual):\n- parent pid: P1\n+ parent pid: P2"),
        "{failure}"
    );
    assert!(
        junit.contains("<skipped message=\"xfail: listed as a deviation from LIFE-4 in reference: a reason\" type=\"xfail\">"),
        "{junit}"
    );
    assert!(
        junit.contains("<skipped message=\"skip: the scenario describes Python &gt;=3.9"),
        "{junit}"
    );
    assert!(
        junit.contains("<testsuite name=\"reference spawn\" tests=\"4\""),
        "{junit}"
    );
    assert!(
        junit.contains("time=\"1.000\""),
        "a suite's time is its cases' sum: {junit}"
    );

    let page = out_dir.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no network"
    );

    let Some(browser) = browser() else {
        eprintln!(
            "skipped: no Chromium-family browser on PATH (chromium, chromium-browser, \
             google-chrome); install one (apt-get install chromium) to check report.html in a browser"
        );
        return;
    };
    let profile = tmp.path().join("profile");
    let shown = |query: &str| {
        let dom = load(&browser, &page, query, &profile, None);
        assert_eq!(
            body_attr(&dom, "data-missing"),
            None,
            "{query}: a selector found nothing"
        );
        (
            body_attr(&dom, "data-shown").and_then(|s| s.parse::<usize>().ok()),
            dom,
        )
    };
    assert_eq!(shown("").0, Some(4));
    assert_eq!(shown("?click=%23f-bad").0, Some(1), "unexpected only");
    assert_eq!(
        shown("?click=%23f-disagree").0,
        Some(2),
        "implementations disagree"
    );
    let (n, dom) = shown("?click=%23f-versions");
    // names-default prints another trace on 3.8; exitcode-kill does not apply to 3.8.
    assert_eq!(n, Some(2), "CPython versions disagree");
    assert!(
        dom.contains("class=\"versions\""),
        "the versions view hides other columns"
    );
    assert_eq!(shown("?search=kill").0, Some(1), "search");
    assert_eq!(
        shown("?click=%23f-bad|%23f-bad").0,
        Some(4),
        "a filter toggled back"
    );

    // Opening a cell: the failing one, after filtering to failures.
    let (_, dom) = shown("?click=%23f-bad|td.o-fail%20a");
    let open = body_attr(&dom, "data-open").unwrap_or_default();
    assert!(open.starts_with("run-"), "a run is open: {open:?}");
    assert_eq!(
        body_attr(&dom, "data-open-display").as_deref(),
        Some("block")
    );
    let panel_start = dom.find(&format!("id=\"{open}\"")).unwrap();
    let panel = &dom[panel_start..panel_start + dom[panel_start..].find("</section>").unwrap()];
    assert!(
        panel.contains("child-pid-and-parent")
            && panel.contains("<span class=\"del\">- parent pid: P1")
    );
    assert!(
        panel.contains("<span class=\"ins\">+ parent pid: P2"),
        "{panel}"
    );

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for (name, query) in [
        ("report-whole.png", ""),
        ("report-filtered.png", "?click=%23f-disagree"),
        ("report-cell-open.png", "?click=td.o-fail%20a"),
    ] {
        let png = shots.join(name);
        load(&browser, &page, query, &profile, Some(&png));
        assert!(
            png.metadata().is_ok_and(|m| m.len() > 1000),
            "{}",
            png.display()
        );
        eprintln!("screenshot: {}", png.display());
    }
}
