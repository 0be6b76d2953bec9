//! Known deviations: what an implementation declares it does differently, and how a run's
//! judgement takes them into account.
//!
//! A `[[deviation]]` (in an adapter manifest, or in `scenarios/deviations.toml` for the built-in
//! implementations) names a scenario, the start methods it concerns, why it deviates and from
//! which clause of SPEC.md. It may also pin the deviant outcome itself, so that a *different*
//! failure of the same scenario still fails:
//!
//! ```toml
//! [[deviation]]
//! scenario = "queue-unserializable-item"
//! method = ["spawn", "forkserver"]   # one method, a list, or every method when absent
//! kind = "deviation"                 # deviation | implementation-defined | not-applicable
//! outcome = "fail"                   # fail | leak | timeout: the outcome it has (optional)
//! exit = 0                           # optional: the exit status it has (implies outcome = "fail")
//! lines = ["put: Serialization *"]   # optional: its normalized trace, `*` matches any text
//! reason = "why, in a sentence or two"
//! clause = "IPC-8"                   # a clause SPEC.md defines
//! ```
//!
//! A run it concerns that passes is `xpass` (remove the entry). One that ends as the deviation
//! says (any failure or timeout when nothing is pinned) is `xfail`; one that ends otherwise
//! keeps its own outcome, with the deviation named in its message. A `leak` is `xfail` only when
//! pinned with `outcome = "leak"`: what a run leaves behind is killed or removed either way, but
//! it is declared, not hidden. An `error` (the run could not be judged) is never excused. A
//! `not-applicable` deviation skips the run, with its reason.
//!
//! ```
//! use conformance::{Deviation, Outcome, StartMethod};
//! let d: Deviation = toml::from_str(
//!     r#"
//!     scenario = "s"
//!     method = ["fork", "spawn"]
//!     lines = ["start P1", "error: *"]
//!     reason = "r"
//!     clause = "PROC-1"
//!     "#,
//! )
//! .unwrap();
//! assert!(d.concerns("s", StartMethod::Spawn) && !d.concerns("s", StartMethod::Forkserver));
//! let trace = ["start P1".to_string(), "error: ValueError".to_string()];
//! assert!(d.matches(Outcome::Fail, Some(0), &trace));
//! assert!(!d.matches(Outcome::Fail, Some(0), &trace[..1]));
//! assert!(!d.matches(Outcome::Timeout, None, &trace));
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::method::StartMethod;
use crate::run::Outcome;

/// What sort of difference a deviation is, shown in reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviationKind {
    /// The implementation does what the clause forbids, for a reason it gives.
    #[default]
    Deviation,
    /// The clause leaves the behaviour to the implementation, and this one behaves otherwise
    /// than CPython.
    ImplementationDefined,
    /// The scenario does not apply to the implementation: its runs are skipped with the reason.
    NotApplicable,
}

impl DeviationKind {
    /// Its name in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviationKind::Deviation => "deviation",
            DeviationKind::ImplementationDefined => "implementation-defined",
            DeviationKind::NotApplicable => "not-applicable",
        }
    }
}

impl fmt::Display for DeviationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome a deviation may pin: the runs it concerns end so, or they are not excused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviantOutcome {
    /// The exit status or the trace differs from the expected outcome.
    Fail,
    /// It leaves processes or `/dev/shm` entries behind.
    Leak,
    /// It does not end within its timeout.
    Timeout,
}

impl DeviantOutcome {
    /// The run outcome it stands for.
    pub fn outcome(self) -> Outcome {
        match self {
            DeviantOutcome::Fail => Outcome::Fail,
            DeviantOutcome::Leak => Outcome::Leak,
            DeviantOutcome::Timeout => Outcome::Timeout,
        }
    }

    /// The deviant outcome of a run outcome, when it has one.
    pub fn of(outcome: Outcome) -> Option<DeviantOutcome> {
        match outcome {
            Outcome::Fail => Some(DeviantOutcome::Fail),
            Outcome::Leak => Some(DeviantOutcome::Leak),
            Outcome::Timeout => Some(DeviantOutcome::Timeout),
            _ => None,
        }
    }
}

/// A known deviation of an implementation from the expected outcome of a scenario (see the
/// [module documentation](self) for the keys and how runs are judged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawDeviation", into = "RawDeviation")]
pub struct Deviation {
    /// The scenario id.
    pub scenario: String,
    /// The start methods it concerns; empty for every method.
    pub methods: Vec<StartMethod>,
    /// What sort of difference it is.
    pub kind: DeviationKind,
    /// The outcome its runs have, when pinned (also when only `exit` or `lines` are given:
    /// then it is `fail`).
    pub outcome: Option<DeviantOutcome>,
    /// The exit status its runs have, when pinned.
    pub exit: Option<i32>,
    /// The normalized trace its runs print, when pinned: one pattern a line, `*` matching any
    /// text (`**` a literal `*`).
    pub lines: Option<Vec<String>>,
    /// Why it deviates.
    pub reason: String,
    /// The clause of SPEC.md it deviates from.
    pub clause: String,
}

impl Deviation {
    /// A deviation of every method of `scenario` from `clause`, nothing pinned.
    ///
    /// ```
    /// use conformance::{Deviation, StartMethod};
    /// let d = Deviation::new("s", "LIFE-1", "why").with_methods(&[StartMethod::Fork]);
    /// assert!(d.concerns("s", StartMethod::Fork) && !d.concerns("s", StartMethod::Spawn));
    /// ```
    pub fn new(
        scenario: impl Into<String>,
        clause: impl Into<String>,
        reason: impl Into<String>,
    ) -> Deviation {
        Deviation {
            scenario: scenario.into(),
            methods: Vec::new(),
            kind: DeviationKind::Deviation,
            outcome: None,
            exit: None,
            lines: None,
            reason: reason.into(),
            clause: clause.into(),
        }
    }

    /// Restricted to these start methods (builder style; none means every method).
    pub fn with_methods(mut self, methods: &[StartMethod]) -> Deviation {
        self.methods = methods.to_vec();
        self
    }

    /// Of this kind (builder style).
    pub fn with_kind(mut self, kind: DeviationKind) -> Deviation {
        self.kind = kind;
        self
    }

    /// With this outcome pinned (builder style).
    pub fn with_outcome(mut self, outcome: DeviantOutcome) -> Deviation {
        self.outcome = Some(outcome);
        self
    }

    /// With this normalized trace pinned (builder style; `*` matches any text).
    pub fn with_lines<I: IntoIterator<Item = S>, S: Into<String>>(mut self, lines: I) -> Deviation {
        self.lines = Some(lines.into_iter().map(Into::into).collect());
        self
    }

    /// Whether it concerns `scenario` under `method`.
    pub fn concerns(&self, scenario: &str, method: StartMethod) -> bool {
        self.scenario == scenario && (self.methods.is_empty() || self.methods.contains(&method))
    }

    /// The outcome it pins: the `outcome` key, or `fail` when only `exit` or `lines` are given.
    pub fn pinned_outcome(&self) -> Option<DeviantOutcome> {
        self.outcome.or_else(|| {
            (self.exit.is_some() || self.lines.is_some()).then_some(DeviantOutcome::Fail)
        })
    }

    /// Whether a run that ended with `outcome`, exit status `exit` (`None` when it timed out)
    /// and normalized trace `lines` is the deviation described: when nothing is pinned, any
    /// `fail` or `timeout`; else the pinned outcome, exit status and trace.
    pub fn matches(&self, outcome: Outcome, exit: Option<i32>, lines: &[String]) -> bool {
        let Some(pinned) = self.pinned_outcome() else {
            return matches!(outcome, Outcome::Fail | Outcome::Timeout);
        };
        pinned.outcome() == outcome
            && self.exit.is_none_or(|e| exit == Some(e))
            && self.lines.as_ref().is_none_or(|p| lines_match(p, lines))
    }

    /// How a run's message names it: `listed as a deviation from IPC-8 in <implementation>`,
    /// the kind when it is not a plain deviation, and the reason.
    pub fn describe(&self, implementation: &str) -> String {
        let kind = match self.kind {
            DeviationKind::Deviation => "a deviation".to_string(),
            k => format!("a deviation ({k})"),
        };
        format!(
            "listed as {kind} from {} in {implementation}: {}",
            self.clause, self.reason
        )
    }

    /// What it pins, in words, for a message (`outcome fail with exit 1 and its trace`).
    fn pinned_words(&self) -> String {
        let mut words = match self.pinned_outcome() {
            Some(o) => format!("outcome {}", o.outcome()),
            None => "a fail or a timeout".into(),
        };
        if let Some(e) = self.exit {
            words.push_str(&format!(", exit status {e}"));
        }
        if let Some(lines) = &self.lines {
            words.push_str(&format!(
                ", and the trace:\n{}",
                lines
                    .iter()
                    .map(|l| format!("    {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        words
    }
}

/// A run's judgement with its deviation taken into account: the new outcome, and the paragraph
/// to put first in its message (empty when the deviation changes nothing).
///
/// ```
/// use conformance::{Deviation, Outcome};
/// use conformance::deviation::judge;
/// let d = Deviation::new("s", "LIFE-1", "why").with_lines(["one"]);
/// assert_eq!(judge(&d, "x", Outcome::Fail, Some(0), &["one".into()]).0, Outcome::Xfail);
/// let (outcome, note) = judge(&d, "x", Outcome::Fail, Some(0), &["two".into()]);
/// assert_eq!(outcome, Outcome::Fail);
/// assert!(note.contains("another failure"), "{note}");
/// assert_eq!(judge(&d, "x", Outcome::Pass, Some(0), &[]).0, Outcome::Xpass);
/// ```
pub fn judge(
    deviation: &Deviation,
    implementation: &str,
    outcome: Outcome,
    exit: Option<i32>,
    lines: &[String],
) -> (Outcome, String) {
    let listed = deviation.describe(implementation);
    match outcome {
        Outcome::Pass => (
            Outcome::Xpass,
            format!("passed although {listed}; remove the [[deviation]] entry"),
        ),
        Outcome::Fail | Outcome::Timeout | Outcome::Leak => {
            if deviation.matches(outcome, exit, lines) {
                (Outcome::Xfail, listed)
            } else if deviation.pinned_outcome().is_none() && outcome == Outcome::Leak {
                (
                    Outcome::Leak,
                    format!(
                        "{listed}; but a deviation excuses a leak only when it pins it: add \
                         outcome = \"leak\" to the entry if this leak is the deviation"
                    ),
                )
            } else {
                (
                    outcome,
                    format!(
                        "{listed}; but the entry pins {}\nthis run ended otherwise: another \
                         failure, not the one declared",
                        deviation.pinned_words()
                    ),
                )
            }
        }
        Outcome::Xfail | Outcome::Xpass | Outcome::Skip | Outcome::Error => {
            (outcome, String::new())
        }
    }
}

/// Whether `lines` match the `patterns` one for one (`*` any text, `**` a literal `*`).
pub fn lines_match(patterns: &[String], lines: &[String]) -> bool {
    patterns.len() == lines.len()
        && patterns
            .iter()
            .zip(lines)
            .all(|(p, l)| line_pattern(p).is_ok_and(|re| re.is_match(l)))
}

/// The regular expression of a line pattern. Every literal part is escaped, so it always
/// compiles; were it not to, the line would not match.
fn line_pattern(pattern: &str) -> Result<regex::Regex, regex::Error> {
    let body = pattern
        .split("**")
        .map(|part| {
            part.split('*')
                .map(regex::escape)
                .collect::<Vec<_>>()
                .join(".*")
        })
        .collect::<Vec<_>>()
        .join(r"\*");
    regex::Regex::new(&format!("^(?s:{body})$"))
}

/// One start method, or a list of them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
enum MethodOrMethods {
    One(String),
    Many(Vec<String>),
}

/// The keys of a `[[deviation]]` table as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct RawDeviation {
    scenario: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    method: Option<MethodOrMethods>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<DeviationKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<DeviantOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lines: Option<Vec<String>>,
    reason: String,
    clause: String,
}

impl TryFrom<RawDeviation> for Deviation {
    type Error = String;

    fn try_from(raw: RawDeviation) -> Result<Deviation, String> {
        let at = format!("deviation for scenario \"{}\"", raw.scenario);
        let names = match raw.method {
            None => Vec::new(),
            Some(MethodOrMethods::One(m)) => vec![m],
            Some(MethodOrMethods::Many(ms)) if ms.is_empty() => {
                return Err(format!(
                    "{at}: `method` is an empty list: list the start methods, or remove the key \
                     to mean every method"
                ))
            }
            Some(MethodOrMethods::Many(ms)) => ms,
        };
        let mut methods = Vec::new();
        for name in names {
            let m = StartMethod::from_str(&name).map_err(|e| format!("{at}: `method`: {e}"))?;
            if methods.contains(&m) {
                return Err(format!("{at}: `method`: {m} is listed twice"));
            }
            methods.push(m);
        }
        let kind = raw.kind.unwrap_or_default();
        if raw.exit.is_some() && raw.outcome.is_some_and(|o| o != DeviantOutcome::Fail) {
            return Err(format!(
                "{at}: `exit` pins the exit status of a run that ended by itself: it goes with \
                 outcome = \"fail\" only"
            ));
        }
        if kind == DeviationKind::NotApplicable
            && (raw.outcome.is_some() || raw.exit.is_some() || raw.lines.is_some())
        {
            return Err(format!(
                "{at}: a not-applicable deviation skips its runs, so it pins no outcome: remove \
                 `outcome`, `exit` and `lines`, or make it kind = \"deviation\""
            ));
        }
        if raw.reason.trim().is_empty() {
            return Err(format!("{at}: `reason` is empty: say why it deviates"));
        }
        if raw.clause.trim().is_empty() {
            return Err(format!(
                "{at}: `clause` is empty: name the clause of SPEC.md it deviates from"
            ));
        }
        Ok(Deviation {
            scenario: raw.scenario,
            methods,
            kind,
            outcome: raw.outcome,
            exit: raw.exit,
            lines: raw.lines,
            reason: raw.reason,
            clause: raw.clause,
        })
    }
}

impl From<Deviation> for RawDeviation {
    fn from(d: Deviation) -> RawDeviation {
        let method = match &d.methods[..] {
            [] => None,
            [m] => Some(MethodOrMethods::One(m.to_string())),
            ms => Some(MethodOrMethods::Many(
                ms.iter().map(ToString::to_string).collect(),
            )),
        };
        RawDeviation {
            scenario: d.scenario,
            method,
            kind: (d.kind != DeviationKind::Deviation).then_some(d.kind),
            outcome: d.outcome,
            exit: d.exit,
            lines: d.lines,
            reason: d.reason,
            clause: d.clause,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn patterns_match_whole_lines_with_stars() {
        assert!(lines_match(&s(&["a * c"]), &s(&["a b c"])));
        assert!(lines_match(&s(&["a * c"]), &s(&["a  c"])));
        assert!(!lines_match(&s(&["a * c"]), &s(&["a b c d"])));
        assert!(lines_match(&s(&["x ** y"]), &s(&["x * y"])));
        assert!(!lines_match(&s(&["x ** y"]), &s(&["x z y"])));
        assert!(lines_match(&s(&["(.)[?]"]), &s(&["(.)[?]"])));
        assert!(!lines_match(&s(&["a"]), &s(&["a", "b"])));
    }

    #[test]
    fn the_old_single_method_syntax_still_reads() {
        let d: Deviation = toml::from_str(
            "scenario = \"s\"\nmethod = \"spawn\"\nreason = \"r\"\nclause = \"C-1\"",
        )
        .unwrap();
        assert_eq!(d.methods, [StartMethod::Spawn]);
        assert_eq!(d.kind, DeviationKind::Deviation);
        assert_eq!(d.pinned_outcome(), None);
    }

    #[test]
    fn bad_entries_say_what_to_write() {
        let err = |text: &str| toml::from_str::<Deviation>(text).unwrap_err().to_string();
        let e = err("scenario = \"s\"\nmethod = []\nreason = \"r\"\nclause = \"C-1\"");
        assert!(e.contains("`method` is an empty list"), "{e}");
        let e = err(
            "scenario = \"s\"\nmethod = [\"fork\", \"fork\"]\nreason = \"r\"\nclause = \"C-1\"",
        );
        assert!(e.contains("fork is listed twice"), "{e}");
        let e = err(
            "scenario = \"s\"\nkind = \"not-applicable\"\noutcome = \"leak\"\nreason = \"r\"\n\
             clause = \"C-1\"",
        );
        assert!(e.contains("pins no outcome"), "{e}");
        let e = err("scenario = \"s\"\noutcome = \"hang\"\nreason = \"r\"\nclause = \"C-1\"");
        assert!(e.contains("unknown variant `hang`"), "{e}");
    }

    #[test]
    fn a_leak_is_excused_only_when_pinned() {
        let d = Deviation::new("s", "C-1", "r");
        let (o, note) = judge(&d, "i", Outcome::Leak, Some(0), &[]);
        assert_eq!(o, Outcome::Leak);
        assert!(note.contains("outcome = \"leak\""), "{note}");
        let d = d.with_outcome(DeviantOutcome::Leak);
        assert_eq!(
            judge(&d, "i", Outcome::Leak, Some(0), &[]).0,
            Outcome::Xfail
        );
        assert_eq!(judge(&d, "i", Outcome::Fail, Some(0), &[]).0, Outcome::Fail);
        assert_eq!(judge(&d, "i", Outcome::Error, None, &[]).0, Outcome::Error);
    }
}
