//! The lesson's example: four workers, each printing its name and pids.
//!
//! ```text
//! cargo run -p multiprocessing --example lesson [fork|spawn|forkserver]
//! ```

use multiprocessing::{current_process, Process};

#[multiprocessing::target]
fn worker() {
    println!("Process: {}", current_process().name);
    println!("PID: {}", std::process::id());
    println!("Parent PID: {}", std::os::unix::process::parent_id());
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
