//! The reports of a `results.json`: the terminal summary (and the full table on request),
//! `junit.xml`, and `report.html` (see [`crate::html`]). They are made from the file alone, so
//! `cargo xtask report merge` renders runs from other machines exactly as a local run.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use conformance::{Catalog, Outcome, StartMethod, Version};

use crate::results::{Record, ResultsFile};

/// One column: an implementation under one start method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub implementation: String,
    pub method: String,
}

/// A results file laid out as a matrix, with the catalog it was run from (when this checkout
/// has it) for statements, clause texts and file names.
pub struct Matrix<'a> {
    pub file: &'a ResultsFile,
    pub rows: Vec<String>,
    pub columns: Vec<Column>,
    pub catalog: Option<&'a Catalog>,
    cells: HashMap<(&'a str, &'a str, &'a str), &'a Record>,
}

/// Compact cell text for an outcome: upper case where it needs attention.
pub fn cell(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Fail => "FAIL",
        Outcome::Xfail => "xfail",
        Outcome::Xpass => "XPASS",
        Outcome::Skip => "skip",
        Outcome::Timeout => "TIMEOUT",
        Outcome::Leak => "LEAK",
        Outcome::Error => "ERROR",
    }
}

/// Every outcome, in the order summaries list them.
pub const OUTCOMES: [Outcome; 8] = [
    Outcome::Pass,
    Outcome::Xfail,
    Outcome::Skip,
    Outcome::Fail,
    Outcome::Xpass,
    Outcome::Timeout,
    Outcome::Leak,
    Outcome::Error,
];

impl<'a> Matrix<'a> {
    pub fn new(file: &'a ResultsFile, catalog: Option<&'a Catalog>) -> Matrix<'a> {
        let runs: Vec<&Record> = file.results.iter().filter(|r| !r.is_whole_run()).collect();
        let mut implementations: Vec<&str> = file
            .run
            .implementations
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        for r in &runs {
            if !implementations.contains(&r.implementation.as_str()) {
                implementations.push(&r.implementation);
            }
        }
        let profile = |name: &str| {
            file.run
                .implementations
                .iter()
                .find(|i| i.name == name)
                .map(|i| i.profile.as_str())
        };
        implementations.sort_by_key(|name| column_rank(name, profile(name)));
        let mut columns = Vec::new();
        for imp in implementations {
            let mut methods: Vec<&str> = runs
                .iter()
                .filter(|r| r.implementation == imp)
                .map(|r| r.start_method.as_str())
                .collect();
            methods.sort_by_key(|m| StartMethod::ALL.iter().position(|x| x.as_str() == *m));
            methods.dedup();
            columns.extend(methods.into_iter().map(|m| Column {
                implementation: imp.to_owned(),
                method: m.to_owned(),
            }));
        }
        let order: HashMap<&str, usize> = catalog
            .map(|c| {
                c.scenarios
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.id.as_str(), i))
                    .collect()
            })
            .unwrap_or_default();
        let mut rows: Vec<String> = Vec::new();
        for r in &runs {
            if !rows.contains(&r.scenario) {
                rows.push(r.scenario.clone());
            }
        }
        rows.sort_by_key(|id| order.get(id.as_str()).copied().unwrap_or(usize::MAX));
        let cells = runs.iter().map(|r| (r.key(), *r)).collect();
        Matrix {
            file,
            rows,
            columns,
            catalog,
            cells,
        }
    }

    pub fn result(&self, scenario: &str, column: &Column) -> Option<&'a Record> {
        self.cells
            .get(&(
                scenario,
                column.implementation.as_str(),
                column.method.as_str(),
            ))
            .copied()
    }

    pub fn in_column<'b>(&'b self, c: &'b Column) -> impl Iterator<Item = &'a Record> + 'b {
        self.rows.iter().filter_map(move |row| self.result(row, c))
    }

    /// `N pass, N xfail, ...` for these records, nonzero counts only.
    pub fn counts<'r>(records: impl Iterator<Item = &'r Record>) -> String {
        let mut n: HashMap<Outcome, usize> = HashMap::new();
        for r in records {
            *n.entry(r.outcome).or_default() += 1;
        }
        let parts: Vec<String> = OUTCOMES
            .iter()
            .filter_map(|o| n.get(o).map(|k| format!("{k} {}", cell(*o))))
            .collect();
        if parts.is_empty() {
            "nothing run".into()
        } else {
            parts.join(", ")
        }
    }

    /// One row per scenario, one column per implementation × start method.
    pub fn table(&self) -> String {
        let w_id = self.rows.iter().map(String::len).max().unwrap_or(8).max(11);
        let widths: Vec<usize> = self
            .columns
            .iter()
            .map(|c| c.implementation.len().max(c.method.len()).max(7))
            .collect();
        let mut out = String::new();
        let _ = write!(out, "{:<w_id$}", "");
        for (c, w) in self.columns.iter().zip(&widths) {
            let _ = write!(out, "  {:<w$}", c.implementation);
        }
        let _ = write!(out, "\n{:<w_id$}", "scenario");
        for (c, w) in self.columns.iter().zip(&widths) {
            let _ = write!(out, "  {:<w$}", c.method);
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
        let _ = write!(out, "{:<w_id$}", "as expected");
        for (c, w) in self.columns.iter().zip(&widths) {
            let (ok, ran) = self.as_expected(c);
            let _ = write!(out, "  {:<w$}", format!("{ok}/{ran}"));
        }
        out.push('\n');
        out
    }

    /// Of a column's runs that were not skipped: how many are as expected, and how many.
    pub fn as_expected(&self, c: &Column) -> (usize, usize) {
        let ran: Vec<&Record> = self
            .in_column(c)
            .filter(|r| r.outcome != Outcome::Skip)
            .collect();
        (ran.iter().filter(|r| r.outcome.is_ok()).count(), ran.len())
    }

    /// The summary, within 80 columns: a line per column, then the totals and the verdict.
    pub fn summary(&self) -> String {
        let w_imp = self
            .columns
            .iter()
            .map(|c| c.implementation.len())
            .max()
            .unwrap_or(9)
            .clamp(9, 26);
        let mut out = String::new();
        for c in &self.columns {
            let (ok, ran) = self.as_expected(c);
            let _ = writeln!(
                out,
                "  {:<w_imp$} {:<10} {ok:>3}/{ran:<3} as expected  {}",
                truncate(&c.implementation, w_imp),
                c.method,
                Self::counts(self.in_column(c).filter(|r| r.outcome != Outcome::Pass))
                    .replace("nothing run", "")
            );
        }
        for r in self.file.results.iter().filter(|r| r.is_whole_run()) {
            let _ = writeln!(
                out,
                "  {}: {} {}",
                r.scenario,
                cell(r.outcome),
                r.implementation
            );
        }
        let left: Vec<&Record> = self
            .file
            .results
            .iter()
            .filter(|r| !r.stray_shm.is_empty())
            .collect();
        if !left.is_empty() {
            let _ = writeln!(
                out,
                "  left in /dev/shm (removed): {} entries by {} runs",
                left.iter().map(|r| r.stray_shm.len()).sum::<usize>(),
                left.len()
            );
        }
        let verdict = if self.file.setup_failed() {
            "SET-UP ERRORS"
        } else if self.file.ok() {
            "every result as expected"
        } else {
            "UNEXPECTED RESULTS"
        };
        let runs = self.file.results.iter().filter(|r| !r.is_whole_run());
        let _ = writeln!(out, "{}: {verdict}", Self::counts(runs));
        out
    }

    /// Each unexpected result with its message (without the traces the diff shows), indented.
    pub fn unexpected(&self) -> String {
        let mut out = String::new();
        for r in self.file.results.iter().filter(|r| !r.outcome.is_ok()) {
            let _ = writeln!(out, "\n{}", headline(r));
            out.push_str(&crate::workspace::indent(
                &without_traces(&r.message).join("\n"),
            ));
            if let Some(left) = stray_line(r) {
                out.push_str(&crate::workspace::indent(&left));
            }
        }
        out
    }

    /// The expected-outcome file of a run, relative to the scenarios directory.
    /// The expected-outcome file a run was judged against: its variant's, or the main one.
    pub fn expected_file(
        &self,
        scenario: &str,
        method: &str,
        variant: Option<&str>,
    ) -> Option<String> {
        let s = self.catalog?.get(scenario)?;
        let m: StartMethod = method.parse().ok()?;
        let variant = variant.and_then(|name| s.variants.iter().find(|v| v.name == name));
        Some(format!("expected/{}", s.expected_file_name_for(m, variant)))
    }

    pub fn write_reports(&self, dir: &Path, links: &Links) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("results.json"), self.file.to_json())?;
        std::fs::write(dir.join("junit.xml"), self.junit())?;
        std::fs::write(dir.join("report.html"), crate::html::render(self, links))?;
        Ok(())
    }

    fn junit(&self) -> String {
        use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
        let mut report = Report::new("conformance");
        report.set_time(Duration::from_secs_f64(self.file.run.seconds.max(0.0)));
        let mut suites: Vec<(String, TestSuite)> = Vec::new();
        let whole_run: Vec<&Record> = self
            .file
            .results
            .iter()
            .filter(|r| r.is_whole_run())
            .collect();
        let mut groups: Vec<(String, Vec<&Record>)> = self
            .columns
            .iter()
            .map(|c| {
                (
                    format!("{} {}", c.implementation, c.method),
                    self.in_column(c).collect(),
                )
            })
            .collect();
        if !whole_run.is_empty() {
            groups.insert(0, ("run".into(), whole_run));
        }
        for (name, records) in groups {
            let mut suite = TestSuite::new(name.clone());
            let mut time = 0.0;
            for r in records {
                let first_line = r.message.lines().next().unwrap_or("").to_owned();
                let status = match r.outcome {
                    Outcome::Pass => TestCaseStatus::success(),
                    // As pytest writes them: an expected failure is a skip of type xfail.
                    Outcome::Xfail | Outcome::Skip => {
                        let mut s = TestCaseStatus::skipped();
                        s.set_type(r.outcome.as_str());
                        s.set_message(format!("{}: {first_line}", r.outcome));
                        s.set_description(r.message.clone());
                        s
                    }
                    other => {
                        let kind = if other == Outcome::Error {
                            NonSuccessKind::Error
                        } else {
                            NonSuccessKind::Failure
                        };
                        let mut s = TestCaseStatus::non_success(kind);
                        s.set_type(other.as_str());
                        s.set_message(format!("{}: {first_line}", other));
                        s.set_description(r.message.clone());
                        s
                    }
                };
                let mut case = TestCase::new(r.scenario.clone(), status);
                case.set_classname(format!("{}.{}", r.implementation, r.start_method));
                case.set_time(Duration::from_secs_f64(r.seconds.max(0.0)));
                if let Some(actual) = &r.actual {
                    case.set_system_out(actual.clone());
                }
                if let Some(isolation) = r.shm_isolation {
                    case.add_property(Property::new("shm_isolation", isolation.as_str()));
                }
                for entry in &r.stray_shm {
                    case.add_property(Property::new("stray_shm", entry.as_str()));
                }
                if let Some(signal) = &r.ended_by {
                    case.add_property(Property::new("ended_by", signal.as_str()));
                }
                time += r.seconds.max(0.0);
                suite.add_test_case(case);
            }
            suite.set_time(Duration::from_secs_f64(time));
            suites.push((name, suite));
        }
        report.add_test_suites(suites.into_iter().map(|(_, s)| s));
        report.to_string().unwrap_or_default()
    }
}

/// `left in /dev/shm (removed; found by namespace): NAME, NAME`, for a run that left entries.
pub fn stray_line(r: &Record) -> Option<String> {
    (!r.stray_shm.is_empty()).then(|| {
        format!(
            "left in /dev/shm (removed; found by {}): {}",
            r.shm_isolation.map_or("snapshot", |i| i.as_str()),
            r.stray_shm.join(", ")
        )
    })
}

/// A run's message without its `expected:` and `actual:` paragraphs, which repeat what the
/// diff above them says (the traces themselves are in the record and the report).
pub fn without_traces(message: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_trace = false;
    for line in message.lines() {
        if line == "expected:" || line == "actual:" {
            in_trace = true;
        } else if !(in_trace && line.starts_with("    ")) {
            in_trace = false;
            out.push(line);
        }
    }
    out
}

/// `FAIL cpython-3.11.7 spawn exit-code (0.52 s)`.
pub fn headline(r: &Record) -> String {
    if r.is_whole_run() {
        return format!("{} {} {}", cell(r.outcome), r.scenario, r.implementation);
    }
    format!(
        "{} {} {} {} ({:.2} s)",
        cell(r.outcome),
        r.implementation,
        r.start_method,
        r.scenario,
        r.seconds
    )
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(width - 1).collect();
        t.push('…');
        t
    }
}

/// Where the report's links to the scenarios' files and the spec go: a URL prefix such as
/// `https://github.com/o/r/blob/<commit>/` or, by default, this checkout's directory.
pub struct Links {
    pub base: String,
}

impl Links {
    pub fn new(base: Option<&str>) -> Links {
        let base = match base {
            Some(b) if b.ends_with('/') => b.to_owned(),
            Some(b) => format!("{b}/"),
            None => format!("file://{}/", crate::workspace::root().display()),
        };
        Links { base }
    }

    pub fn to(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The report directory: relative paths are relative to the workspace root.
pub fn report_dir(dir: &Path) -> PathBuf {
    if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        crate::workspace::root().join(dir)
    }
}

/// The family of an implementation name (`cpython-3.11.7` is `cpython`).
pub fn family(name: &str) -> &str {
    name.split_once('-').map_or(name, |(f, _)| f)
}

/// Orders columns for the page and the terminal: the reference, CPython by version, PyPy by
/// version, then the rest by name; start methods in the suite's order.
pub fn column_rank(implementation: &str, profile: Option<&str>) -> (u8, Option<Version>, String) {
    let rank = match family(implementation) {
        "reference" => 0,
        "cpython" => 1,
        "pypy" => 2,
        _ => 3,
    };
    (
        rank,
        profile.and_then(|p| p.parse().ok()),
        implementation.to_owned(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn without_traces_keeps_the_diff_and_the_stderr_tail() {
        let message = "trace differs (- expected, + actual):\n- a\n+ b\nexpected:\n    exit: 0\n    a\nactual:\n    exit: 0\n    b\ncommand: x\nstderr (last 20 lines):\n    boom";
        assert_eq!(
            super::without_traces(message),
            [
                "trace differs (- expected, + actual):",
                "- a",
                "+ b",
                "command: x",
                "stderr (last 20 lines):",
                "    boom"
            ]
        );
    }
}
