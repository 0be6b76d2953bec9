//! The matrix's results, and the three reports: `results.json`, `junit.xml`, `report.html`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use conformance::{Adapter, Outcome, RunResult, Selection, StartMethod, Suite};
use serde::Serialize;

use crate::matrix::cell;
use crate::workspace;

/// One column: an implementation under one start method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub implementation: String,
    pub method: StartMethod,
}

pub struct Matrix {
    pub rows: Vec<String>,
    pub columns: Vec<Column>,
    pub results: Vec<RunResult>,
    pub stray_shm: Vec<PathBuf>,
    pub elapsed: Duration,
    clauses: BTreeMap<String, Vec<String>>,
}

/// A record of `results.json` (the schema is documented in README.md).
#[derive(Serialize)]
struct Record<'a> {
    scenario: &'a str,
    implementation: &'a str,
    start_method: &'a str,
    outcome: &'a str,
    seconds: f64,
    clauses: &'a [String],
    /// For anything but pass/skip: the expected and actual normalized traces.
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actual: Option<String>,
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
}

impl Matrix {
    pub fn new(
        suite: &Suite,
        adapters: &[Adapter],
        selection: &Selection,
        results: Vec<RunResult>,
        stray_shm: Vec<PathBuf>,
        elapsed: Duration,
    ) -> Matrix {
        let mut rows: Vec<String> = Vec::new();
        for r in &results {
            if !rows.contains(&r.scenario) {
                rows.push(r.scenario.clone());
            }
        }
        let methods: Vec<StartMethod> = StartMethod::ALL
            .into_iter()
            .filter(|m| selection.methods.as_ref().is_none_or(|ms| ms.contains(m)))
            .collect();
        let columns = adapters
            .iter()
            .flat_map(|a| {
                methods.iter().map(|&method| Column {
                    implementation: a.name.clone(),
                    method,
                })
            })
            .collect();
        let clauses = suite
            .catalog
            .scenarios
            .iter()
            .map(|s| (s.id.clone(), s.clauses.clone()))
            .collect();
        Matrix {
            rows,
            columns,
            results,
            stray_shm,
            elapsed,
            clauses,
        }
    }

    pub fn ok(&self) -> bool {
        self.stray_shm.is_empty() && self.results.iter().all(|r| r.outcome.is_ok())
    }

    fn result(&self, scenario: &str, column: &Column) -> Option<&RunResult> {
        self.results.iter().find(|r| {
            r.scenario == scenario
                && r.implementation == column.implementation
                && r.start_method == column.method
        })
    }

    /// One row per scenario, one column per implementation × start method.
    pub fn terminal_table(&self) -> String {
        let w_id = self.rows.iter().map(String::len).max().unwrap_or(8).max(8);
        let widths: Vec<usize> = self
            .columns
            .iter()
            .map(|c| c.implementation.len().max(c.method.as_str().len()).max(7))
            .collect();
        let mut out = String::new();
        let _ = write!(out, "{:<w_id$}", "");
        for (c, w) in self.columns.iter().zip(&widths) {
            let _ = write!(out, "  {:<w$}", c.implementation);
        }
        let _ = write!(out, "\n{:<w_id$}", "scenario");
        for (c, w) in self.columns.iter().zip(&widths) {
            let _ = write!(out, "  {:<w$}", c.method.as_str());
        }
        out.push('\n');
        for row in &self.rows {
            let _ = write!(out, "{row:<w_id$}");
            for (c, w) in self.columns.iter().zip(&widths) {
                let text = self.result(row, c).map_or("-", |r| cell(r.outcome));
                let _ = write!(out, "  {text:<w$}");
            }
            out.push('\n');
        }
        let _ = write!(out, "{:<w_id$}", "passed");
        for (c, w) in self.columns.iter().zip(&widths) {
            let passed = self.column_count(c, Outcome::Pass);
            let ran = self
                .results
                .iter()
                .filter(|r| Self::in_column(r, c) && r.outcome != Outcome::Skip)
                .count();
            let _ = write!(out, "  {:<w$}", format!("{passed}/{ran}"));
        }
        out.push('\n');
        out
    }

    fn in_column(r: &RunResult, c: &Column) -> bool {
        r.implementation == c.implementation && r.start_method == c.method
    }

    fn column_count(&self, c: &Column, outcome: Outcome) -> usize {
        self.results
            .iter()
            .filter(|r| Self::in_column(r, c) && r.outcome == outcome)
            .count()
    }

    /// `N pass, N fail, ...` over every run.
    pub fn totals(&self) -> String {
        let all = [
            Outcome::Pass,
            Outcome::Fail,
            Outcome::Xfail,
            Outcome::Xpass,
            Outcome::Timeout,
            Outcome::Leak,
            Outcome::Skip,
            Outcome::Error,
        ];
        let parts: Vec<String> = all
            .iter()
            .map(|&o| (o, self.results.iter().filter(|r| r.outcome == o).count()))
            .filter(|&(o, n)| n > 0 || o == Outcome::Pass || o == Outcome::Fail)
            .map(|(o, n)| format!("{n} {}", o.as_str()))
            .collect();
        let verdict = if self.ok() {
            "every result as expected"
        } else {
            "UNEXPECTED RESULTS"
        };
        format!("{}: {verdict}", parts.join(", "))
    }

    pub fn write_reports(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("results.json"), self.json())?;
        std::fs::write(dir.join("junit.xml"), self.junit())?;
        std::fs::write(dir.join("report.html"), self.html())?;
        Ok(())
    }

    fn json(&self) -> String {
        let records: Vec<Record<'_>> = self
            .results
            .iter()
            .map(|r| {
                let detailed = !matches!(r.outcome, Outcome::Pass | Outcome::Skip);
                Record {
                    scenario: &r.scenario,
                    implementation: &r.implementation,
                    start_method: r.start_method.as_str(),
                    outcome: r.outcome.as_str(),
                    seconds: r.seconds,
                    clauses: self.clauses.get(&r.scenario).map_or(&[], Vec::as_slice),
                    expected: detailed
                        .then(|| r.expected.as_ref().map(|e| e.render()))
                        .flatten(),
                    actual: detailed
                        .then(|| r.actual.as_ref().map(|e| e.render()))
                        .flatten(),
                    message: &r.message,
                }
            })
            .collect();
        serde_json::to_string_pretty(&records).unwrap_or_else(|_| "[]".into()) + "\n"
    }

    fn junit(&self) -> String {
        use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
        let mut report = Report::new("conformance");
        for column in &self.columns {
            let mut suite = TestSuite::new(format!(
                "{} {}",
                column.implementation,
                column.method.as_str()
            ));
            for r in self.results.iter().filter(|r| Self::in_column(r, column)) {
                let status = match r.outcome {
                    Outcome::Pass | Outcome::Xfail => TestCaseStatus::success(),
                    Outcome::Skip => {
                        let mut status = TestCaseStatus::skipped();
                        status.set_message(r.message.clone());
                        status
                    }
                    Outcome::Error => {
                        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                        status.set_message(r.message.clone());
                        status
                    }
                    other => {
                        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        status.set_message(format!("{}: {}", other.as_str(), r.message));
                        status
                    }
                };
                let mut case = TestCase::new(r.scenario.clone(), status);
                case.set_time(Duration::from_secs_f64(r.seconds));
                suite.add_test_case(case);
            }
            report.add_test_suite(suite);
        }
        report.to_string().unwrap_or_default()
    }

    fn html(&self) -> String {
        let mut page = String::from(HTML_HEAD);
        let _ = write!(
            page,
            "<h1>Conformance matrix</h1><p>{} &middot; {} runs in {:.1} s</p>\n<table><thead><tr><th></th>",
            escape(&self.totals()),
            self.results.len(),
            self.elapsed.as_secs_f64()
        );
        for c in &self.columns {
            let _ = write!(
                page,
                "<th>{}<br><span class=m>{}</span></th>",
                escape(&c.implementation),
                c.method.as_str()
            );
        }
        page.push_str("</tr></thead><tbody>\n");
        for row in &self.rows {
            let _ = write!(
                page,
                "<tr><th class=id><a href=\"#s-{0}\">{0}</a></th>",
                escape(row)
            );
            for c in &self.columns {
                match self.result(row, c) {
                    Some(r) => {
                        let _ = write!(
                            page,
                            "<td class={}><a href=\"#{}\">{}</a></td>",
                            r.outcome.as_str(),
                            anchor(r),
                            cell(r.outcome)
                        );
                    }
                    None => page.push_str("<td>-</td>"),
                }
            }
            page.push_str("</tr>\n");
        }
        page.push_str("</tbody></table>\n<h2>Scenarios</h2>\n");
        let clause_texts = workspace::clause_texts();
        for row in &self.rows {
            let _ = write!(page, "<section id=\"s-{0}\"><h3>{0}</h3>", escape(row));
            for clause in self.clauses.get(row).into_iter().flatten() {
                let text = clause_texts
                    .iter()
                    .find(|(id, _)| id == clause)
                    .map_or("", |(_, t)| t.as_str());
                let _ = write!(
                    page,
                    "<p class=clause><b>{}</b> {}</p>",
                    escape(clause),
                    escape(text)
                );
            }
            for r in self.results.iter().filter(|r| &r.scenario == row) {
                let _ = write!(
                    page,
                    "<details id=\"{}\"{}><summary class={}>{} {} &mdash; {} ({:.2} s)</summary>",
                    anchor(r),
                    if r.outcome.is_ok() { "" } else { " open" },
                    r.outcome.as_str(),
                    escape(&r.implementation),
                    r.start_method.as_str(),
                    r.outcome.as_str(),
                    r.seconds
                );
                let show = |e: &Option<conformance::Expected>| {
                    e.as_ref().map_or("(none)".to_owned(), |e| e.render())
                };
                let _ = write!(
                    page,
                    "<div class=traces><div><h4>expected</h4><pre>{}</pre></div><div><h4>actual</h4><pre>{}</pre></div></div>",
                    escape(&show(&r.expected)),
                    escape(&show(&r.actual))
                );
                if !r.message.is_empty() {
                    let _ = write!(page, "<pre class=msg>{}</pre>", escape(&r.message));
                }
                page.push_str("</details>");
            }
            page.push_str("</section>\n");
        }
        page.push_str("</body></html>\n");
        page
    }
}

fn anchor(r: &RunResult) -> String {
    format!(
        "r-{}-{}-{}",
        r.scenario,
        r.implementation,
        r.start_method.as_str()
    )
    .replace(['.', ' '], "_")
}

/// HTML text escaping (the five characters that matter in text and attribute values).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const HTML_HEAD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>multiprocessing conformance matrix</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 8px;text-align:center}
th.id{text-align:left;font-weight:normal;font-family:monospace}.m{font-weight:normal;color:#666}
td a{color:inherit;text-decoration:none;display:block}
.pass{background:#c8f0c8}.fail,.error{background:#f4b4b4;font-weight:bold}.xfail{background:#f0e6a8}
.xpass{background:#f4c8f4;font-weight:bold}.timeout{background:#f4c890;font-weight:bold}
.leak{background:#e0b0f0;font-weight:bold}.skip{background:#eee;color:#888}
summary{cursor:pointer;padding:2px 6px}.traces{display:flex;gap:1em}.traces div{flex:1}
pre{background:#f7f7f7;border:1px solid #ddd;padding:6px;overflow:auto}.clause{color:#444}
section{border-top:1px solid #ddd;margin-top:1em}
</style></head><body>
"#;

/// A Chromium-family browser on PATH, if any.
fn browser() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome", "chrome"]
        .iter()
        .find_map(|name| crate::matrix::on_path(name))
}

/// Renders `report.html` in a real headless browser, when one is installed: checks that the DOM
/// the browser built has the matrix with one cell per run, and saves a screenshot as `report.png`.
/// Returns what it did, or why not.
pub fn check_in_browser(dir: &Path, runs: usize) -> Result<String, String> {
    let Some(browser) = browser() else {
        return Ok("no headless browser on PATH (install chromium to render report.html)".into());
    };
    let page = dir.join("report.html");
    let url = format!("file://{}", page.display());
    let profile = std::env::temp_dir().join(format!("xtask-chromium-{}", std::process::id()));
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let run = |extra: &[String]| {
        std::process::Command::new(&browser)
            .args(flags)
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&url)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", browser.display()))
    };
    let dom = run(&["--dump-dom".into()])?;
    let dom = String::from_utf8_lossy(&dom.stdout);
    let cells = dom.matches("<td class=\"").count();
    let screenshot = dir.join("report.png");
    let shot = run(&[
        format!("--screenshot={}", screenshot.display()),
        "--window-size=1400,1800".into(),
    ]);
    let _ = std::fs::remove_dir_all(&profile);
    shot?;
    if cells != runs {
        return Err(format!(
            "{} rendered {cells} matrix cells for {runs} runs: report.html is broken",
            browser.display()
        ));
    }
    Ok(format!(
        "rendered in {}: {cells} cells; screenshot {}",
        browser.display(),
        screenshot.display()
    ))
}
