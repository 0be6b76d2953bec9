//! ipc-channel (Servo's channels between processes) as `cargo xtask bench` measures it:
//! `send-bytes-1mib` and the round trips, over its byte channels (`ipc::bytes_channel`). The
//! channels are made before a `fork`, so the child simply has its ends.

use std::process::ExitCode;
use std::time::Instant;

use bench_subjects::{collect, fork_now, in_child, pin, wait_ok, Args, Result, MIB};
use ipc_channel::ipc::bytes_channel;
use nix::unistd::ForkResult;

fn main() -> ExitCode {
    bench_subjects::main(measure)
}

fn measure(args: &Args) -> Result<Vec<f64>> {
    match args.figure.as_str() {
        "send-bytes-1mib" => collect(args, || throughput(args.n)),
        "roundtrip-1cpu" | "roundtrip-2cpu" => roundtrip(args),
        _ => Err(args.unsupported()),
    }
}

/// Bytes per second: a child sends `n` messages of 1 MiB.
fn throughput(n: usize) -> Result<f64> {
    let (tx, rx) = bytes_channel()?;
    let (go_tx, go_rx) = bytes_channel()?;
    let child = match fork_now()? {
        ForkResult::Child => in_child(|| {
            let block = vec![0x5a_u8; MIB];
            go_rx.recv()?;
            for _ in 0..n {
                tx.send(&block)?;
            }
            Ok(())
        }),
        ForkResult::Parent { child } => child,
    };
    let t = Instant::now();
    go_tx.send(&[1])?;
    let mut total = 0;
    for _ in 0..n {
        total += rx.recv()?.len();
    }
    let elapsed = t.elapsed().as_secs_f64();
    wait_ok(child)?;
    if total != n * MIB {
        return Err(format!("received {total} bytes, expected {}", n * MIB).into());
    }
    Ok(total as f64 / elapsed)
}

/// Seconds per 1-byte round trip to an echoing child (an empty message stops it).
fn roundtrip(args: &Args) -> Result<Vec<f64>> {
    let (parent_cpu, child_cpu) = args.pinning()?;
    pin(parent_cpu)?;
    let (down_tx, down_rx) = bytes_channel()?;
    let (up_tx, up_rx) = bytes_channel()?;
    let child = match fork_now()? {
        ForkResult::Child => in_child(|| {
            pin(child_cpu)?;
            loop {
                let message = down_rx.recv()?;
                if message.is_empty() {
                    return Ok(());
                }
                up_tx.send(&message)?;
            }
        }),
        ForkResult::Parent { child } => child,
    };
    let samples = collect(args, || {
        let t = Instant::now();
        for _ in 0..args.n {
            down_tx.send(b"x")?;
            if up_rx.recv()?.len() != 1 {
                return Err("the echo is not one byte".into());
            }
        }
        Ok(t.elapsed().as_secs_f64() / args.n as f64)
    })?;
    down_tx.send(b"")?;
    wait_ok(child)?;
    Ok(samples)
}
