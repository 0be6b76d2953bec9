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

/// The reference's scenario binary, built from this workspace's sources and copied where no
/// other build writes; the copy lives as long as this.
pub struct ScenarioBinary {
    /// The copy.
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

/// Builds the Rust scenario programs of the workspace at `root`, checks that the binary cargo
/// produced was built from *this* workspace, and returns a private copy of it. Cargo's progress
/// and errors show.
///
/// Why the check: two checkouts sharing a target directory (`CARGO_TARGET_DIR`) share their
/// artifacts, since cargo names and fingerprints a workspace member by its path *relative to the
/// workspace root*, the same in both. A checkout whose sources are older than the other's last
/// build finds the other's binary fresh, and cargo does not rebuild it. The binary's debug
/// holds the directory it was built from (`BUILT_FROM` in scenarios/src/main.rs): if that is
/// not this workspace's, the run stops with the fix rather than test the other checkout's code.
/// (The `reference` library it links is not checked: a checkout that rebuilt only its scenarios
/// may link the other's, fresh in cargo's eyes.) The copy keeps a build in the other checkout from replacing the binary
/// while the matrix runs.
pub fn build_scenarios(root: &Path) -> Result<ScenarioBinary, String> {
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
    let dir = tempfile::Builder::new()
        .prefix("xtask-scenarios-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let path = dir.path().join("scenarios");
    std::fs::copy(&executable, &path)
        .map_err(|e| format!("cannot copy {}: {e}", executable.display()))?;
    built_in(&path, root, &executable)?;
    Ok(ScenarioBinary { path, _dir: dir })
}

/// Checks that `binary` (a copy of `built`) was compiled from `root`: it holds the line
/// `scenarios built from <root>/scenarios` (`BUILT_FROM` in scenarios/src/main.rs).
pub fn built_in(binary: &Path, root: &Path, built: &Path) -> Result<(), String> {
    let bytes =
        std::fs::read(binary).map_err(|e| format!("cannot read {}: {e}", binary.display()))?;
    let mut needle = b"scenarios built from ".to_vec();
    needle.extend_from_slice(root.join("scenarios").as_os_str().as_encoded_bytes());
    needle.push(b'\n');
    if bytes.windows(needle.len()).any(|w| w == needle) {
        return Ok(());
    }
    Err(format!(
        "{} was not built from {}: another checkout shares this target directory \
         (CARGO_TARGET_DIR), and cargo, which names a workspace's artifacts by their paths \
         relative to the workspace, took that checkout's build for this one's. Give each \
         checkout its own target directory (unset CARGO_TARGET_DIR), or rebuild this one's \
         (`touch scenarios/src/main.rs`, then run again)",
        built.display(),
        root.display()
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_is_from_the_checkout_it_says_it_was_built_from() {
        let t = tempfile::tempdir().unwrap();
        let bin = t.path().join("scenarios");
        std::fs::write(&bin, b"\x7fELF...scenarios built from /ws/b/scenarios\n...").unwrap();
        assert_eq!(built_in(&bin, Path::new("/ws/b"), &bin), Ok(()));
        let err = built_in(&bin, Path::new("/ws/a"), &bin).unwrap_err();
        assert!(err.contains("was not built from /ws/a"), "{err}");
        // A prefix of the other checkout's root is not that root.
        assert!(built_in(&bin, Path::new("/ws"), &bin).is_err());
    }

    #[test]
    fn the_workspace_is_the_nearest_with_a_workspace_table() {
        let t = tempfile::tempdir().unwrap();
        let ws = t.path();
        std::fs::create_dir_all(ws.join("scenarios/sub")).unwrap();
        std::fs::write(ws.join("scenarios/catalog.toml"), "").unwrap();
        std::fs::write(ws.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
        // A member's Cargo.toml has no [workspace]: keep walking up.
        std::fs::write(ws.join("scenarios/Cargo.toml"), "[package]\nname = \"s\"\n").unwrap();
        assert_eq!(find_root(&ws.join("scenarios/sub")), Ok(ws.to_path_buf()));
        std::fs::remove_file(ws.join("scenarios/catalog.toml")).unwrap();
        let err = find_root(ws).unwrap_err();
        assert!(err.contains("has no scenarios/catalog.toml"), "{err}");
    }
}
