//! Code before the main guard runs again in every `spawn` child, as a Python module's top level
//! does; once in the forkserver, whose children are forked from the guard (CPython 3.13.8+ and
//! 3.14.1+); not in a `fork` child. With three children: 4, 2 and 1 times.

#[multiprocessing::target]
fn child() {}

fn main() -> multiprocessing::Result<()> {
    println!("top"); // the module's top level
    multiprocessing::main_guard();
    let method = std::env::args().nth(1).unwrap_or_else(|| "spawn".into());
    let ctx = multiprocessing::get_context(Some(&method))?;
    let children: Vec<_> = (0..3).map(|_| ctx.process(child, ())).collect();
    for p in &children {
        p.start()?;
    }
    for p in &children {
        p.join()?;
    }
    Ok(())
}
