//! Forking while another thread is alive prints CPython 3.12's warning; `spawn` does not.

#[multiprocessing::target]
fn child() {}

fn main() -> multiprocessing::Result<()> {
    multiprocessing::main_guard();
    let method = std::env::args().nth(1).unwrap_or_else(|| "fork".into());
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || rx.recv());
    let p = multiprocessing::get_context(Some(&method))?.process(child, ());
    p.start()?;
    p.join()?;
    drop(tx);
    let _ = thread.join();
    println!("exitcode: {:?}", p.exitcode()?);
    Ok(())
}
