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
use multiprocessing::executor::Executor;
use multiprocessing::pool::Pool;
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
                paired_ratio(&ctx, turn.is_multiple_of(2))
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
        "pool-map-tiny" | "pool-map-chunked" => {
            let pool = fork_pool(2)?;
            let chunksize = (args.figure == "pool-map-tiny").then_some(1);
            collect(args, || pool_map(&pool, args.n, chunksize))
        }
        "executor-map" => {
            let executor = Executor::builder()
                .max_workers(2)
                .mp_context(context(Method::Fork)?)
                .build()?;
            collect(args, || executor_map(&executor, args.n))
        }
        "pool-apply-roundtrip" => {
            let pool = fork_pool(1)?;
            collect(args, || apply_roundtrip(&pool, args.n))
        }
        "pool-apply-roundtrip-1cpu" => {
            // The pool's worker and handler thread inherit the pinning.
            pin(args.pinning()?.0)?;
            let pool = fork_pool(1)?;
            let echo = RawEcho::start()?;
            let mut turn = 0usize;
            let samples = collect(args, || {
                turn += 1;
                let (apply, raw) = if turn.is_multiple_of(2) {
                    let raw = echo.roundtrip(args.n)?;
                    (apply_roundtrip(&pool, args.n)?, raw)
                } else {
                    let apply = apply_roundtrip(&pool, args.n)?;
                    (apply, echo.roundtrip(args.n)?)
                };
                Ok(apply / raw)
            });
            echo.stop()?;
            samples
        }
        "pool-cpu-speedup" => {
            let cores = bench_subjects::allowed_cpus()?.len();
            let pool = fork_pool(cores)?;
            collect(args, || cpu_speedup(&pool, cores, args.n))
        }
        "queue-1mib" => collect(args, || queue_blocks(args.n)),
        "queue-1mib-paired" => {
            let mut turn = 0usize;
            collect(args, || {
                turn += 1;
                if turn.is_multiple_of(2) {
                    let direct = send_bytes(args.n)?;
                    Ok(queue_blocks(args.n)? / direct)
                } else {
                    let queued = queue_blocks(args.n)?;
                    Ok(queued / send_bytes(args.n)?)
                }
            })
        }
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

// ----- pools and executors -----

fn fork_pool(processes: usize) -> Result<Pool> {
    Ok(Pool::builder()
        .processes(processes)
        .context(context(Method::Fork)?)
        .build()?)
}

#[multiprocessing::target]
fn tiny(x: u64) -> u64 {
    x
}

/// Tasks per second of `map` over `n` trivial tasks.
fn pool_map(pool: &Pool, n: usize, chunksize: Option<usize>) -> Result<f64> {
    let t = Instant::now();
    let results = pool.map(tiny, 0..n as u64, chunksize)?;
    let elapsed = t.elapsed().as_secs_f64();
    if results.len() != n || results.last().copied() != Some(n as u64 - 1) {
        return Err("map returned the wrong results".into());
    }
    Ok(n as f64 / elapsed)
}

/// Tasks per second of the executor's `map` over `n` trivial tasks (chunksize 1, CPython's
/// default).
fn executor_map(executor: &Executor, n: usize) -> Result<f64> {
    let t = Instant::now();
    let mut count = 0;
    for result in executor.map(tiny, 0..n as u64, None, 1)? {
        result?;
        count += 1;
    }
    let elapsed = t.elapsed().as_secs_f64();
    if count != n {
        return Err("map returned the wrong number of results".into());
    }
    Ok(n as f64 / elapsed)
}

/// Seconds per `apply` of a trivial task on an idle pool.
fn apply_roundtrip(pool: &Pool, n: usize) -> Result<f64> {
    let t = Instant::now();
    for i in 0..n as u64 {
        if pool.apply(tiny, (i,))? != i {
            return Err("apply returned the wrong result".into());
        }
    }
    Ok(t.elapsed().as_secs_f64() / n as f64)
}

/// A raw child that echoes single bytes over two pipes (the floor of a round trip).
struct RawEcho {
    to_child: std::fs::File,
    from_child: std::fs::File,
    pid: nix::unistd::Pid,
}

impl RawEcho {
    fn start() -> Result<RawEcho> {
        use std::fs::File;
        use std::io::{Read, Write};
        let (child_reads, to_child) = nix::unistd::pipe()?;
        let (from_child, child_writes) = nix::unistd::pipe()?;
        match fork_now()? {
            ForkResult::Child => bench_subjects::in_child(|| {
                drop((to_child, from_child));
                let (mut input, mut output) = (File::from(child_reads), File::from(child_writes));
                let mut byte = [0u8; 1];
                loop {
                    if input.read(&mut byte)? == 0 {
                        return Ok(());
                    }
                    output.write_all(&byte)?;
                }
            }),
            ForkResult::Parent { child } => Ok(RawEcho {
                to_child: File::from(to_child),
                from_child: File::from(from_child),
                pid: child,
            }),
        }
    }

    /// Seconds per 1-byte round trip.
    fn roundtrip(&self, n: usize) -> Result<f64> {
        use std::io::{Read, Write};
        let mut byte = [0u8; 1];
        let t = Instant::now();
        for _ in 0..n {
            (&self.to_child).write_all(b"x")?;
            if (&self.from_child).read(&mut byte)? != 1 {
                return Err("the echo ended".into());
            }
        }
        Ok(t.elapsed().as_secs_f64() / n as f64)
    }

    fn stop(self) -> Result<()> {
        drop(self.to_child);
        wait_ok(self.pid)
    }
}

/// About a millisecond of arithmetic that the optimizer cannot skip.
#[multiprocessing::target]
fn spin(seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..2_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// The speedup of `map` of `n` CPU-bound tasks over the same tasks run here one by one,
/// divided by the number of cores.
fn cpu_speedup(pool: &Pool, cores: usize, n: usize) -> Result<f64> {
    let n = n.max(cores);
    let t = Instant::now();
    let serial: u64 = (0..n as u64)
        .map(|i| spin(std::hint::black_box(i)))
        .fold(0, |a, b| a ^ b);
    let serial_time = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let parallel: u64 = pool
        .map(spin, 0..n as u64, Some(1))?
        .into_iter()
        .fold(0, |a, b| a ^ b);
    let parallel_time = t.elapsed().as_secs_f64();
    if serial != parallel {
        return Err("the pool computed something else".into());
    }
    Ok(serial_time / parallel_time / cores as f64)
}

#[multiprocessing::target]
fn put_blocks(queue: Queue<Vec<u8>>, ready: Barrier, n: u64) -> Result<()> {
    let block = vec![0x5a_u8; MIB];
    ready.wait(None)?;
    for _ in 0..n {
        queue.put(&block)?;
    }
    Ok(())
}

/// Bytes per second of 1 MiB `Vec<u8>` items through a queue, from a child to the parent.
fn queue_blocks(n: usize) -> Result<f64> {
    let queue: Queue<Vec<u8>> = Queue::new()?;
    let ready = Barrier::new(2)?;
    let p = fork_process(put_blocks, (queue.clone(), ready.clone(), n as u64))?;
    until_waiting(&ready, 1)?;
    let t = Instant::now();
    ready.wait(None)?;
    let mut total = 0;
    for _ in 0..n {
        total += queue.get()?.len();
    }
    let elapsed = t.elapsed().as_secs_f64();
    join_ok(&p)?;
    if total != n * MIB {
        return Err(format!("received {total} bytes, expected {}", n * MIB).into());
    }
    Ok(total as f64 / elapsed)
}
