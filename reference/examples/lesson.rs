//! The lesson's example: four workers, each printing its name and pids.
//!
//! ```text
//! cargo run -p multiprocessing-rs --example lesson [fork|spawn|forkserver]
//! ```

use multiprocessing::{current_process, Process};

#[multiprocessing::target]
fn worker() {
    println!("Process: {}", current_process().name);
    println!("PID: {}", std::process::id());
    println!("Parent PID: {}", parent_pid());
}

/// Python's `os.getppid()`: the OS-level parent (under `forkserver`, the server).
#[cfg(unix)]
fn parent_pid() -> u32 {
    std::os::unix::process::parent_id()
}

/// std has no parent pid on Windows; there the parent is always the process that called `start`.
#[cfg(not(unix))]
fn parent_pid() -> u32 {
    multiprocessing::parent_process().map_or(0, |parent| parent.pid as u32)
}

fn main() -> multiprocessing::Result<()> {
    multiprocessing::main_guard(); // Python's `if __name__ == '__main__':`
    if let Some(method) = std::env::args().nth(1) {
        multiprocessing::set_start_method(Some(&method), false)?;
    }
    let processes: Vec<Process> = (0..4)
        .map(|i| Process::new(worker, ()).with_name(format!("Worker-{i}")))
        .collect();
    for p in &processes {
        p.start()?;
    }
    for p in &processes {
        p.join()?;
    }
    Ok(())
}
