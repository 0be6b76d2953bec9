//! A program that forgot the main guard. Under `fork` it works. Under `spawn` the child re-runs
//! `main`, reaches `start` while still bootstrapping, gets `Error::Bootstrapping` and exits with 1:
//! never a fork bomb. Under `forkserver` the server, which runs `main` up to the guard once, fails
//! so and exits, and the parent's `start` gets `Error::ForkServerFailed`: no child is created (as
//! in CPython 3.14).

#[multiprocessing::target]
fn hello() {
    println!("hello");
}

fn main() {
    let method = std::env::args().nth(1).unwrap_or_else(|| "spawn".into());
    let ctx = multiprocessing::get_context(Some(&method)).unwrap();
    let p = ctx.process(hello, ());
    if let Err(err) = p.start() {
        eprintln!("{err}");
        std::process::exit(1);
    }
    p.join().unwrap();
    println!("exitcode: {:?}", p.exitcode().unwrap());
}
