//! Prints the forkserver's pid (a forkserver child's OS-level parent), then blocks forever: a test
//! kills this program with SIGKILL and checks that the server goes too.

#[cfg(unix)]
use std::io::Write;

#[cfg(unix)]
#[multiprocessing::target]
fn report_server() {
    println!("server {}", std::os::unix::process::parent_id());
    let _ = std::io::stdout().flush();
}

#[cfg(unix)]
fn main() -> multiprocessing::Result<()> {
    multiprocessing::main_guard();
    let p = multiprocessing::get_context(Some("forkserver"))?.process(report_server, ());
    p.start()?;
    p.join()?;
    println!("ready");
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

#[cfg(not(unix))]
fn main() {
    eprintln!("the forkserver start method exists only on Unix");
    std::process::exit(2);
}
