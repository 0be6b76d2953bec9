//! The lesson's real-world case: checksum the files of a directory with worker processes.
//!
//! `cargo run -p multiprocessing-rs --example checksum [fork|spawn|forkserver] DIR`
//!
//! Prints `<sha256>  <name>` for each file, as `sha256sum` does, in name order, and
//! `<name>: <error>` for a file that could not be read; exits with 1 if any file failed. Two
//! kinds of failure show what a pool does with them:
//!
//! * a file that cannot be read (a dangling symlink) is an error the task returns, a value like
//!   any other;
//! * a file named `*.crash` stands for input that crashes a worker (a bug in native code, the
//!   out-of-memory killer): the worker aborts. That file's task fails with `WorkerLost`, the pool
//!   starts a new worker, and the other files are checksummed all the same. (CPython's
//!   `Pool.map` would wait for ever here.)

use std::io::Read;
use std::path::PathBuf;

use multiprocessing::pool::Pool;
use sha2::{Digest, Sha256};

/// The checksum of one file, or why there is none.
#[multiprocessing::target] // lets a spawned worker find the function by name
fn checksum(path: PathBuf) -> Result<String, String> {
    if path.extension().is_some_and(|e| e == "crash") {
        std::process::abort();
    }
    let mut file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn main() -> multiprocessing::Result<()> {
    multiprocessing::main_guard(); // a spawned worker takes over here
    let mut args = std::env::args().skip(1);
    let (method, dir) = match (args.next(), args.next()) {
        (Some(method), Some(dir)) => (method, dir),
        (Some(dir), None) => (String::new(), dir),
        _ => {
            eprintln!("usage: checksum [fork|spawn|forkserver] DIR");
            std::process::exit(2);
        }
    };
    let mut builder = Pool::builder().processes(4);
    if !method.is_empty() {
        builder = builder.context(multiprocessing::get_context(Some(&method))?);
    }
    let pool = builder.build()?;

    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)? // `?` on an io::Error
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.sort();

    let mut failed = false;
    // In order, each result as soon as it and those before it are in.
    for (path, result) in paths.iter().zip(pool.imap(checksum, paths.clone(), None)?) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        match result {
            Ok(Ok(digest)) => println!("{digest}  {name}"),
            Ok(Err(error)) => {
                failed = true;
                println!("{name}: {error}");
            }
            Err(error) => {
                failed = true;
                println!("{name}: {} ({error})", error.kind());
            }
        }
    }
    pool.close();
    pool.join()?;
    std::process::exit(i32::from(failed));
}
