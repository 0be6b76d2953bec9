//! A program that forgot the main guard. Under `fork` it works. Under `spawn` and `forkserver` the
//! child re-runs `main`, reaches `start` while still bootstrapping, gets `Error::Bootstrapping`
//! and exits with 1: never a fork bomb.

#[multiprocessing::target]
fn hello() {
    println!("hello");
}

fn main() {
    let method = std::env::args().nth(1).unwrap_or_else(|| "spawn".into());
    let ctx = multiprocessing::get_context(Some(&method)).unwrap();
    let p = ctx.process(hello, ());
    p.start().unwrap();
    p.join().unwrap();
    println!("exitcode: {:?}", p.exitcode().unwrap());
}
