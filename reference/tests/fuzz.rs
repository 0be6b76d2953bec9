//! The fuzz targets of `src/fuzz.rs` on random inputs, for a time budget each: a fraction of a
//! second under `cargo test`, longer with `MULTIPROCESSING_FUZZ_MS` (which
//! `cargo xtask fuzz --seconds N` sets). A failure prints its seed; replay it with
//! `ARBTEST_SEED=<seed> cargo test -p multiprocessing-rs --test fuzz <target>`.
//!
//! Inputs are arbitrary bytes, and for the preparation data also mutations of a valid encoding
//! (random bytes rarely get past its first fields).

#![cfg(unix)]

use std::time::Duration;

use arbitrary::Unstructured;
use multiprocessing::fuzz;

/// Each target's budget.
fn budget() -> Duration {
    let ms = std::env::var("MULTIPROCESSING_FUZZ_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(300);
    Duration::from_millis(ms)
}

fn fuzz_bytes(target: fn(&[u8])) {
    arbtest::arbtest(|u| {
        let bytes: Vec<u8> = u.arbitrary()?;
        target(&bytes);
        Ok(())
    })
    .budget(budget());
}

/// `bytes` with a few random edits: overwritten, inserted, removed bytes, or a cut.
fn mutate(mut bytes: Vec<u8>, u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u8>> {
    for _ in 0..u.int_in_range(1..=4)? {
        let at = u.choose_index(bytes.len().max(1))?.min(bytes.len());
        match u.int_in_range(0..=3)? {
            0 if at < bytes.len() => bytes[at] = u.arbitrary()?,
            1 => bytes.insert(at, u.arbitrary()?),
            2 if at < bytes.len() => drop(bytes.remove(at)),
            _ => bytes.truncate(at),
        }
    }
    Ok(bytes)
}

#[test]
fn frame_reader() {
    fuzz_bytes(fuzz::frames);
}

#[test]
fn wire_decoder() {
    fuzz_bytes(fuzz::decode);
}

#[test]
fn preparation_data() {
    fuzz_bytes(fuzz::preparation);
    arbtest::arbtest(|u| {
        let bytes = mutate(fuzz::valid_preparation(), u)?;
        fuzz::preparation(&bytes);
        Ok(())
    })
    .budget(budget());
}

#[test]
fn queue_record_and_header() {
    fuzz_bytes(fuzz::queue);
}

#[test]
fn connection_frames() {
    fuzz_bytes(fuzz::connection);
}
