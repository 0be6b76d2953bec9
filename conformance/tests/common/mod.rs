//! Helpers shared by the integration tests: the fixture suite and process checks.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use conformance::{Adapter, Catalog, RunResult, Runner, StartMethod};

/// The fixture scenarios directory (catalog.toml, expected/, sh/, adapter.toml).
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn catalog() -> Catalog {
    Catalog::load(fixtures().join("catalog.toml")).expect("the fixture catalog loads")
}

pub fn adapter() -> Adapter {
    Adapter::load(fixtures().join("adapter.toml")).expect("the fixture adapter loads")
}

pub fn runner() -> Runner {
    Runner::new(fixtures(), fixtures().join("expected"))
}

/// Serializes the tests of one binary that run fixture programs: a run's `/dev/shm` check would
/// otherwise see entries that a concurrent test's program made.
static RUNS: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    RUNS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether runs get a private /dev/shm here; if not, says that the calling test is skipped.
pub fn namespaces() -> bool {
    match conformance::leak::namespace_available() {
        Ok(()) => true,
        Err(e) => {
            eprintln!("skipped: no private /dev/shm can be made here ({e})");
            false
        }
    }
}

/// Run one fixture scenario with the fixture adapter.
pub fn run(id: &str, method: StartMethod) -> RunResult {
    run_with(&adapter(), id, method)
}

pub fn run_with(adapter: &Adapter, id: &str, method: StartMethod) -> RunResult {
    let catalog = catalog();
    let scenario = catalog.get(id).expect("a fixture scenario");
    runner().run(adapter, scenario, method)
}

/// The message with the machine-specific fixture path replaced by `[fixtures]`.
pub fn redact(message: &str) -> String {
    message.replace(&fixtures().display().to_string(), "[fixtures]")
}

/// The pid that follows `prefix` in `text`.
pub fn pid_after(text: &str, prefix: &str) -> i32 {
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("`{prefix}` not in:\n{text}"));
    text[at + prefix.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no pid after `{prefix}` in:\n{text}"))
}

/// Whether `pid` is gone or a zombie (dead, waiting for a parent that may never reap it).
pub fn is_dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next());
            matches!(state, Some(Some('Z' | 'X')))
        }
    }
}
