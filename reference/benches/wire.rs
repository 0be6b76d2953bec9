//! The wire format, chosen by measurement: encode + decode time of typical messages in each
//! candidate serde format, on this machine.
//!
//! ```text
//! cargo bench -p multiprocessing-rs --bench wire
//! ```
//!
//! Candidates: postcard (the one in use, `src/wire.rs`), bincode 1, and serde_json (a text
//! format, for scale). Messages: a small integer (the Queue small-item figure), a small record
//! (a name, a few numbers), a 1 KiB byte string, and a 1 MiB vector of `u32`. For each, the
//! median of 15 runs of a batch, in ns per encode+decode, and the encoded size.

use std::hint::black_box;
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u64,
    name: String,
    values: Vec<i32>,
    ok: bool,
}

struct Format {
    name: &'static str,
    round_trip: fn(&Message) -> usize,
}

enum Message {
    Int(u64),
    Record(Record),
    Bytes(serde_bytes_like::Bytes),
    Big(Vec<u32>),
}

/// A byte string serialized as bytes (serde's `serialize_bytes`), as `send` of a `Vec<u8>`
/// wrapped by the user would be.
mod serde_bytes_like {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Debug, Clone, PartialEq)]
    pub struct Bytes(pub Vec<u8>);

    impl Serialize for Bytes {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }

    impl<'de> Deserialize<'de> for Bytes {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Bytes;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                    Ok(Bytes(v.to_vec()))
                }
                fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Bytes, E> {
                    Ok(Bytes(v))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<Bytes, A::Error> {
                    let mut out = Vec::new();
                    while let Some(b) = seq.next_element()? {
                        out.push(b);
                    }
                    Ok(Bytes(out))
                }
            }
            d.deserialize_bytes(Visitor)
        }
    }
}

fn postcard_rt<T: Serialize + DeserializeOwned>(value: &T) -> usize {
    let bytes = postcard::to_stdvec(value).unwrap();
    let back: T = postcard::from_bytes(&bytes).unwrap();
    black_box(back);
    bytes.len()
}

fn bincode_rt<T: Serialize + DeserializeOwned>(value: &T) -> usize {
    let bytes = bincode::serialize(value).unwrap();
    let back: T = bincode::deserialize(&bytes).unwrap();
    black_box(back);
    bytes.len()
}

fn json_rt<T: Serialize + DeserializeOwned>(value: &T) -> usize {
    let bytes = serde_json::to_vec(value).unwrap();
    let back: T = serde_json::from_slice(&bytes).unwrap();
    black_box(back);
    bytes.len()
}

macro_rules! dispatch {
    ($f:ident) => {
        |m: &Message| match m {
            Message::Int(v) => $f(v),
            Message::Record(v) => $f(v),
            Message::Bytes(v) => $f(v),
            Message::Big(v) => $f(v),
        }
    };
}

fn median_ns(format: &Format, message: &Message, batch: u32) -> (f64, usize) {
    let mut size = 0;
    for _ in 0..batch.min(100) {
        size = (format.round_trip)(message); // warm-up
    }
    let mut samples: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                size = (format.round_trip)(black_box(message));
            }
            t.elapsed().as_nanos() as f64 / f64::from(batch)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    (samples[samples.len() / 2], size)
}

fn main() {
    let formats = [
        Format {
            name: "postcard",
            round_trip: dispatch!(postcard_rt),
        },
        Format {
            name: "bincode",
            round_trip: dispatch!(bincode_rt),
        },
        Format {
            name: "serde_json",
            round_trip: dispatch!(json_rt),
        },
    ];
    let messages = [
        ("u64", Message::Int(123_456_789), 200_000),
        (
            "record",
            Message::Record(Record {
                id: 42,
                name: "worker-7".into(),
                values: vec![1, -2, 3, 400, 50_000],
                ok: true,
            }),
            100_000,
        ),
        (
            "1 KiB bytes",
            Message::Bytes(serde_bytes_like::Bytes(vec![7; 1024])),
            50_000,
        ),
        ("1 MiB of u32", Message::Big((0..262_144).collect()), 20),
    ];
    println!(
        "{:<14} {:>14} {:>14} {:>14}",
        "message", formats[0].name, formats[1].name, formats[2].name
    );
    for (label, message, batch) in &messages {
        let cells: Vec<String> = formats
            .iter()
            .map(|f| {
                let (ns, size) = median_ns(f, message, *batch);
                format!("{ns:>8.0} ns {size:>6}B")
            })
            .collect();
        println!("{label:<14} {}", cells.join(" "));
    }
    println!("(median ns per encode+decode, and the encoded size)");
}
