//! The reference (`multiprocessing`) as `cargo xtask bench` measures it: one figure per run
//! (see the crate documentation for the protocol and the figures).
//!
//! The IPC figures start their children under `fork`, as the CPython subject does: the start
//! method changes nothing once the child runs.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use bench_subjects::{
    collect, fork_now, monotonic_ns, peak_rss, pin, seconds, wait_ok, Args, Method, Result,
    INCREMENTERS, MIB,
};
use multiprocessing::connection::{pipe, Connection};
use multiprocessing::queue::Queue;
use multiprocessing::shared::{RawArray, RawValue, SharedMemory, Value};
use multiprocessing::sync::Barrier;
use multiprocessing::{get_context, Context, Process};
use nix::unistd::ForkResult;

fn main() -> ExitCode {
    bench_subjects::exit_at_once_if_asked();
    multiprocessing::main_guard();
    bench_subjects::main(measure)
}

fn measure(args: &Args) -> Result<Vec<f64>> {
    match args.figure.as_str() {
        "start-join" => {
            let ctx = context(args.method()?)?;
            collect(args, || seconds(|| start_join(&ctx, 1)))
        }
        "start-join-paired" => {
            let ctx = context(args.method()?)?;
            let mut turn = 0usize;
            collect(args, || {
                turn += 1;
                paired_ratio(&ctx, turn % 2 == 0)
            })
        }
        "start-join-16" => {
            let ctx = context(args.method()?)?;
            collect(args, || seconds(|| start_join(&ctx, args.n)))
        }
        "start-join-first" => match args.method()? {
            Method::Forkserver => collect(args, first_forkserver_start),
            _ => Err(args.unsupported()),
        },
        // One fresh program's first forkserver start (run by `start-join-first`).
        "start-join-first-once" => {
            let t = seconds(|| start_join(&context(Method::Forkserver)?, 1))?;
            Ok(vec![t])
        }
        "child-rss" => {
            let ctx = context(args.method()?)?;
            collect(args, || child_rss(&ctx))
        }
        "queue-throughput" => collect(args, || queue_throughput(args.n)),
        "send-bytes-1mib" => collect(args, || send_bytes(args.n)),
        "roundtrip-1cpu" | "roundtrip-2cpu" => roundtrip(args),
        "value-increments" => collect(args, || value_increments(args.n)),
        "shm-write" => shm_write(args),
        _ => Err(args.unsupported()),
    }
}

fn context(method: Method) -> Result<Context> {
    Ok(get_context(Some(method.as_str()))?)
}

/// Joins `p` and checks it exited with 0.
fn join_ok(p: &Process) -> Result<()> {
    p.join()?;
    match p.exitcode()? {
        Some(0) => Ok(()),
        other => Err(format!("the child {} exited with {other:?}", p.name()).into()),
    }
}

#[multiprocessing::target]
fn noop() {}

/// Starts `n` children that do nothing, then joins them all.
fn start_join(ctx: &Context, n: usize) -> Result<()> {
    let children: Vec<Process> = (0..n).map(|_| ctx.process(noop, ())).collect();
    for p in &children {
        p.start()?;
    }
    for p in &children {
        join_ok(p)?;
    }
    Ok(())
}

/// One paired sample: the reference's start + join of a trivial child divided by a raw
/// `fork` + `_exit` + `waitpid` of this same process, measured back to back (in alternating
/// order), so that the load of the moment, this program's address space and its page layout are
/// the same on both sides of the ratio.
fn paired_ratio(ctx: &Context, raw_first: bool) -> Result<f64> {
    let raw = || seconds(fork_and_wait);
    let reference = || seconds(|| start_join(ctx, 1));
    let (raw, reference) = if raw_first {
        let raw = raw()?;
        (raw, reference()?)
    } else {
        let reference = reference()?;
        (raw()?, reference)
    };
    Ok(reference / raw)
}

/// `fork`; the child `_exit(0)`s at once; `waitpid` (the `os` subject's `start-join`).
fn fork_and_wait() -> Result<()> {
    match fork_now()? {
        // SAFETY: `_exit` is async-signal-safe and ends the child at once.
        ForkResult::Child => unsafe { libc::_exit(0) },
        ForkResult::Parent { child } => wait_ok(child),
    }
}

/// Runs this program again for one first forkserver start, and reads its time.
fn first_forkserver_start() -> Result<f64> {
    let out = Command::new(std::env::current_exe()?)
        .args(["start-join-first-once", "--samples", "1"])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "the fresh program failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text
        .find('[')
        .ok_or("no samples in the fresh program's output")?
        + 1;
    let end = text
        .rfind(']')
        .ok_or("no samples in the fresh program's output")?;
    Ok(text[start..end].trim().parse()?)
}

#[multiprocessing::target]
fn report_peak_rss(slot: RawValue<u64>) -> Result<()> {
    slot.set(peak_rss()?);
    Ok(())
}

/// A trivial child's peak resident memory, in bytes.
fn child_rss(ctx: &Context) -> Result<f64> {
    let slot = RawValue::new(0u64)?;
    let p = ctx.process(report_peak_rss, (slot.clone(),));
    p.start()?;
    join_ok(&p)?;
    Ok(slot.get() as f64)
}

/// Waits until the `others` other parties wait at `barrier`. The caller then reads the clock and
/// releases them (its own `wait`): the clock starts before any of them can go.
fn until_waiting(barrier: &Barrier, others: usize) -> Result<()> {
    while barrier.n_waiting()? < others {
        std::thread::sleep(Duration::from_micros(50));
    }
    Ok(())
}

/// Used by the IPC figures.
fn fork_process<A, T>(target: T, args: A) -> Result<Process>
where
    T: multiprocessing::Target<A>,
    A: serde::Serialize + Send + 'static,
{
    let p = context(Method::Fork)?.process(target, args);
    p.start()?;
    Ok(p)
}

#[multiprocessing::target]
fn produce(queue: Queue<u64>, ready: Barrier, n: u64) -> Result<()> {
    ready.wait(None)?;
    for i in 0..n {
        queue.put(i)?;
    }
    Ok(())
}

/// Items per second through a queue, from a child to the parent.
fn queue_throughput(n: usize) -> Result<f64> {
    let queue: Queue<u64> = Queue::new()?;
    let ready = Barrier::new(2)?;
    let p = fork_process(produce, (queue.clone(), ready.clone(), n as u64))?;
    until_waiting(&ready, 1)?;
    let t = Instant::now();
    ready.wait(None)?;
    for i in 0..n as u64 {
        let item = queue.get()?;
        if item != i {
            return Err(format!("got item {item}, expected {i}").into());
        }
    }
    let elapsed = t.elapsed().as_secs_f64();
    join_ok(&p)?;
    Ok(n as f64 / elapsed)
}

#[multiprocessing::target]
fn send_blocks(mut conn: Connection, ready: Barrier, n: u64) -> Result<()> {
    let block = vec![0x5a_u8; MIB];
    ready.wait(None)?;
    for _ in 0..n {
        conn.send_bytes(&block, 0, None)?;
    }
    Ok(())
}

/// Bytes per second of 1 MiB `send_bytes`, from a child to the parent.
fn send_bytes(n: usize) -> Result<f64> {
    let (mut reader, writer) = pipe(false)?;
    let ready = Barrier::new(2)?;
    let p = fork_process(send_blocks, (writer, ready.clone(), n as u64))?;
    until_waiting(&ready, 1)?;
    let t = Instant::now();
    ready.wait(None)?;
    let mut total = 0;
    for _ in 0..n {
        total += reader.recv_bytes(None)?.len();
    }
    let elapsed = t.elapsed().as_secs_f64();
    join_ok(&p)?;
    if total != n * MIB {
        return Err(format!("received {total} bytes, expected {}", n * MIB).into());
    }
    Ok(total as f64 / elapsed)
}

/// Echoes byte messages until an empty one.
#[multiprocessing::target]
fn echo(mut conn: Connection, cpu: usize) -> Result<()> {
    pin(cpu)?;
    loop {
        let message = conn.recv_bytes(None)?;
        if message.is_empty() {
            return Ok(());
        }
        conn.send_bytes(&message, 0, None)?;
    }
}

/// Seconds per 1-byte round trip to an echoing child.
fn roundtrip(args: &Args) -> Result<Vec<f64>> {
    let (parent_cpu, child_cpu) = args.pinning()?;
    pin(parent_cpu)?;
    let (mut ours, theirs) = pipe(true)?;
    let p = fork_process(echo, (theirs, child_cpu))?;
    let samples = collect(args, || {
        let t = Instant::now();
        for _ in 0..args.n {
            ours.send_bytes(b"x", 0, None)?;
            if ours.recv_bytes(None)?.len() != 1 {
                return Err("the echo is not one byte".into());
            }
        }
        Ok(t.elapsed().as_secs_f64() / args.n as f64)
    })?;
    ours.send_bytes(b"", 0, None)?;
    join_ok(&p)?;
    Ok(samples)
}

#[multiprocessing::target]
fn increment(
    value: Value<u64>,
    start: Barrier,
    n: u64,
    ends: RawArray<u64>,
    index: usize,
) -> Result<()> {
    start.wait(None)?;
    for _ in 0..n {
        let guard = value.lock()?;
        guard.set(guard.get() + 1);
    }
    ends.set(index, monotonic_ns())?;
    Ok(())
}

/// Locked increments per second of one shared value, from [`INCREMENTERS`] children: from their
/// release to the last one's end (each reports when it ended).
fn value_increments(n: usize) -> Result<f64> {
    let value = Value::new(0u64)?;
    let start = Barrier::new(INCREMENTERS + 1)?;
    let ends = RawArray::<u64>::new(INCREMENTERS)?;
    let children = (0..INCREMENTERS)
        .map(|i| {
            let args = (value.clone(), start.clone(), n as u64, ends.clone(), i);
            fork_process(increment, args)
        })
        .collect::<Result<Vec<_>>>()?;
    until_waiting(&start, INCREMENTERS)?;
    let t0 = monotonic_ns();
    start.wait(None)?;
    for p in &children {
        join_ok(p)?;
    }
    let end = ends.to_vec().into_iter().max().unwrap_or(0);
    let elapsed = end.saturating_sub(t0) as f64 / 1e9;
    let total = (INCREMENTERS * n) as u64;
    if value.get()? != total {
        return Err(format!("the value is {}, expected {total}", value.get()?).into());
    }
    if elapsed <= 0.0 {
        return Err("the children reported no end time".into());
    }
    Ok(total as f64 / elapsed)
}

/// Bytes per second of one copy of `n` bytes into a shared memory segment.
fn shm_write(args: &Args) -> Result<Vec<f64>> {
    let shm = SharedMemory::create(args.n)?;
    let source = vec![0xa5_u8; args.n];
    let samples = collect(args, || {
        let t = Instant::now();
        shm.write_at(0, &source)?;
        Ok(args.n as f64 / t.elapsed().as_secs_f64())
    })?;
    shm.unlink()?;
    Ok(samples)
}
