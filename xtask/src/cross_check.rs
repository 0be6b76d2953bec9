//! `cargo xtask cross-check`: type-check the platform paths this machine cannot run.
//!
//! The reference has code for macOS (`posix_spawn` with `POSIX_SPAWN_CLOEXEC_DEFAULT`, `pipe`
//! without `pipe2`, ...) and for Windows (`spawn` through `CreateProcess`, process handles as
//! sentinels). Nothing here can run them, but `cargo check` needs no linker: with the standard
//! library's source (`rust-src`) and `-Zbuild-std`, it type-checks them against the real `std`,
//! `libc`, `nix` and `windows-sys` of each target. A warning in the workspace's own code fails the
//! check, as `clippy -D warnings` does on Linux.
//!
//! With `--wine`, the Windows code also *runs*: the reference is built for
//! `x86_64-pc-windows-gnu` (linked by MinGW-w64's gcc) and its tests run under Wine, then the
//! examples that show the process model (the guard re-running code, the bootstrapping error, the
//! exit handler), whose output is compared with what CPython's Windows behaviour predicts.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::Args;

use crate::workspace;

/// What is checked for each platform: everything on macOS (the whole workspace runs there);
/// on Windows, the reference (the suite's runner and the IPC objects are Unix-only).
const TARGETS: &[(&str, &[&str])] = &[
    ("aarch64-apple-darwin", &["--workspace"]),
    ("x86_64-pc-windows-msvc", &["-p", "multiprocessing-rs"]),
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
    /// Also build for x86_64-pc-windows-gnu and run the reference's tests and examples under
    /// this Wine (the `wine64` program)
    #[arg(long, value_name = "WINE64")]
    wine: Option<PathBuf>,
    /// The MinGW-w64 gcc that links for x86_64-pc-windows-gnu (with `--wine`)
    #[arg(long, default_value = "x86_64-w64-mingw32-gcc")]
    mingw_gcc: PathBuf,
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
    if let Some(wine) = &args.wine {
        if let Err(problem) = run_under_wine(&args.cargo, &rustc, wine, &args.mingw_gcc) {
            eprintln!("cross-check: x86_64-pc-windows-gnu under Wine: {problem}");
            failed.push("x86_64-pc-windows-gnu under Wine");
        } else {
            eprintln!("cross-check: x86_64-pc-windows-gnu under Wine: ok");
        }
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(format!("cross-check failed for {}", failed.join(", ")))
    }
}

const WINDOWS_GNU: &str = "x86_64-pc-windows-gnu";

/// Examples run under Wine, with the output each must print (stdout, `\r` removed). CPython
/// on Windows prints the same facts: the main module's top level runs once per spawned child
/// too; a child that starts a process while bootstrapping fails with exit code 1; at exit,
/// non-daemonic children are joined and daemonic ones terminated; fork is not available.
const WINE_EXAMPLES: &[(&str, &str, &str)] = &[
    ("guard_reruns", "spawn", "top\ntop\ntop\ntop\n"),
    ("missing_guard", "spawn", "exitcode: Some(1)\n"),
    (
        "children_at_exit",
        "spawn",
        "main done\nnon-daemonic child done\n",
    ),
    ("fork_with_threads", "spawn", "exitcode: Some(0)\n"),
];

/// Wine 8 has no `bcryptprimitives.dll`, whose `ProcessPrng` Rust's std (1.78+) imports for
/// randomness. This shim, linked beside the executables, forwards it to `BCryptGenRandom`.
const PROCESS_PRNG_SHIM: &str = r#"#include <windows.h>
#include <bcrypt.h>
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    return BCryptGenRandom(NULL, data, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0;
}
"#;

fn run_under_wine(cargo: &Path, rustc: &Path, wine: &Path, mingw_gcc: &Path) -> Result<(), String> {
    let target_dir = workspace::root().join("target/cross-check");
    let out = target_dir.join(WINDOWS_GNU).join("debug");
    let prefix = target_dir.join("wine-prefix");
    let cargo_for_windows = |args: &[&str]| {
        let mut command = Command::new(cargo);
        command
            .current_dir(workspace::root())
            .env("RUSTC_BOOTSTRAP", "1")
            .env("RUSTC", rustc)
            .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER", mingw_gcc)
            // linkme's sections are garbage-collected by GNU ld for PE (linkme issue #25):
            // without this the registry of targets is empty.
            .env(
                "CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS",
                "-Clink-arg=-Wl,--no-gc-sections",
            )
            .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER", wine)
            .env("WINEPREFIX", &prefix)
            .env("WINEDEBUG", "-all")
            .args(args)
            .args(["-p", "multiprocessing-rs", "--target", WINDOWS_GNU])
            .args(["-Zbuild-std=std,panic_unwind", "--target-dir"])
            .arg(&target_dir);
        command
    };
    let status = cargo_for_windows(&["build", "--tests", "--examples"])
        .status()
        .map_err(|e| format!("cannot run {}: {e}", cargo.display()))?;
    if !status.success() {
        return Err(format!(
            "the build failed (is {} installed? on Debian: apt-get install gcc-mingw-w64-x86-64)",
            mingw_gcc.display()
        ));
    }
    let shim_source = target_dir.join("process_prng.c");
    std::fs::write(&shim_source, PROCESS_PRNG_SHIM).map_err(|e| e.to_string())?;
    for dir in [out.join("deps"), out.join("examples")] {
        let status = Command::new(mingw_gcc)
            .args(["-shared", "-o"])
            .arg(dir.join("bcryptprimitives.dll"))
            .arg(&shim_source)
            .arg("-lbcrypt")
            .status()
            .map_err(|e| format!("cannot run {}: {e}", mingw_gcc.display()))?;
        if !status.success() {
            return Err("building the ProcessPrng shim failed".to_owned());
        }
    }
    let status = cargo_for_windows(&["test", "--tests"])
        .status()
        .map_err(|e| format!("cannot run {}: {e}", cargo.display()))?;
    if !status.success() {
        return Err("the reference's tests failed under Wine".to_owned());
    }
    for (example, method, expected) in WINE_EXAMPLES {
        let output = Command::new(wine)
            .arg(out.join("examples").join(format!("{example}.exe")))
            .arg(method)
            .env("WINEPREFIX", &prefix)
            .env("WINEDEBUG", "-all")
            .env("RUST_BACKTRACE", "0")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", wine.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout).replace('\r', "");
        if stdout != *expected || !output.status.success() {
            return Err(format!(
                "example {example} {method}: expected {expected:?} and success, got {stdout:?} \
                 and {}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        eprintln!("cross-check: under Wine, example {example} {method}: as expected");
    }
    Ok(())
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
