//! Where things are, and the catalog-reading tasks (`list`, `explain`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use conformance::{Catalog, Expected, Suite};

use crate::say;

/// The workspace root, found at run time (see [`find_root`]); `.` if there is none, which
/// `main` has refused before any task runs.
pub fn root() -> PathBuf {
    static ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let cwd = std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?;
        find_root(&cwd)
    })
    .clone()
    .unwrap_or_else(|_| PathBuf::from("."))
}

/// The workspace this command runs in: the nearest directory, from `start` upwards, whose
/// `Cargo.toml` has a `[workspace]` table, as cargo finds it. Never the checkout this xtask was
/// compiled from: two checkouts sharing a target directory share the xtask binary too.
pub fn find_root(start: &Path) -> Result<PathBuf, String> {
    for dir in start.ancestors() {
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let is_workspace = text
            .parse::<toml::Table>()
            .map(|t| t.contains_key("workspace"))
            .unwrap_or(false);
        if is_workspace {
            if !dir.join("scenarios/catalog.toml").is_file() {
                return Err(format!(
                    "the workspace {} has no scenarios/catalog.toml: run cargo xtask inside a \
                     checkout of the multiprocessing workspace",
                    dir.display()
                ));
            }
            return Ok(dir.to_path_buf());
        }
    }
    Err(format!(
        "no Cargo.toml with a [workspace] table in {} or above: run cargo xtask inside a \
         checkout of the multiprocessing workspace",
        start.display()
    ))
}

/// Checks that there is a workspace to work in (`main` calls it before any task).
pub fn check_root() -> Result<(), String> {
    let cwd = std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?;
    find_root(&cwd).map(|_| ())
}

/// Builds the Rust scenario programs of the workspace at `root` and returns the path of the
/// binary built from *its* sources. Cargo's progress and errors show.
///
/// The path is the binary under the target directory's `deps/` (whose name carries a hash of
/// the package's path, so it differs between checkouts), not the `debug/scenarios` cargo links
/// it to: with a target directory shared by two checkouts (`CARGO_TARGET_DIR`), that link is
/// whichever checkout built last.
pub fn build_scenarios(root: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("building the reference's scenario programs (cargo build --package scenarios)");
    let out = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--package",
            "scenarios",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo to build the scenarios: {e}"))?;
    if !out.status.success() {
        return Err("building the Rust scenario programs failed (cargo's errors are above)".into());
    }
    let manifest = root.join("scenarios").join("Cargo.toml");
    let executable = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| m["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path()))
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| {
            format!(
                "cargo built no executable for {}: check its [[bin]]",
                manifest.display()
            )
        })?;
    checkout_binary(&executable, &root.join("scenarios"))
}

/// The file under `deps/` that `executable` (a link cargo made) is, provided its dep-info
/// names sources under `sources`; else an error saying another checkout replaced it.
pub fn checkout_binary(executable: &Path, sources: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(executable)
        .map_err(|e| format!("cannot read {}: {e}", executable.display()))?;
    let name = executable
        .file_name()
        .map(|n| format!("{}-", n.to_string_lossy()))
        .unwrap_or_default();
    let deps = executable.with_file_name("deps");
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&deps)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    candidates.retain(|p| {
        p.extension().is_none()
            && p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&name))
            && std::fs::metadata(p).is_ok_and(|m| m.ino() == meta.ino() && m.dev() == meta.dev())
    });
    let ours = |p: &PathBuf| {
        std::fs::read_to_string(p.with_extension("d")).is_ok_and(|d| {
            d.lines()
                .next()
                .is_some_and(|first| first.contains(&*sources.to_string_lossy()))
        })
    };
    match candidates.into_iter().next() {
        Some(p) if ours(&p) => Ok(p),
        Some(p) => Err(format!(
            "{} is {}, built from another checkout's sources (a target directory shared with \
             it, CARGO_TARGET_DIR?): run again, or give this checkout its own target directory",
            executable.display(),
            p.display()
        )),
        // Not a hard link (a file system without them: cargo copied it): nothing tells whose it
        // is; it was built a moment ago from this checkout.
        None => Ok(executable.to_path_buf()),
    }
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
