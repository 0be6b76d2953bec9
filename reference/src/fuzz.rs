//! Fuzz targets: the code that reads bytes another process (or a stray write) controls, as
//! functions of arbitrary bytes. Each must return for every input: no panic, no hang, no
//! allocation beyond what the input's real length justifies. Compiled with the `fuzzing`
//! feature only, which this crate's tests enable; `tests/fuzz.rs` runs them on random inputs
//! for a time budget (`cargo test`: a fraction of a second each; `cargo xtask fuzz --seconds N`:
//! longer), on stable Rust.
//!
//! ```
//! multiprocessing::fuzz::frames(&[3, 0, 0, 0, b'a', b'b']);
//! multiprocessing::fuzz::decode(&[0, 1, 0]);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::wire;

/// The frame reader (preparation data, forkserver requests): frames until the end or an error.
pub fn frames(bytes: &[u8]) {
    let mut stream = std::io::Cursor::new(bytes);
    while let Ok(Some(frame)) = wire::read_frame_from(&mut stream) {
        assert!(frame.len() <= bytes.len(), "a frame longer than its input");
    }
}

/// A recursive type, as a peer can nest it without bound.
#[derive(Serialize, Deserialize, Debug)]
struct Node {
    children: Vec<Node>,
}

#[derive(Serialize, Deserialize, Debug)]
enum Tree {
    Leaf(u8),
    Branch(Box<Tree>, Box<Tree>),
    Named {
        left: Option<Box<Tree>>,
        tag: String,
    },
}

/// The wire decoder: the first byte picks a type, the rest is decoded as it.
pub fn decode(bytes: &[u8]) {
    let Some((&which, rest)) = bytes.split_first() else {
        return;
    };
    let what = || "fuzz input".to_owned();
    match which % 8 {
        0 => drop(wire::decode::<Node>(rest, what)),
        1 => drop(wire::decode::<Tree>(rest, what)),
        2 => drop(wire::decode::<String>(rest, what)),
        3 => drop(wire::decode::<Vec<u64>>(rest, what)),
        4 => drop(wire::decode::<(
            u8,
            Option<String>,
            BTreeMap<String, Vec<i32>>,
        )>(rest, what)),
        5 => drop(wire::decode::<(f64, char, bool, i128, Vec<u8>)>(rest, what)),
        6 => drop(wire::decode::<Vec<Option<Box<Tree>>>>(rest, what)),
        _ => drop(wire::decode::<crate::spawn::Preparation>(rest, what)),
    }
}

/// A valid preparation data encoding, for [`preparation`] to start mutations from.
pub fn valid_preparation() -> Vec<u8> {
    crate::spawn::example_preparation()
}

/// The preparation data a spawned child decodes, and the bootstrap variable it parses.
pub fn preparation(bytes: &[u8]) {
    let _ = wire::decode::<crate::spawn::Preparation>(bytes, || "fuzz input".to_owned());
    frames(bytes);
    crate::bootstrap::fuzz_request(&String::from_utf8_lossy(bytes));
}

/// The queue's ring and header: a script of puts, gets and stray writes into the header and the
/// first record (see `queue.rs`, `fuzz_script`).
pub fn queue(bytes: &[u8]) {
    crate::queue::fuzz_script(bytes);
}

/// A connection's receiving end, fed `bytes` (split between its pipe and its socket) by a peer
/// that then closes.
pub fn connection(bytes: &[u8]) {
    crate::connection::fuzz_stream(bytes);
}
