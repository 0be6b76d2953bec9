//! The bench's results: statistics, the terminal table, the target verdicts and `bench.json`.

use std::fmt::Write as _;

use serde::Serialize;

use super::figures::{Against, Figure};
use super::subjects::Kind;

/// The counted samples of one subject in one figure, in the figure's unit.
#[derive(Debug, Clone)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub samples: Vec<f64>,
}

impl Stats {
    /// `None` without samples.
    pub fn of(samples: Vec<f64>) -> Option<Stats> {
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Some(Stats {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            samples,
        })
    }
}

/// One subject's line in a figure.
#[derive(Debug, Clone)]
pub struct Row {
    pub subject: String,
    pub kind: Kind,
    /// The statistics, or why there are none.
    pub outcome: Result<Stats, String>,
}

/// A figure and what each subject measured.
#[derive(Debug, Clone)]
pub struct FigureResult {
    pub figure: Figure,
    pub rows: Vec<Row>,
    /// Why the figure was not measured at all.
    pub skipped: Option<String>,
}

/// A target, checked against one subject.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub figure: String,
    pub against: String,
    /// `≤ 1.5× os`.
    pub target: String,
    /// reference/against, of medians; `None` if either is missing.
    pub ratio: Option<f64>,
    pub met: bool,
}

impl FigureResult {
    pub fn stats(&self, subject: &str) -> Option<&Stats> {
        self.rows
            .iter()
            .find(|r| r.subject == subject)
            .and_then(|r| r.outcome.as_ref().ok())
    }

    /// The reference's median divided by `subject`'s.
    pub fn ratio(&self, subject: &str) -> Option<f64> {
        Some(self.stats("reference")?.median / self.stats(subject)?.median)
    }

    /// The first CPython subject (the chart's), else the first Python.
    pub fn first_python(&self) -> Option<&str> {
        let pythons = || self.rows.iter().filter(|r| r.kind == Kind::Python);
        pythons()
            .find(|r| is_cpython(&r.subject))
            .or_else(|| pythons().next())
            .map(|r| r.subject.as_str())
    }

    /// The figure's target, checked against the raw OS, or against each Python.
    pub fn verdicts(&self) -> Vec<Verdict> {
        let Some(target) = self.figure.target else {
            return Vec::new();
        };
        if self.skipped.is_some() {
            return Vec::new();
        }
        if target.against == Against::PairedOs {
            let ratio = self.stats("reference").map(|s| s.median);
            return vec![Verdict {
                figure: self.figure.label(),
                against: "os (paired)".to_owned(),
                target: target.describe(self.figure.higher_is_better),
                ratio,
                met: ratio.is_some_and(|r| target.met(r, self.figure.higher_is_better)),
            }];
        }
        let against: Vec<&str> = match target.against {
            Against::PairedOs => Vec::new(),
            Against::Os => vec!["os"],
            // CPython's targets are about CPython: PyPy's ratios are in the table only.
            Against::Cpython => self
                .rows
                .iter()
                .filter(|r| r.kind == Kind::Python && is_cpython(&r.subject))
                .map(|r| r.subject.as_str())
                .collect(),
        };
        against
            .into_iter()
            .map(|subject| {
                let ratio = self.ratio(subject);
                Verdict {
                    figure: self.figure.label(),
                    against: subject.to_owned(),
                    target: target.describe(self.figure.higher_is_better),
                    ratio,
                    met: ratio.is_some_and(|r| target.met(r, self.figure.higher_is_better)),
                }
            })
            .collect()
    }
}

fn is_cpython(subject: &str) -> bool {
    subject.starts_with("cpython-")
}

/// A number with three or four significant digits; `k`, `M`, `G` from 100 000 on.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e5 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The terminal table: one block per figure, a ratio column (the reference's median ÷ the
/// subject's), and the target's verdict beside the ratio it concerns.
pub fn table(results: &[FigureResult]) -> String {
    let mut out = String::new();
    let width = results
        .iter()
        .flat_map(|f| f.rows.iter().map(|r| r.subject.len()))
        .max()
        .unwrap_or(9)
        .max(9);
    for result in results {
        let f = &result.figure;
        let better = if f.higher_is_better {
            "higher is better"
        } else {
            "lower is better"
        };
        let _ = writeln!(out, "\n{}: {} [{}, {better}]", f.label(), f.title, f.unit);
        if !f.raw.is_empty() {
            let _ = writeln!(out, "  os: {}", f.raw);
        }
        if let Some(why) = &result.skipped {
            let _ = writeln!(out, "  skipped: {why}");
            continue;
        }
        let _ = writeln!(
            out,
            "  {:<width$} {:>10} {:>10} {:>10} {:>5}  {:>11}",
            "subject", "median", "min", "max", "runs", "reference ÷"
        );
        let verdicts = result.verdicts();
        for row in &result.rows {
            match &row.outcome {
                Ok(s) => {
                    let ratio = match result.ratio(&row.subject) {
                        Some(r) if row.kind != Kind::Reference => number(r),
                        _ => String::new(),
                    };
                    let verdict = verdicts
                        .iter()
                        .find(|v| v.against == row.subject)
                        .map(|v| format!("  target {}: {}", v.target, met(v.met)))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  {:<width$} {:>10} {:>10} {:>10} {:>5}  {:>11}{verdict}",
                        row.subject,
                        number(s.median),
                        number(s.min),
                        number(s.max),
                        s.samples.len(),
                        ratio,
                    );
                }
                Err(why) => {
                    let why = why
                        .trim()
                        .replace('\n', &format!("\n  {:width$}        ", ""));
                    let _ = writeln!(out, "  {:<width$} ERROR: {why}", row.subject);
                }
            }
        }
    }
    out
}

fn met(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT MET"
    }
}

/// The targets, one line each, and a count.
pub fn targets(results: &[FigureResult]) -> String {
    let verdicts: Vec<Verdict> = results.iter().flat_map(FigureResult::verdicts).collect();
    let mut out = String::new();
    let met_count = verdicts.iter().filter(|v| v.met).count();
    let _ = writeln!(
        out,
        "targets: {met_count} of {} met (ratios of medians, reference ÷ subject)",
        verdicts.len()
    );
    let width = verdicts.iter().map(|v| v.figure.len()).max().unwrap_or(0);
    for v in &verdicts {
        let ratio = v
            .ratio
            .map_or("not measured".to_owned(), |r| format!("{r:.2}"));
        let _ = writeln!(
            out,
            "  {:<7}  {:<width$}  reference/{} = {ratio}, target {}",
            met(v.met),
            v.figure,
            v.against,
            v.target
        );
    }
    out
}

/// A record of `bench.json` (the schema is in README.md, "Benchmarks").
#[derive(Serialize)]
struct Record<'a> {
    figure: &'a str,
    subject: &'a str,
    start_method: Option<&'a str>,
    unit: &'a str,
    median: f64,
    min: f64,
    max: f64,
    runs: usize,
    higher_is_better: bool,
    samples: &'a [f64],
}

/// `bench.json`: one record per figure × subject that was measured.
pub fn json(results: &[FigureResult]) -> String {
    let records: Vec<Record> = results
        .iter()
        .flat_map(|result| {
            result.rows.iter().filter_map(move |row| {
                let s = row.outcome.as_ref().ok()?;
                Some(Record {
                    figure: result.figure.id,
                    subject: &row.subject,
                    start_method: result.figure.method,
                    unit: result.figure.unit,
                    median: s.median,
                    min: s.min,
                    max: s.max,
                    runs: s.samples.len(),
                    higher_is_better: result.figure.higher_is_better,
                    samples: &s.samples,
                })
            })
        })
        .collect();
    serde_json::to_string_pretty(&records).unwrap_or_else(|_| "[]".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::figures;

    fn row(subject: &str, kind: Kind, samples: &[f64]) -> Row {
        Row {
            subject: subject.to_owned(),
            kind,
            outcome: Stats::of(samples.to_vec()).ok_or_else(|| "none".to_owned()),
        }
    }

    fn start_join_fork() -> FigureResult {
        FigureResult {
            figure: figures::all().into_iter().next().unwrap(),
            rows: vec![
                row("reference", Kind::Reference, &[300.0, 200.0, 250.0]),
                row("cpython-3.11", Kind::Python, &[3000.0, 2000.0]),
                row("os", Kind::Os, &[100.0, 200.0, 150.0]),
            ],
            skipped: None,
        }
    }

    #[test]
    fn statistics() {
        let s = Stats::of(vec![3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Stats::of(vec![4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert!(Stats::of(Vec::new()).is_none());
    }

    #[test]
    fn ratios_and_verdicts() {
        let result = start_join_fork();
        assert_eq!(result.ratio("os"), Some(250.0 / 150.0));
        assert_eq!(result.ratio("cpython-3.11"), Some(0.1));
        let verdicts = result.verdicts();
        assert_eq!(verdicts.len(), 1);
        assert_eq!(verdicts[0].against, "os");
        assert!(!verdicts[0].met, "1.67 > 1.5");
    }

    #[test]
    fn a_paired_figure_is_judged_on_the_references_own_median() {
        let figure = figures::all()
            .into_iter()
            .find(|f| f.id == "start-join-paired" && f.method == Some("fork"))
            .unwrap();
        let result = FigureResult {
            figure,
            rows: vec![Row {
                subject: "reference".to_owned(),
                kind: Kind::Reference,
                outcome: Ok(Stats::of(vec![1.1, 1.3, 1.2]).unwrap()),
            }],
            skipped: None,
        };
        let verdicts = result.verdicts();
        assert_eq!(verdicts.len(), 1);
        assert_eq!(verdicts[0].against, "os (paired)");
        assert_eq!(verdicts[0].ratio, Some(1.2));
        assert!(verdicts[0].met, "1.2 <= 1.5");
        assert_eq!(verdicts[0].target, "≤ 1.5× os, paired");
    }

    #[test]
    fn the_table_and_the_json_have_every_subject() {
        let results = [start_join_fork()];
        let table = table(&results);
        assert!(table.contains("start-join (fork)"), "{table}");
        assert!(table.contains("target ≤ 1.5× os: NOT MET"), "{table}");
        let records: serde_json::Value = serde_json::from_str(&json(&results)).unwrap();
        let records = records.as_array().unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0]["figure"], "start-join");
        assert_eq!(records[0]["start_method"], "fork");
        assert_eq!(records[0]["median"], 250.0);
        assert_eq!(records[1]["runs"], 2);
        assert!(targets(&results).contains("0 of 1 met"));
    }

    #[test]
    fn numbers() {
        assert_eq!(number(1.23456), "1.235");
        assert_eq!(number(243.14), "243.1");
        assert_eq!(number(3210.4), "3210");
        assert_eq!(number(1_234_567.0), "1.23M");
        assert_eq!(number(260_000.0), "260.0k");
        assert_eq!(number(123_456_789.0), "123.46M");
    }
}
