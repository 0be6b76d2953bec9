//! Start+join latency of a trivial child, per start method, side by side with the raw OS cost
//! and CPython, interleaved (A B C A B C ...) so drift hits every subject alike.
//!
//! ```text
//! cargo bench -p multiprocessing --bench start [-- --quick] [-- --python PATH]
//! ```
//!
//! Subjects:
//! * `os fork`: `fork()` + `_exit(0)` in the child + `waitpid`.
//! * `os exec`: `posix_spawn` of this same executable told to exit at once (by an environment
//!   variable checked first thing in `main`) + `waitpid`: the floor for `spawn`.
//! * `reference <method>`: `Process::start` + `join` of a registered no-op target.
//! * `reference forkserver (first start)`: a fresh program's first forkserver child, server
//!   start-up included.
//! * `cpython <method>`: the same in `python3` (more with `--python`), timed inside Python.
//!
//! Targets (issue #2): fork ≤ 1.5× os fork; forkserver ≤ 3× os fork; spawn ≤ 1.5× os exec.

use std::ffi::CString;
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use multiprocessing::get_context;

const EXIT_AT_ONCE: &str = "MP_BENCH_EXIT_AT_ONCE";
const FIRST_FORKSERVER: &str = "--first-forkserver-start";

#[multiprocessing::target]
fn noop() {}

fn main() {
    if std::env::var_os(EXIT_AT_ONCE).is_some() {
        return;
    }
    multiprocessing::main_guard();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == FIRST_FORKSERVER) {
        let t = Instant::now();
        let p = get_context(Some("forkserver")).unwrap().process(noop, ());
        p.start().unwrap();
        p.join().unwrap();
        println!("{}", t.elapsed().as_nanos());
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let mut pythons: Vec<String> = args
        .windows(2)
        .filter(|w| w[0] == "--python")
        .map(|w| w[1].clone())
        .collect();
    if pythons.is_empty() {
        pythons.push("python3".to_owned());
    }
    let (rounds, per_round) = if quick { (2, 5) } else { (7, 30) };

    let mut subjects: Vec<Subject> = vec![
        Subject::new("os fork", Box::new(os_fork)),
        Subject::new("os exec", Box::new(os_exec)),
    ];
    for method in ["fork", "spawn", "forkserver"] {
        let ctx = get_context(Some(method)).unwrap();
        // Warm up (the forkserver starts here).
        let p = ctx.process(noop, ());
        p.start().unwrap();
        p.join().unwrap();
        subjects.push(Subject::new(
            &format!("reference {method}"),
            Box::new(move || {
                let t = Instant::now();
                let p = ctx.process(noop, ());
                p.start().unwrap();
                p.join().unwrap();
                t.elapsed()
            }),
        ));
    }
    subjects.push(Subject::new(
        "reference forkserver (first start)",
        Box::new(first_forkserver_start),
    ));

    let mut cpython: Vec<(String, Vec<Vec<f64>>)> = Vec::new();
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script.path(), CPYTHON_SCRIPT).unwrap();
    for python in &pythons {
        match Command::new(python)
            .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
            .output()
        {
            Ok(out) if out.status.success() => {
                let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                cpython.push((format!("cpython-{version}"), vec![Vec::new(); 3]));
            }
            _ => eprintln!("skipping {python}: it does not run"),
        }
    }

    eprintln!(
        "{rounds} rounds x {per_round} starts per subject (CPython spawn: fewer), interleaved"
    );
    for round in 0..rounds {
        for subject in &mut subjects {
            let n = if subject.name.contains("first start") {
                per_round.min(5)
            } else {
                per_round
            };
            for _ in 0..n {
                let t = (subject.run)();
                subject.samples.push(t.as_secs_f64() * 1e6);
            }
        }
        for (i, python) in pythons.iter().enumerate() {
            let Some((_, samples)) = cpython.get_mut(i) else {
                continue;
            };
            let n = per_round.min(10);
            let out = Command::new(python)
                .arg(script.path())
                .arg(n.to_string())
                .arg((n / 3).max(2).to_string())
                .output();
            if let Ok(out) = out {
                for line in String::from_utf8_lossy(&out.stdout).lines() {
                    let mut words = line.split_whitespace();
                    let method = words.next().unwrap_or("");
                    let slot = match method {
                        "fork" => 0,
                        "spawn" => 1,
                        "forkserver" => 2,
                        _ => continue,
                    };
                    samples[slot].extend(words.filter_map(|w| w.parse::<f64>().ok()));
                }
            }
        }
        eprint!("\rround {}/{rounds}", round + 1);
        let _ = std::io::stderr().flush();
    }
    eprintln!();

    let median_of = |name: &str| {
        subjects
            .iter()
            .find(|s| s.name == name)
            .map(|s| stats(&s.samples).0)
            .unwrap()
    };
    let (raw_fork, raw_exec) = (median_of("os fork"), median_of("os exec"));
    println!(
        "{:<38} {:>10} {:>10} {:>10} {:>6}  ratio",
        "start+join of a trivial child", "median µs", "min µs", "max µs", "runs"
    );
    for subject in &subjects {
        let (median, min, max) = stats(&subject.samples);
        let ratio = match subject.name.as_str() {
            "reference fork" => format!(
                "{:.2}x os fork (target ≤ 1.5x: {})",
                median / raw_fork,
                verdict(median / raw_fork <= 1.5)
            ),
            "reference forkserver" => format!(
                "{:.2}x os fork (target ≤ 3x: {})",
                median / raw_fork,
                verdict(median / raw_fork <= 3.0)
            ),
            "reference spawn" => format!(
                "{:.2}x os exec (target ≤ 1.5x: {})",
                median / raw_exec,
                verdict(median / raw_exec <= 1.5)
            ),
            _ => String::new(),
        };
        println!(
            "{:<38} {median:>10.1} {min:>10.1} {max:>10.1} {:>6}  {ratio}",
            subject.name,
            subject.samples.len()
        );
    }
    for (name, per_method) in &cpython {
        for (method, samples) in ["fork", "spawn", "forkserver"].iter().zip(per_method) {
            if samples.is_empty() {
                continue;
            }
            let (median, min, max) = stats(samples);
            let ours = median_of(&format!("reference {method}"));
            println!(
                "{:<38} {median:>10.1} {min:>10.1} {max:>10.1} {:>6}  reference is {:.1}x faster",
                format!("{name} {method}"),
                samples.len(),
                median / ours
            );
        }
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT MET"
    }
}

struct Subject {
    name: String,
    run: Box<dyn FnMut() -> Duration>,
    samples: Vec<f64>,
}

impl Subject {
    fn new(name: &str, run: Box<dyn FnMut() -> Duration>) -> Subject {
        Subject {
            name: name.to_owned(),
            run,
            samples: Vec::new(),
        }
    }
}

fn stats(samples: &[f64]) -> (f64, f64, f64) {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.is_empty() {
        f64::NAN
    } else {
        sorted[sorted.len() / 2]
    };
    (
        median,
        sorted.first().copied().unwrap_or(f64::NAN),
        sorted.last().copied().unwrap_or(f64::NAN),
    )
}

fn os_fork() -> Duration {
    let t = Instant::now();
    // SAFETY: the child calls only _exit, which is async-signal-safe.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => unsafe { libc::_exit(0) },
        nix::unistd::ForkResult::Parent { child } => {
            nix::sys::wait::waitpid(child, None).unwrap();
        }
    }
    t.elapsed()
}

fn os_exec() -> Duration {
    thread_local! {
        static PROGRAM: (CString, Vec<CString>, Vec<CString>) = {
            let exe = CString::new("/proc/self/exe").unwrap();
            let argv = vec![CString::new("bench-exit").unwrap()];
            let mut env: Vec<CString> = std::env::vars()
                .map(|(k, v)| CString::new(format!("{k}={v}")).unwrap())
                .collect();
            env.push(CString::new(format!("{EXIT_AT_ONCE}=1")).unwrap());
            (exe, argv, env)
        };
    }
    PROGRAM.with(|(exe, argv, env)| {
        let mut argv_p: Vec<*mut libc::c_char> =
            argv.iter().map(|s| s.as_ptr().cast_mut()).collect();
        argv_p.push(std::ptr::null_mut());
        let mut env_p: Vec<*mut libc::c_char> = env.iter().map(|s| s.as_ptr().cast_mut()).collect();
        env_p.push(std::ptr::null_mut());
        let t = Instant::now();
        let mut pid = 0;
        // SAFETY: valid, NUL-terminated strings and NULL-terminated arrays; no file actions.
        let rc = unsafe {
            libc::posix_spawn(
                &mut pid,
                exe.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                argv_p.as_ptr(),
                env_p.as_ptr(),
            )
        };
        assert_eq!(rc, 0);
        nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap();
        t.elapsed()
    })
}

fn first_forkserver_start() -> Duration {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg(FIRST_FORKSERVER)
        .output()
        .unwrap();
    let nanos: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    Duration::from_nanos(nanos)
}

const CPYTHON_SCRIPT: &str = r#"
import multiprocessing as mp, sys, time
def noop():
    pass
if __name__ == '__main__':
    n, n_spawn = int(sys.argv[1]), int(sys.argv[2])
    for m in ('fork', 'spawn', 'forkserver'):
        ctx = mp.get_context(m)
        p = ctx.Process(target=noop); p.start(); p.join()  # warm-up; starts the forkserver
        times = []
        for _ in range(n_spawn if m == 'spawn' else n):
            t = time.perf_counter()
            p = ctx.Process(target=noop); p.start(); p.join()
            times.append((time.perf_counter() - t) * 1e6)
        print(m, ' '.join('%.1f' % x for x in times), flush=True)
"#;
