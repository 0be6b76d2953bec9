//! The trace format (SPEC.md 0.2) and expected outcomes (SPEC.md 0.4).
//!
//! A trace is what a scenario prints on stdout. Values that differ from run to run are printed
//! tagged, `{pid:12345}`, and [`normalize`] names them by order of first appearance:
//!
//! ```
//! use conformance::trace::normalize;
//! let out = "{pid:100} parent of {pid:200}\n\n{pid:200}  \n{num:0.25}s\n";
//! assert_eq!(normalize(out, false), ["P1 parent of P2", "P2", "Ns"]);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The kinds of tagged value, and the prefix of the names they normalize to.
const KINDS: &[(&str, &str)] = &[
    ("pid", "P"),
    ("shm", "SHM"),
    ("path", "PATH"),
    ("addr", "ADDR"),
    ("num", "N"),
];

/// A piece of a trace line: literal text, or a tagged value of a known kind.
enum Piece<'a> {
    Text(&'a str),
    Tag { kind: &'a str, value: &'a str },
}

/// Split a line into literal text and tagged values `{kind:value}`. A brace group whose kind is
/// not one of the five known ones (a Python dict, say) stays literal text.
fn pieces(line: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = line;
    let mut text_start = 0usize;
    let mut offset = 0usize;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let tag = KINDS.iter().find_map(|(kind, _)| {
            let body = after.strip_prefix(kind)?.strip_prefix(':')?;
            let close = body.find('}')?;
            Some((*kind, &body[..close], kind.len() + 1 + close + 1))
        });
        match tag {
            Some((kind, value, len)) => {
                let start = offset + open;
                if start > text_start {
                    out.push(Piece::Text(&line[text_start..start]));
                }
                out.push(Piece::Tag { kind, value });
                let end = start + 1 + len;
                text_start = end;
                offset = end;
                rest = &line[end..];
            }
            None => {
                offset += open + 1;
                rest = &line[offset..];
            }
        }
    }
    if text_start < line.len() {
        out.push(Piece::Text(&line[text_start..]));
    }
    out
}

/// The line with every tagged value replaced by its kind alone (`{pid}`): the sort key of
/// unordered traces.
pub fn mask(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for p in pieces(line) {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Tag { kind, .. } => {
                out.push('{');
                out.push_str(kind);
                out.push('}');
            }
        }
    }
    out
}

/// The trace lines of raw stdout: trailing whitespace removed, empty lines dropped.
pub fn trace_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Normalize raw stdout per SPEC.md 0.2.
///
/// Each distinct value of a kind becomes a name numbered by first appearance (`P1`, `SHM1`,
/// `PATH1`, `ADDR1`; every `num` becomes `N`). When `unordered`, the raw lines are first sorted by
/// their masked text ([`mask`]; ties keep their printed order), then numbered, so the numbering
/// does not depend on the order in which processes printed.
///
/// ```
/// use conformance::trace::normalize;
/// // Two children print in either order: the normalized result is the same.
/// let a = "child {pid:7} of {pid:1}\nparent {pid:1}\n";
/// let b = "parent {pid:1}\nchild {pid:7} of {pid:1}\n";
/// assert_eq!(normalize(a, true), normalize(b, true));
/// assert_eq!(normalize(b, true), ["child P1 of P2", "parent P2"]);
/// ```
pub fn normalize(stdout: &str, unordered: bool) -> Vec<String> {
    let mut lines = trace_lines(stdout);
    if unordered {
        // A stable sort: lines with the same masked text keep their printed order.
        lines.sort_by_cached_key(|l| mask(l));
    }
    let mut names: HashMap<(&str, &str), String> = HashMap::new();
    let mut counters: HashMap<&str, usize> = HashMap::new();
    lines
        .iter()
        .map(|line| {
            let mut out = String::with_capacity(line.len());
            for p in pieces(line) {
                match p {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Tag { kind, value } => {
                        let prefix = KINDS
                            .iter()
                            .find(|(k, _)| *k == kind)
                            .map_or("?", |(_, p)| *p);
                        if kind == "num" {
                            out.push_str(prefix);
                            continue;
                        }
                        let name = names.entry((kind, value)).or_insert_with(|| {
                            let n = counters.entry(kind).or_insert(0);
                            *n += 1;
                            format!("{prefix}{n}")
                        });
                        out.push_str(name);
                    }
                }
            }
            out
        })
        .collect()
}

/// An expected (or actual) outcome: the exit status and the normalized trace.
///
/// The exit status is the exit code, or minus the signal number for a program killed by a
/// signal (as Python's `Process.exitcode`).
///
/// ```
/// use conformance::Expected;
/// let e = Expected::parse("---\nsource: x\n---\nexit: 1\n---\nP1 started\n", "x.snap").unwrap();
/// assert_eq!(e, Expected { exit: 1, lines: vec!["P1 started".into()] });
/// assert_eq!(e.render(), "exit: 1\n---\nP1 started\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expected {
    /// The exit status.
    pub exit: i32,
    /// The normalized trace lines.
    pub lines: Vec<String>,
}

/// Why an expected-outcome file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ExpectedError {
    /// The file could not be read.
    #[error("{path}: cannot read the expected outcome: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not in the format of SPEC.md 0.4.
    #[error("{path}: line {line}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong and what to write instead.
        message: String,
    },
}

impl Expected {
    /// Read an insta `.snap` file (a YAML header between `---` lines, then the content).
    pub fn load(path: impl AsRef<Path>) -> Result<Expected, ExpectedError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ExpectedError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Expected::parse(&text, path)
    }

    /// Parse `.snap` text; `origin` names it in errors. A file without the header (starting
    /// directly with `exit:`) is accepted too.
    pub fn parse(text: &str, origin: impl AsRef<Path>) -> Result<Expected, ExpectedError> {
        let err = |line: usize, message: String| ExpectedError::Format {
            path: origin.as_ref().to_path_buf(),
            line,
            message,
        };
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        if lines.first().map(|l| l.trim_end()) == Some("---") {
            // Skip the header: up to the next `---`.
            i = 1;
            while i < lines.len() && lines[i].trim_end() != "---" {
                i += 1;
            }
            if i == lines.len() {
                return Err(err(
                    1,
                    "the header opened by `---` is never closed: end it with a `---` line".into(),
                ));
            }
            i += 1;
        }
        while i < lines.len() && lines[i].trim().is_empty() {
            i += 1;
        }
        let Some(first) = lines.get(i) else {
            return Err(err(
                i + 1,
                "no content: write `exit: N`, then `---`, then the normalized trace".into(),
            ));
        };
        let exit = first
            .trim_end()
            .strip_prefix("exit:")
            .and_then(|n| n.trim().parse::<i32>().ok())
            .ok_or_else(|| {
                err(
                    i + 1,
                    format!("expected `exit: N` (an integer exit status), found `{first}`"),
                )
            })?;
        i += 1;
        match lines.get(i).map(|l| l.trim_end()) {
            None => {}
            Some("---") => i += 1,
            Some(other) => {
                return Err(err(
                    i + 1,
                    format!("expected `---` after the exit status, found `{other}`"),
                ))
            }
        }
        let trace = lines[i.min(lines.len())..]
            .iter()
            .map(|l| l.trim_end())
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        Ok(Expected { exit, lines: trace })
    }

    /// The content part of the file: `exit: N`, `---`, one line per trace line.
    pub fn render(&self) -> String {
        let mut s = format!("exit: {}\n---\n", self.exit);
        for l in &self.lines {
            s.push_str(l);
            s.push('\n');
        }
        s
    }

    /// The whole `.snap` file, with a header naming its `source` (e.g. `CPython 3.12`) and
    /// `expression` (e.g. the scenario id).
    pub fn to_snap(&self, source: &str, expression: &str) -> String {
        format!(
            "---\nsource: {}\nexpression: {}\n---\n{}",
            yaml_scalar(source),
            yaml_scalar(expression),
            self.render()
        )
    }

    /// Write the `.snap` file (see [`Expected::to_snap`]).
    pub fn write(
        &self,
        path: impl AsRef<Path>,
        source: &str,
        expression: &str,
    ) -> std::io::Result<()> {
        std::fs::write(path, self.to_snap(source, expression))
    }
}

/// Quote a YAML scalar when it would not read back as the same plain string.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`".contains(c) || c.is_whitespace())
        && !s.ends_with(char::is_whitespace)
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains('\n');
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}
