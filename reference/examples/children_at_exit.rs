//! When the main process ends, daemonic children are terminated and the others joined, as
//! Python's exit handler does. `main` returns without joining anything.

use std::time::Duration;

#[multiprocessing::target]
fn finishes_later(wait_ms: u64) {
    std::thread::sleep(Duration::from_millis(wait_ms));
    println!("non-daemonic child done");
}

#[multiprocessing::target]
fn would_outlive_us() {
    std::thread::sleep(Duration::from_secs(60));
    println!("daemon survived");
}

fn main() -> multiprocessing::Result<()> {
    multiprocessing::main_guard();
    let method = std::env::args().nth(1).unwrap_or_else(|| "spawn".into());
    let ctx = multiprocessing::get_context(Some(&method))?;
    ctx.process(would_outlive_us, ())
        .with_daemon(true)
        .start()?;
    ctx.process(finishes_later, (200,)).start()?;
    println!("main done");
    Ok(())
}
