//! `cargo xtask cross-check`: type-check the platform paths this machine cannot run.
//!
//! The reference has code for macOS (`posix_spawn` with `POSIX_SPAWN_CLOEXEC_DEFAULT`, `pipe`
//! without `pipe2`, ...) and for Windows (`spawn` through `CreateProcess`, process handles as
//! sentinels). Nothing here can run them, but `cargo check` needs no linker: with the standard
//! library's source (`rust-src`) and `-Zbuild-std`, it type-checks them against the real `std`,
//! `libc`, `nix` and `windows-sys` of each target. A warning in the workspace's own code fails the
//! check, as `clippy -D warnings` does on Linux.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::Args;

use crate::workspace;

/// What is checked for each platform: everything on macOS (the whole workspace runs there);
/// on Windows, the reference (the suite's runner and the IPC objects are Unix-only).
const TARGETS: &[(&str, &[&str])] = &[
    ("aarch64-apple-darwin", &["--workspace"]),
    ("x86_64-pc-windows-msvc", &["-p", "multiprocessing"]),
];

#[derive(Args)]
pub struct CrossCheckArgs {
    /// The cargo to run (it needs `-Zbuild-std`, which every cargo has behind RUSTC_BOOTSTRAP)
    #[arg(long, default_value = "cargo")]
    cargo: PathBuf,
    /// The rustc to check with: one whose sysroot has the standard library's source. Default:
    /// the `rustc` beside `--cargo`, else `rustc` on PATH
    #[arg(long)]
    rustc: Option<PathBuf>,
    /// Only this target (repeatable); default: aarch64-apple-darwin and x86_64-pc-windows-msvc
    #[arg(long = "target")]
    targets: Vec<String>,
}

pub fn run(args: CrossCheckArgs) -> Result<ExitCode, String> {
    let rustc = args.rustc.clone().unwrap_or_else(|| {
        let beside = args.cargo.with_file_name(exe("rustc"));
        if args.cargo.parent().is_some_and(|dir| dir != Path::new("")) && beside.exists() {
            beside
        } else {
            PathBuf::from("rustc")
        }
    });
    check_std_source(&rustc)?;
    let targets: Vec<(&str, &[&str])> = if args.targets.is_empty() {
        TARGETS.to_vec()
    } else {
        args.targets
            .iter()
            .map(|target| {
                let packages = TARGETS
                    .iter()
                    .find(|(known, _)| known == target)
                    .map_or(&["--workspace"][..], |(_, packages)| *packages);
                (target.as_str(), packages)
            })
            .collect()
    };
    let mut failed = Vec::new();
    for (target, packages) in targets {
        eprintln!("cross-check: {target} ({})", packages.join(" "));
        let output = Command::new(&args.cargo)
            .current_dir(workspace::root())
            .env("RUSTC_BOOTSTRAP", "1")
            .env("RUSTC", &rustc)
            .args(["check", "--all-targets", "--target", target])
            .args(packages)
            .args(["-Zbuild-std=std,panic_abort", "--target-dir"])
            .arg(workspace::root().join("target/cross-check"))
            .output()
            .map_err(|e| format!("cannot run {}: {e}", args.cargo.display()))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let ours = own_warnings(&stderr);
        if !output.status.success() || ours > 0 {
            eprintln!("{stderr}");
            eprintln!(
                "cross-check: {target}: {}",
                if output.status.success() {
                    format!("{ours} warning(s) in the workspace's code")
                } else {
                    "does not compile".to_owned()
                }
            );
            failed.push(target);
        } else {
            eprintln!("cross-check: {target}: ok");
        }
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!("cross-check failed for {}", failed.join(", ")))
    }
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// `-Zbuild-std` compiles the standard library from `<sysroot>/lib/rustlib/src/rust/library`.
fn check_std_source(rustc: &Path) -> Result<(), String> {
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", rustc.display()))?;
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let library = Path::new(&sysroot).join("lib/rustlib/src/rust/library");
    if library.is_dir() {
        return Ok(());
    }
    Err(format!(
        "{} has no standard library source ({} is missing), which a check for another target \
         needs. Fix: `rustup component add rust-src`; where rustup cannot download, a \
         distribution's toolchain with its source works too, e.g. on Debian `apt-get install \
         rustc-web cargo-web rust-web-src`, then `cargo xtask cross-check --cargo /usr/bin/cargo`",
        rustc.display(),
        library.display()
    ))
}

/// Warnings whose location is in the workspace (a relative path), not in std or a dependency.
fn own_warnings(stderr: &str) -> usize {
    let mut count = 0;
    let mut in_warning = false;
    for line in stderr.lines() {
        if line.starts_with("warning") {
            in_warning = !line.contains("generated") && !line.contains("build failed");
        } else if line.starts_with("error") {
            in_warning = false;
        } else if in_warning {
            if let Some(location) = line.trim_start().strip_prefix("--> ") {
                if !location.starts_with('/') && !location.contains(":\\") {
                    count += 1;
                }
                in_warning = false;
            }
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::own_warnings;

    #[test]
    fn only_warnings_located_in_the_workspace_count() {
        let stderr = "\
warning: unused import: `Stdio`
 --> reference/tests/programs.rs:5:29
warning: unexpected cfg
  --> /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/nix-0.29.0/src/lib.rs:3:1
warning: `multiprocessing` (test \"programs\") generated 1 warning
";
        assert_eq!(own_warnings(stderr), 1);
        assert_eq!(own_warnings("    Finished `dev` profile\n"), 0);
    }
}
