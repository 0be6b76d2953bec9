//! Where things are, and the catalog-reading tasks (`list`, `explain`).

use std::path::{Path, PathBuf};

use std::fmt::Write as _;

use conformance::{Catalog, Expected, Suite};

use crate::say;

/// The workspace root (this crate's parent directory).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub fn scenarios_dir() -> PathBuf {
    root().join("scenarios")
}

pub fn spec_path() -> PathBuf {
    root().join("conformance").join("SPEC.md")
}

pub fn load_suite() -> Result<Suite, String> {
    Suite::load(scenarios_dir()).map_err(|e| e.to_string())
}

fn load_catalog() -> Result<Catalog, String> {
    Catalog::load(scenarios_dir().join("catalog.toml")).map_err(|e| e.to_string())
}

/// The text of each clause of SPEC.md, by id: a clause is a line that starts with `- **ID**`, with
/// the indented lines that follow it.
pub fn clause_texts() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(spec_path()).unwrap_or_default();
    let mut clauses: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("- **") {
            if let Some((id, body)) = rest.split_once("**") {
                clauses.push((id.to_owned(), body.trim().to_owned()));
                continue;
            }
        }
        match clauses.last_mut() {
            Some((_, body)) if line.starts_with("  ") && !line.trim().is_empty() => {
                body.push(' ');
                body.push_str(line.trim());
            }
            _ => {}
        }
    }
    clauses
}

pub fn clause_text(id: &str) -> Option<String> {
    clause_texts()
        .into_iter()
        .find(|(c, _)| c == id)
        .map(|(_, body)| body)
}

/// Appends a line to a `String` (the tasks build their output, then [`say`] it, so
/// a closed pipe ends it quietly).
macro_rules! out {
    ($out:ident, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}
macro_rules! outp {
    ($out:ident, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

pub fn list() -> Result<(), String> {
    let catalog = load_catalog()?;
    let mut out = String::new();
    let width = catalog
        .scenarios
        .iter()
        .map(|s| s.id.len())
        .max()
        .unwrap_or(8);
    for s in &catalog.scenarios {
        out!(
            out,
            "{:<width$}  {:<24}  {}",
            s.id,
            s.clauses.join(","),
            s.statement
        );
    }
    out!(out, "{} scenarios", catalog.scenarios.len());
    say(&out);
    Ok(())
}

pub fn explain(id: &str) -> Result<(), String> {
    let catalog = load_catalog()?;
    let mut out = String::new();
    let Some(s) = catalog.get(id) else {
        return Err(format!(
            "no scenario '{id}' in {}: `cargo xtask list` shows the ids",
            catalog.path.display()
        ));
    };
    out!(out, "{}\n  {}\n", s.id, s.statement);
    for clause in &s.clauses {
        match clause_text(clause) {
            Some(text) => out!(out, "{clause}: {text}"),
            None => out!(out, "{clause}: (not found in {})", spec_path().display()),
        }
    }
    let methods: Vec<&str> = s.methods.iter().map(|m| m.as_str()).collect();
    out!(out, "\nstart methods: {}", methods.join(", "));
    out!(
        out,
        "timeout: {} s; unordered: {}; profiles: {}",
        s.timeout.as_secs(),
        s.unordered,
        if s.profiles.is_all() {
            "all".to_owned()
        } else {
            s.profiles.to_string()
        }
    );
    out!(out, "programs:");
    out!(out, "  python: scenarios/python/{}.py", s.id_underscore());
    out!(
        out,
        "  rust:   scenarios/src (the `{}` entry; run `scenarios {} <method>`)",
        s.id,
        s.id
    );
    let expected = scenarios_dir().join("expected");
    let mut shown = std::collections::BTreeSet::new();
    for &method in &s.methods {
        let file = s.expected_file_name(method);
        if !shown.insert(file.clone()) {
            continue;
        }
        out!(out, "\nexpected ({file}):");
        match Expected::load(expected.join(&file)) {
            Ok(e) => outp!(out, "{}", indent(&e.render())),
            Err(err) => out!(out, "  {err}"),
        }
    }
    say(&out);
    Ok(())
}

pub fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
