//! What every program that `cargo xtask bench` measures shares: the command line, the output,
//! CPU pinning and the peak-memory reading.
//!
//! # The protocol
//!
//! A subject is run once per figure and round:
//!
//! ```text
//! <subject> <figure> --samples K --warmup W --n N [--start-method M] [--cpus 1|2] [--exe PATH]
//! ```
//!
//! It measures `W` samples it throws away, then `K` samples, and prints one line of JSON on
//! stdout, `{"samples": [..]}`, each value in the figure's base unit: seconds for a latency, a
//! count per second for a throughput (items, bytes, increments), bytes for a peak memory.
//! `N` is the work of one sample (items, messages, round trips, increments per process, bytes,
//! children), the same for every subject of a figure. A sample whose children wait for a go
//! starts its clock before they can go: the parent waits until they all wait, reads the clock,
//! then releases them. An error goes to stderr with exit status 1
//! (2 for a bad command line).
//!
//! The figures (their ids are the `figure` field of `bench.json`):
//!
//! | figure | one sample |
//! | --- | --- |
//! | `start-join` | start and join one child that does nothing, under `--start-method` |
//! | `start-join-paired` | the reference only: its `start-join` divided by a raw `fork` + `_exit` + `waitpid` of the same process, measured back to back: a ratio |
//! | `start-join-first` | the same, as a fresh program's first `forkserver` start |
//! | `start-join-16` | start `N` such children, then join them all |
//! | `child-rss` | a trivial child's peak resident memory (`VmHWM`), under `--start-method` |
//! | `queue-throughput` | a child puts `N` small items, the parent gets them: items/s |
//! | `send-bytes-1mib` | a child sends `N` messages of 1 MiB, the parent receives them: bytes/s |
//! | `roundtrip-1cpu`, `roundtrip-2cpu` | `N` 1-byte round trips to an echoing child, both pinned to one CPU, or each to its own: seconds per round trip |
//! | `value-increments` | 4 children each make `N` locked increments of a shared integer: increments/s |
//! | `shm-write` | one copy of `N` bytes into shared memory: bytes/s |

use std::fmt;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Instant;

/// Set in the environment of a program told to exit at once (the floor of `spawn`); the value
/// `hwm` makes it print its peak memory (`VmHWM`, in bytes) on stdout first.
pub const EXIT_AT_ONCE: &str = "MP_BENCH_EXIT_AT_ONCE";

/// The messages of `send-bytes-1mib`.
pub const MIB: usize = 1 << 20;

/// The processes of `value-increments`.
pub const INCREMENTERS: usize = 4;

/// What went wrong in a subject.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// A subject's result.
pub type Result<T> = std::result::Result<T, Error>;

/// A start method, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `fork`
    Fork,
    /// `spawn`
    Spawn,
    /// `forkserver`
    Forkserver,
}

impl Method {
    /// The name, as Python spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Fork => "fork",
            Method::Spawn => "spawn",
            Method::Forkserver => "forkserver",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Method, String> {
        match s {
            "fork" => Ok(Method::Fork),
            "spawn" => Ok(Method::Spawn),
            "forkserver" => Ok(Method::Forkserver),
            other => Err(format!(
                "unknown start method '{other}': use fork, spawn or forkserver"
            )),
        }
    }
}

/// A subject's command line.
#[derive(Debug, Clone)]
pub struct Args {
    /// The figure to measure.
    pub figure: String,
    /// Samples to print.
    pub samples: usize,
    /// Samples to measure first and throw away.
    pub warmup: usize,
    /// The work of one sample.
    pub n: usize,
    /// The start method, for the figures that have one.
    pub start_method: Option<Method>,
    /// How many CPUs to pin to (the round-trip figures): the first one or two this process may
    /// run on.
    pub cpus: Option<usize>,
    /// The executable a raw `posix_spawn` starts (the reference's own, for the `spawn` floor).
    pub exe: Option<String>,
}

impl Args {
    /// Parses `figure --option value ...` (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> std::result::Result<Args, String> {
        let mut args = args.into_iter();
        let figure = args
            .next()
            .filter(|f| !f.starts_with("--"))
            .ok_or_else(|| "the first argument is the figure to measure".to_owned())?;
        let mut parsed = Args {
            figure,
            samples: 1,
            warmup: 0,
            n: 1,
            start_method: None,
            cpus: None,
            exe: None,
        };
        while let Some(option) = args.next() {
            let value = args
                .next()
                .ok_or_else(|| format!("the option {option} needs a value"))?;
            match option.as_str() {
                "--samples" => parsed.samples = number(&option, &value)?,
                "--warmup" => parsed.warmup = number(&option, &value)?,
                "--n" => parsed.n = number(&option, &value)?,
                "--start-method" => parsed.start_method = Some(value.parse()?),
                "--cpus" => {
                    let cpus = number(&option, &value)?;
                    if !(1..=2).contains(&cpus) {
                        return Err(format!("--cpus is 1 or 2, not {cpus}"));
                    }
                    parsed.cpus = Some(cpus);
                }
                "--exe" => parsed.exe = Some(value),
                other => return Err(format!("unknown option '{other}'")),
            }
        }
        if parsed.samples == 0 || parsed.n == 0 {
            return Err("--samples and --n must be at least 1".to_owned());
        }
        Ok(parsed)
    }

    /// The start method, which this figure needs.
    pub fn method(&self) -> Result<Method> {
        self.start_method
            .ok_or_else(|| format!("the figure {} needs --start-method", self.figure).into())
    }

    /// The executable given with `--exe`, which this figure needs.
    pub fn exe(&self) -> Result<&str> {
        self.exe
            .as_deref()
            .ok_or_else(|| format!("the figure {} needs --exe", self.figure).into())
    }

    /// The CPUs to pin the two processes of a round trip to: `(parent, child)`.
    pub fn pinning(&self) -> Result<(usize, usize)> {
        let allowed = allowed_cpus()?;
        let wanted = self
            .cpus
            .ok_or_else(|| format!("the figure {} needs --cpus", self.figure))?;
        match (wanted, allowed.as_slice()) {
            (1, [first, ..]) => Ok((*first, *first)),
            (2, [first, second, ..]) => Ok((*first, *second)),
            _ => Err(format!(
                "pinning to {wanted} CPUs, and this process may run on {} only",
                allowed.len()
            )
            .into()),
        }
    }

    /// An error for a figure this subject does not measure.
    pub fn unsupported(&self) -> Error {
        match self.start_method {
            Some(m) => format!("this subject does not measure {} under {m}", self.figure).into(),
            None => format!("this subject does not measure {}", self.figure).into(),
        }
    }
}

fn number(option: &str, value: &str) -> std::result::Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("{option} takes a whole number, not '{value}'"))
}

/// Runs a subject: parses the command line, calls `measure`, prints the samples. Returns the
/// exit status (2 for a bad command line, 1 for a failed measurement).
pub fn main(measure: impl FnOnce(&Args) -> Result<Vec<f64>>) -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("error: {message}");
            eprintln!(
                "usage: {} FIGURE --samples K --warmup W --n N [--start-method M] [--cpus 1|2] \
                 [--exe PATH]",
                std::env::args().next().unwrap_or_default()
            );
            return ExitCode::from(2);
        }
    };
    match measure(&args) {
        Ok(samples) => {
            println!("{}", samples_json(&samples));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {}: {err}", args.figure);
            ExitCode::from(1)
        }
    }
}

/// `{"samples":[..]}`.
pub fn samples_json(samples: &[f64]) -> String {
    let values: Vec<String> = samples.iter().map(|v| format!("{v:e}")).collect();
    format!("{{\"samples\":[{}]}}", values.join(","))
}

/// Measures `warmup + samples` samples with `one` and keeps the last `samples`.
pub fn collect(args: &Args, mut one: impl FnMut() -> Result<f64>) -> Result<Vec<f64>> {
    for _ in 0..args.warmup {
        one()?;
    }
    (0..args.samples).map(|_| one()).collect()
}

/// The seconds `f` takes.
pub fn seconds(f: impl FnOnce() -> Result<()>) -> Result<f64> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed().as_secs_f64())
}

/// `fork()`. Only for single-threaded programs (the subjects are), where the child may run any
/// code.
pub fn fork_now() -> Result<nix::unistd::ForkResult> {
    // SAFETY: the callers are single-threaded programs.
    Ok(unsafe { nix::unistd::fork() }?)
}

/// What a forked child does: runs `f`, then `_exit`s with 0 if it succeeded, else 1 (after
/// printing why). Called in the child arm of a [`fork_now`] match, where the child may consume
/// (close) its copies of the parent's descriptors: this never returns, so the parent's stay open.
pub fn in_child(f: impl FnOnce() -> Result<()>) -> ! {
    let code = match f() {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("error in a child: {err}");
            1
        }
    };
    // SAFETY: ends the child without running the parent's exit handlers or destructors.
    unsafe { libc::_exit(code) }
}

/// Waits for `pid` and checks it exited with 0.
pub fn wait_ok(pid: nix::unistd::Pid) -> Result<()> {
    match nix::sys::wait::waitpid(pid, None)? {
        nix::sys::wait::WaitStatus::Exited(_, 0) => Ok(()),
        other => Err(format!("a child ended with {other:?}").into()),
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: one clock for every process of the machine (Rust's
/// `Instant` and Python's `time.monotonic_ns()` read it too), so children can report when they
/// finished.
pub fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// The CPUs this process may run on, in order.
#[cfg(target_os = "linux")]
pub fn allowed_cpus() -> Result<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is an empty set; the kernel fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size given.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } != 0 {
        return Err(format!("sched_getaffinity: {}", std::io::Error::last_os_error()).into());
    }
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// Pins the calling process (its calling thread, and what it forks from now on) to `cpu`.
#[cfg(target_os = "linux")]
pub fn pin(cpu: usize) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(format!("no CPU {cpu}").into());
    }
    // SAFETY: `cpu` is below CPU_SETSIZE (checked).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size given.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) } != 0 {
        return Err(format!(
            "sched_setaffinity to CPU {cpu}: {}",
            std::io::Error::last_os_error()
        )
        .into());
    }
    Ok(())
}

/// Without `sched_getaffinity` (macOS): every CPU the OS reports, in order.
#[cfg(not(target_os = "linux"))]
pub fn allowed_cpus() -> Result<Vec<usize>> {
    Ok((0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect())
}

/// Without `sched_setaffinity` (macOS has only affinity hints): runs unpinned, so the
/// one-CPU figures are rougher there.
#[cfg(not(target_os = "linux"))]
pub fn pin(_cpu: usize) -> Result<()> {
    Ok(())
}

/// This process's peak resident memory so far (`VmHWM` of `/proc/self/status`), in bytes.
pub fn peak_rss() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    parse_vm_hwm(&status).ok_or_else(|| "no VmHWM line in /proc/self/status".into())
}

/// The `VmHWM` of a `/proc/<pid>/status` text, in bytes.
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => Some(value * 1024),
        _ => None,
    }
}

/// What a program does first when [`EXIT_AT_ONCE`] is set: prints its peak memory if asked,
/// and exits. Call it first thing in `main`, before anything else can run.
pub fn exit_at_once_if_asked() {
    let Some(value) = std::env::var_os(EXIT_AT_ONCE) else {
        return;
    };
    if value == "hwm" {
        match peak_rss() {
            Ok(bytes) => println!("{bytes}"),
            Err(err) => eprintln!("error: {err}"),
        }
    }
    std::process::exit(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> std::result::Result<Args, String> {
        Args::parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn parses_a_command_line() {
        let a =
            args("start-join --samples 3 --warmup 1 --n 16 --start-method spawn --cpus 2").unwrap();
        assert_eq!(a.figure, "start-join");
        assert_eq!((a.samples, a.warmup, a.n), (3, 1, 16));
        assert_eq!(a.start_method, Some(Method::Spawn));
        assert_eq!(a.cpus, Some(2));
    }

    #[test]
    fn rejects_bad_command_lines() {
        assert!(args("").is_err());
        assert!(args("--samples 3").is_err());
        assert!(args("x --samples").is_err());
        assert!(args("x --samples three").is_err());
        assert!(args("x --samples 0").is_err());
        assert!(args("x --start-method thread").is_err());
        assert!(args("x --cpus 3").is_err());
        assert!(args("x --colour red").is_err());
    }

    #[test]
    fn reads_vm_hwm() {
        let status = "Name:\tx\nVmPeak:\t   10 kB\nVmHWM:\t    1234 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(1234 * 1024));
        assert_eq!(parse_vm_hwm("VmHWM: 12 MB"), None);
        assert!(peak_rss().unwrap() > 0);
    }

    #[test]
    fn the_monotonic_clock_moves_on() {
        let (a, b) = (monotonic_ns(), monotonic_ns());
        assert!(a > 0 && b >= a);
    }

    #[test]
    fn prints_samples_as_json() {
        assert_eq!(samples_json(&[1.5, 2e-6]), r#"{"samples":[1.5e0,2e-6]}"#);
    }
}
