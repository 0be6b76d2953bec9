//! The subjects: building the Rust ones, finding the Pythons, and running one figure of one
//! subject in its own process group, under a time limit, leaving nothing behind.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::figures::{Against, Figure, Peer, Size};
use crate::matrix::on_path;
use crate::workspace;

/// The binaries of `xtask/bench-subjects`.
pub const REFERENCE_BIN: &str = "bench-reference";
pub const OS_BIN: &str = "bench-os";
pub const PROCSPAWN_BIN: &str = "bench-procspawn";
pub const IPC_CHANNEL_BIN: &str = "bench-ipc-channel";

/// What a subject is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Reference,
    Python,
    Os,
    Peer(Peer),
}

/// A program measured: a name (the `subject` field of `bench.json`) and the command that runs
/// one figure.
#[derive(Debug, Clone)]
pub struct Subject {
    pub name: String,
    pub kind: Kind,
    /// The program and its first arguments; the figure and its options follow.
    command: Vec<OsString>,
    /// Options after the figure's.
    options: Vec<OsString>,
}

/// The Rust subjects' executables, by binary name.
pub struct Binaries {
    paths: HashMap<String, PathBuf>,
    pub profile: &'static str,
}

impl Binaries {
    fn get(&self, name: &str) -> PathBuf {
        // `build` checked that every binary is there.
        self.paths.get(name).cloned().unwrap_or_default()
    }
}

/// Builds `bench-subjects` (`--release`, or the dev profile); see [`build_package`].
pub fn build(release: bool) -> Result<Binaries, String> {
    let paths = build_package("bench-subjects", release)?;
    for name in [REFERENCE_BIN, OS_BIN, PROCSPAWN_BIN, IPC_CHANNEL_BIN] {
        if !paths.contains_key(name) {
            return Err(format!(
                "cargo built no executable '{name}' for the package bench-subjects"
            ));
        }
    }
    Ok(Binaries {
        paths,
        profile: if release { "release" } else { "dev" },
    })
}

/// Builds the binaries of `package` (`--release`, or the dev profile) and finds them in cargo's
/// own report of what it built, so an inherited `CARGO_TARGET_DIR` (or a configured target
/// directory) is respected. Returns the executables by binary name.
pub fn build_package(package: &str, release: bool) -> Result<HashMap<String, PathBuf>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace::root())
        .args(["build", "--package", package, "--bins"])
        .args(["--message-format", "json-render-diagnostics"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if release {
        command.arg("--release");
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo to build {package}: {e}"))?;
    if !output.status.success() {
        return Err(format!("building {package} failed (see above)"));
    }
    let mut paths = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        if let (Some(name), Some(exe)) = (
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) {
            paths.insert(name.to_owned(), PathBuf::from(exe));
        }
    }
    Ok(paths)
}

/// The Rust subjects: the reference, then the raw OS and the peers.
pub fn rust_subjects(binaries: &Binaries) -> (Subject, Vec<Subject>) {
    let subject = |name: &str, kind: Kind, bin: &str, options: &[OsString]| Subject {
        name: name.to_owned(),
        kind,
        command: vec![binaries.get(bin).into_os_string()],
        options: options.to_vec(),
    };
    // The raw `spawn` floor starts the reference's own executable.
    let exe = [
        OsString::from("--exe"),
        binaries.get(REFERENCE_BIN).into_os_string(),
    ];
    (
        subject("reference", Kind::Reference, REFERENCE_BIN, &[]),
        vec![
            subject("os", Kind::Os, OS_BIN, &exe),
            subject("procspawn", Kind::Peer(Peer::Procspawn), PROCSPAWN_BIN, &[]),
            subject(
                "ipc-channel",
                Kind::Peer(Peer::IpcChannel),
                IPC_CHANNEL_BIN,
                &[],
            ),
        ],
    )
}

/// The path of a Python interpreter given by name (looked up on PATH) or path.
fn resolve_python(python: &Path) -> Result<PathBuf, String> {
    if python.components().count() == 1 {
        on_path(&python.to_string_lossy()).ok_or_else(|| {
            format!(
                "no interpreter '{}' on PATH: give its full path with --python",
                python.display()
            )
        })
    } else if python.is_file() {
        Ok(python.to_path_buf())
    } else {
        Err(format!(
            "no interpreter at '{}': check the path given to --python",
            python.display()
        ))
    }
}

/// A Python subject, named after its implementation and version (`cpython-3.11`, `pypy-3.10`).
pub fn python_subject(python: &Path) -> Result<Subject, String> {
    let path = resolve_python(python)?;
    let out = Command::new(&path)
        .args([
            "-c",
            "import platform, sys; \
             print('%s-%d.%d' % ((platform.python_implementation().lower(),) + sys.version_info[:2]))",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || name.is_empty() {
        return Err(format!(
            "{} does not run as a Python interpreter: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let script = workspace::root().join("xtask/bench-subjects/python/bench.py");
    Ok(Subject {
        name,
        kind: Kind::Python,
        command: vec![path.into_os_string(), script.into_os_string()],
        options: Vec::new(),
    })
}

/// Whether `subject` measures `figure`.
pub fn measures(subject: &Subject, figure: &Figure) -> bool {
    if figure
        .target
        .is_some_and(|t| t.against == Against::PairedOs)
    {
        return subject.kind == Kind::Reference;
    }
    match &subject.kind {
        Kind::Peer(peer) => figure.peers.contains(peer),
        Kind::Os => !figure.raw.is_empty(),
        _ => true,
    }
}

/// What one run of a subject left: its samples, or why there are none.
pub type RunResult = Result<Vec<f64>, String>;

impl Subject {
    /// Runs one figure: `warmup` samples thrown away inside the program, then `samples` kept.
    pub fn run(&self, figure: &Figure, size: Size, limit: Duration) -> RunResult {
        let mut command = Command::new(&self.command[0]);
        command.args(&self.command[1..]);
        command.arg(figure.id);
        command.args(["--samples", &size.samples.to_string()]);
        command.args(["--warmup", &size.warmup.to_string()]);
        command.args(["--n", &size.n.to_string()]);
        if let Some(method) = figure.method {
            command.args(["--start-method", method]);
        }
        if let Some(cpus) = figure.cpus {
            command.args(["--cpus", &cpus.to_string()]);
        }
        command.args(&self.options);
        let output = run_in_group(command, limit, LINGER)?;
        if !output.success {
            return Err(format!(
                "{} failed: {}",
                self.name,
                last_lines(&output.stderr, 6)
            ));
        }
        parse_samples(&output.stdout).map_err(|e| format!("{}: {e}", self.name))
    }
}

pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim().lines().collect();
    let text = lines[lines.len().saturating_sub(n)..].join("\n");
    if text.is_empty() {
        "(nothing on stderr)".to_owned()
    } else {
        text
    }
}

/// The samples of a subject's output: the last line that is a JSON object, `{"samples": [..]}`,
/// every sample a positive, finite number.
pub fn parse_samples(stdout: &str) -> RunResult {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("no samples in its output: {:?}", last_lines(stdout, 3)))?;
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("bad output line {line:?}: {e}"))?;
    let samples: Vec<f64> = value["samples"]
        .as_array()
        .ok_or_else(|| format!("no \"samples\" array in {line:?}"))?
        .iter()
        .map(|v| v.as_f64().filter(|x| x.is_finite() && *x > 0.0))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("a sample that is not a positive number in {line:?}"))?;
    if samples.is_empty() {
        return Err(format!("no samples in {line:?}"));
    }
    Ok(samples)
}

/// How long the helpers of a subject that has exited may take to go.
pub const LINGER: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` as the leader of a new process group, with a time limit. When it ends, waits up
/// to `linger` for what it started to go (helpers exit when their parent has: a forkserver, a
/// resource tracker), then kills any process left in the group, and calls that an error.
pub fn run_in_group(
    mut command: Command,
    limit: Duration,
    linger: Duration,
) -> Result<Output, String> {
    use std::os::unix::process::CommandExt;
    command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    let group = child.id() as i32;
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let status = wait_until(&mut child, Instant::now() + limit);
    let leftovers = if status.is_some() {
        wait_for_group(group, linger)
    } else {
        Vec::new()
    };
    kill_group(group);
    let status = match status {
        Some(status) => status,
        None => {
            let _ = child.wait();
            return Err(format!(
                "timed out after {} s (its process group was killed)",
                limit.as_secs()
            ));
        }
    };
    let output = Output {
        success: status.success(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    if !leftovers.is_empty() {
        return Err(format!(
            "left processes behind (killed): {}",
            leftovers.join(", ")
        ));
    }
    Ok(output)
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut text);
        }
        String::from_utf8_lossy(&text).into_owned()
    })
}

fn wait_until(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            _ => return None,
        }
    }
}

/// The live (not zombie) processes of a process group, as `pid (name)`.
fn group_members(group: i32) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let name = e.ok()?.file_name();
            let pid: i32 = name.to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
            let (comm, rest) = stat.rsplit_once(") ")?;
            let comm = comm.split_once(" (").map_or("", |(_, c)| c);
            let mut fields = rest.split_whitespace();
            let state = fields.next()?;
            let pgrp: i32 = fields.nth(1)?.parse().ok()?;
            (pgrp == group && state != "Z").then(|| format!("{pid} ({comm})"))
        })
        .collect()
}

/// Waits up to `grace` for the group to empty; returns what is still in it.
fn wait_for_group(group: i32, grace: Duration) -> Vec<String> {
    let deadline = Instant::now() + grace;
    loop {
        let members = group_members(group);
        if members.is_empty() || Instant::now() >= deadline {
            return members;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill_group(group: i32) {
    // SAFETY: a signal to a process group this program created (a negative pid); an empty
    // group is ESRCH, which is fine.
    unsafe { libc::kill(-group, libc::SIGKILL) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples() {
        assert_eq!(
            parse_samples("noise\n{\"samples\":[1.5e0,2e-6]}\n").unwrap(),
            [1.5, 2e-6]
        );
        assert!(parse_samples("").is_err());
        assert!(parse_samples("{\"samples\":[]}").is_err());
        assert!(parse_samples("{\"samples\":[0]}").is_err());
        assert!(parse_samples("{\"samples\":[\"x\"]}").is_err());
        assert!(parse_samples("{\"other\":1}").is_err());
    }

    #[test]
    fn a_group_that_outlives_its_leader_is_killed_and_reported() {
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 30 & echo '{\"samples\":[1]}'"]);
        let err = run_in_group(command, Duration::from_secs(20), Duration::from_millis(100))
            .expect_err("the sleep is left behind");
        assert!(err.contains("left processes behind"), "{err}");
    }

    #[test]
    fn a_subject_that_hangs_is_stopped() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let t = Instant::now();
        let err = run_in_group(command, Duration::from_millis(200), LINGER).expect_err("a timeout");
        assert!(err.contains("timed out"), "{err}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
