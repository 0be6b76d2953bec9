//! The README's IPC example: a queue, a shared value and a pipe, under the default start method.

#[cfg(unix)]
use multiprocessing::connection::{pipe, Connection};
#[cfg(unix)]
use multiprocessing::queue::Queue;
#[cfg(unix)]
use multiprocessing::shared::Value;
#[cfg(unix)]
use multiprocessing::Process;

#[cfg(unix)]
#[multiprocessing::target]
fn work(results: Queue<u64>, total: Value<u64>, mut conn: Connection) {
    let n: u64 = conn.recv().unwrap();
    for i in 0..n {
        results.put(i).unwrap();
        let total = total.lock().unwrap(); // its process-shared lock, as in CPython
        total.set(total.get() + i);
    }
}

#[cfg(unix)]
fn main() -> multiprocessing::Result<()> {
    multiprocessing::main_guard();
    if let Some(method) = std::env::args().nth(1) {
        multiprocessing::set_start_method(Some(&method), false)?; // fork | spawn | forkserver
    }
    let (results, total) = (Queue::new()?, Value::new(0u64)?);
    let (mut ours, theirs) = pipe(true)?;
    let p = Process::new(work, (results.clone(), total.clone(), theirs));
    p.start()?;
    ours.send(&3u64)?;
    let got: Vec<u64> = (0..3).map(|_| results.get()).collect::<Result<_, _>>()?;
    p.join()?;
    assert_eq!((got, total.get()?), (vec![0, 1, 2], 3));
    Ok(())
}

#[cfg(not(unix))]
fn main() {
    eprintln!("pipes, queues and shared values are Unix-only in this crate");
    std::process::exit(2);
}
