//! The wire format: how values cross a process boundary.
//!
//! [postcard](https://docs.rs/postcard): compact, serde-native, maintained. Measured with
//! `cargo bench -p multiprocessing-rs --bench wire` (median ns per encode+decode on the 2-core
//! development VM):
//!
//! | message | postcard | bincode 1 | serde_json |
//! | --- | --- | --- | --- |
//! | `u64` | 32 ns, 4 B | 3 ns, 8 B | 44 ns, 9 B |
//! | a small record | 168 ns, 20 B | 78 ns, 53 B | 398 ns, 65 B |
//! | 1 KiB of bytes | 114 ns | 78 ns | 17.6 µs |
//! | 1 MiB of `u32` | 4.2 ms, 770 KB | 1.5 ms, 1 MB | 6.6 ms, 1.7 MB |
//!
//! bincode's fixed-width integers are faster, but bincode is unmaintained (RUSTSEC-2025-0141),
//! and for the messages that dominate IPC (small ones) the difference, tens of nanoseconds, is
//! under a tenth of the one system call that carries the message. Bulk data goes through
//! `send_bytes`, which serializes nothing. So postcard, whose varints also make messages smaller.
//! Its cost: a failing `Deserialize` impl's own message is not kept (see [`decode`]).
//!
//! Every encoding and decoding failure becomes a typed error that names what was being
//! (de)serialized.

#[cfg(unix)]
use std::cell::RefCell;
use std::io::{self, Read, Write};
#[cfg(unix)]
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use serde::de::DeserializeOwned;
use serde::Serialize;
#[cfg(unix)]
use serde::{Deserialize, Deserializer, Serializer};

use crate::error::{Error, Result};

mod depth;

/// Largest frame we accept; a length beyond it is a corrupt stream, not an allocation request.
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// Writes a frame (a little-endian `u32` length, then the bytes) in one `write_all`: how the
/// preparation data and every framed message cross a pipe or socket.
pub(crate) fn write_frame_to(writer: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|&len| len as usize <= MAX_FRAME)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame larger than 1 GiB"))?;
    let mut buf = Vec::with_capacity(4 + bytes.len());
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(bytes);
    writer.write_all(&buf)
}

/// Reads a frame written by [`write_frame_to`]; `Ok(None)` at a clean end of stream (before the
/// first byte of a frame), an error at an end of stream inside one.
pub(crate) fn read_frame_from(reader: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match reader.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("corrupt frame: length {len} exceeds the 1 GiB limit"),
        ));
    }
    // Allocated as the bytes arrive, not from the header's word: a 4-byte header cannot make the
    // reader reserve a gigabyte.
    let mut buf = Vec::with_capacity(len.min(FIRST_ALLOCATION));
    reader.take(len as u64).read_to_end(&mut buf)?;
    if buf.len() < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(buf))
}

/// The most [`read_frame_from`] reserves before a frame's bytes arrive.
const FIRST_ALLOCATION: usize = 64 * 1024;

#[cfg(unix)]
thread_local! {
    /// While a process's arguments are encoded: the descriptors they carry, in order.
    static OUTGOING: RefCell<Option<Vec<RawFd>>> = const { RefCell::new(None) };
    /// While a child decodes its arguments: the descriptors it was handed, by index.
    static INCOMING: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
}

/// Encodes a process's arguments, collecting the descriptors of the IPC objects among them
/// (CPython's `reduction.DupFd`): the value carries an index, the descriptor is handed to the
/// child by the start method.
#[cfg(unix)]
pub(crate) fn encode_with_fds<T: Serialize + ?Sized>(
    value: &T,
    what: impl FnOnce() -> String,
) -> Result<(Vec<u8>, Vec<RawFd>)> {
    OUTGOING.with(|slot| *slot.borrow_mut() = Some(Vec::new()));
    let bytes = encode(value, what);
    let fds = OUTGOING
        .with(|slot| slot.borrow_mut().take())
        .unwrap_or_default();
    Ok((bytes?, fds))
}

/// Makes `fds` (handed to this child, in order) available to the decoding of its arguments.
#[cfg(unix)]
pub(crate) fn receive_fds(fds: Vec<OwnedFd>) {
    INCOMING.with(|slot| *slot.borrow_mut() = Some(fds.into_iter().map(Some).collect()));
}

/// Serializes a descriptor as its index among the descriptors handed to the child. Only
/// possible while a process's arguments are encoded.
#[cfg(unix)]
pub(crate) fn serialize_fd<S: Serializer>(
    fd: BorrowedFd<'_>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let index = OUTGOING.with(|slot| {
        slot.borrow_mut().as_mut().map(|fds| {
            fds.push(fd.as_raw_fd());
            fds.len() - 1
        })
    });
    match index {
        Some(index) => (index as u32).serialize(serializer),
        None => Err(serde::ser::Error::custom(
            "an IPC object can cross a process boundary only as an argument of a Process",
        )),
    }
}

/// Takes the descriptor a [`serialize_fd`] index names, once.
#[cfg(unix)]
pub(crate) fn deserialize_fd<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<OwnedFd, D::Error> {
    let index = u32::deserialize(deserializer)? as usize;
    INCOMING
        .with(|slot| {
            slot.borrow_mut()
                .as_mut()
                .and_then(|fds| fds.get_mut(index)?.take())
        })
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "no descriptor number {index} was handed to this process"
            ))
        })
}

/// Whether `T` is `Vec<u8>`, the bulk-data type, encoded and decoded as one block (below).
fn is_byte_vector<T: ?Sized>() -> bool {
    typeid::of::<T>() == typeid::of::<Vec<u8>>()
}

/// Encodes `value`; `what` names it in the error.
///
/// A `Vec<u8>` is copied as one block after its length: the bytes postcard writes for it, at
/// memory speed, where serde's `Vec<u8>` goes element by element (about 20 times slower for a
/// megabyte).
pub(crate) fn encode<T: Serialize + ?Sized>(
    value: &T,
    what: impl FnOnce() -> String,
) -> Result<Vec<u8>> {
    if is_byte_vector::<T>() {
        // SAFETY: `T` is `Vec<u8>` (same type id), so the reference points to a `Vec<u8>`.
        let bytes = unsafe { &*(value as *const T as *const Vec<u8>) };
        let mut length = [0u8; 10];
        let length =
            postcard::to_slice(&bytes.len(), &mut length).map_err(|err| Error::Serialization {
                what: what(),
                reason: err.to_string(),
            })?;
        let mut out = Vec::with_capacity(length.len() + bytes.len());
        out.extend_from_slice(length);
        out.extend_from_slice(bytes);
        return Ok(out);
    }
    encode_general(value, what)
}

/// [`encode`] into `out` (cleared first), so that a caller that puts many items reuses one
/// buffer: a `Vec<u8>` is then copied into memory already mapped, not into fresh pages.
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    what: impl FnOnce() -> String,
    out: &mut Vec<u8>,
) -> Result<()> {
    out.clear();
    if is_byte_vector::<T>() {
        // SAFETY: `T` is `Vec<u8>` (same type id), so the reference points to a `Vec<u8>`.
        let bytes = unsafe { &*(value as *const T as *const Vec<u8>) };
        let mut length = [0u8; 10];
        let length =
            postcard::to_slice(&bytes.len(), &mut length).map_err(|err| Error::Serialization {
                what: what(),
                reason: err.to_string(),
            })?;
        out.extend_from_slice(length);
        out.extend_from_slice(bytes);
        return Ok(());
    }
    *out = encode_general(value, what)?;
    Ok(())
}

/// [`encode`] of anything but the bulk-data type.
fn encode_general<T: Serialize + ?Sized>(
    value: &T,
    what: impl FnOnce() -> String,
) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|err| Error::Serialization {
        what: what(),
        reason: match err {
            postcard::Error::SerdeSerCustom => custom_message(value),
            other => other.to_string(),
        },
    })
}

/// postcard drops the message of a failing `Serialize` impl (`serde::ser::Error::custom`), and
/// that message is the useful part ("cannot serialize a Lock"). On this error path only, serialize
/// once more with serde_json, which keeps it.
fn custom_message<T: Serialize + ?Sized>(value: &T) -> String {
    match serde_json::to_vec(value) {
        Err(err) if err.is_data() => err.to_string(),
        _ => "the value's Serialize implementation returned an error".to_owned(),
    }
}

/// The length of the prefix before the bytes of the block [`encode`] writes for a `Vec<u8>`
/// (its length), checked against what follows.
fn byte_vector_prefix<T>(bytes: &[u8], what: impl FnOnce() -> String) -> Result<usize> {
    let error = |reason: String| Error::Deserialization {
        what: format!("{} as {}", what(), std::any::type_name::<T>()),
        reason,
    };
    match postcard::take_from_bytes::<usize>(bytes) {
        Ok((len, rest)) if rest.len() == len => Ok(bytes.len() - len),
        Ok((len, rest)) => Err(error(format!(
            "{len} bytes announced, {} present",
            rest.len()
        ))),
        Err(err) => Err(error(err.to_string())),
    }
}

/// `vector` as a `T`, which is `Vec<u8>` ([`is_byte_vector`]).
fn byte_vector_as<T>(vector: Vec<u8>) -> T {
    debug_assert!(is_byte_vector::<T>());
    let vector = std::mem::ManuallyDrop::new(vector);
    // SAFETY: `T` is `Vec<u8>` (same type id, checked by every caller); the vector's ownership
    // moves into the copy (the original is never dropped).
    unsafe { std::mem::transmute_copy::<Vec<u8>, T>(&vector) }
}

/// [`decode`] of bytes the caller owns: a `Vec<u8>` is then made of them in place (its length
/// prefix moved out), without a second allocation and copy.
pub(crate) fn decode_owned<T: DeserializeOwned>(
    mut bytes: Vec<u8>,
    what: impl FnOnce() -> String,
) -> Result<T> {
    if is_byte_vector::<T>() {
        let prefix = byte_vector_prefix::<T>(&bytes, what)?;
        bytes.drain(..prefix);
        return Ok(byte_vector_as::<T>(bytes));
    }
    decode(&bytes, what)
}

/// Decodes a `T` from all of `bytes`; `what` names it in the error. A value nested deeper than
/// [`depth::MAX_DEPTH`] levels is an error (see `wire/depth.rs`), on any thread.
pub(crate) fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    what: impl FnOnce() -> String,
) -> Result<T> {
    if is_byte_vector::<T>() {
        let prefix = byte_vector_prefix::<T>(bytes, what)?;
        return Ok(byte_vector_as::<T>(bytes[prefix..].to_vec()));
    }
    let exceeded = std::cell::Cell::new(false);
    let mut deserializer = postcard::Deserializer::from_bytes(bytes);
    let value = T::deserialize(depth::Limited {
        inner: &mut deserializer,
        left: depth::MAX_DEPTH,
        exceeded: &exceeded,
    });
    let error = |reason: String| Error::Deserialization {
        what: format!("{} as {}", what(), std::any::type_name::<T>()),
        reason,
    };
    match (value, deserializer.finalize()) {
        (Ok(value), Ok([])) => Ok(value),
        (Ok(_), Ok(rest)) => Err(error(format!(
            "{} bytes left over after the value",
            rest.len()
        ))),
        (Err(_), _) if exceeded.get() => Err(error(format!(
            "the value is nested deeper than {} levels",
            depth::MAX_DEPTH
        ))),
        (Err(err), _) | (Ok(_), Err(err)) => Err(error(err.to_string())),
    }
}

/// Appends `data` to `out`, copying a short piece byte by byte: `extend_from_slice` calls
/// `memmove` for each piece, which was most of the cost of encoding many tiny values (a varint,
/// a small field) one after the other.
#[inline(always)]
pub(crate) fn extend_small(out: &mut Vec<u8>, data: &[u8]) {
    if data.len() <= 16 {
        out.reserve(data.len());
        for &byte in data {
            out.push(byte);
        }
    } else {
        out.extend_from_slice(data);
    }
}

/// A postcard output into a vector that copies short pieces itself ([`extend_small`]), for
/// values encoded many at a time (a pool's chunks).
pub(crate) struct SmallPieces(pub(crate) Vec<u8>);

impl postcard::ser_flavors::Flavor for SmallPieces {
    type Output = Vec<u8>;

    #[inline(always)]
    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        self.0.push(byte);
        Ok(())
    }

    #[inline(always)]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        extend_small(&mut self.0, data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Cursor};

    use serde::{Deserialize, Serialize};

    use super::{
        decode, decode_owned, depth::MAX_DEPTH, encode, encode_into, read_frame_from,
        write_frame_to, MAX_FRAME,
    };

    /// A byte vector goes as one block, into a reused buffer and back in place; other types
    /// through postcard; a block whose length disagrees is an error.
    #[test]
    fn byte_vectors_encode_into_a_buffer_and_decode_in_place() {
        let what = || "a test value".to_owned();
        let mut buffer = vec![9u8; 3];
        let bytes: Vec<u8> = (0..=255).collect();
        encode_into(&bytes, what, &mut buffer).unwrap();
        assert_eq!(buffer, encode(&bytes, what).unwrap());
        assert_eq!(
            decode_owned::<Vec<u8>>(buffer.clone(), what).unwrap(),
            bytes
        );
        assert_eq!(decode::<Vec<u8>>(&buffer, what).unwrap(), bytes);
        buffer.pop();
        assert!(decode_owned::<Vec<u8>>(buffer.clone(), what).is_err());
        encode_into(&(1u32, "x".to_owned()), what, &mut buffer).unwrap();
        assert_eq!(
            decode_owned::<(u32, String)>(buffer, what).unwrap(),
            (1, "x".to_owned())
        );
    }
    use crate::Error;

    /// Recursive types any peer can nest as deep as it likes, one or two bytes per level.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Node {
        children: Vec<Node>,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum Tree {
        Leaf,
        Branch(Box<Tree>, u8),
        Named { left: Option<Box<Tree>> },
    }

    fn nested_node(depth: usize) -> Vec<u8> {
        let mut bytes = vec![1u8; depth - 1];
        bytes.push(0);
        bytes
    }

    /// Decodes on a thread with a small stack (a quarter of a MiB, an eighth of what a Rust
    /// thread gets by default): the bound must hold there too, in a debug build.
    fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn nesting_up_to_the_bound_decodes_and_deeper_is_a_deserialization_error() {
        on_small_stack(|| {
            // A Node at depth d costs two levels per node (the struct and its Vec) .
            let within = nested_node(MAX_DEPTH / 2);
            let node: Node = decode(&within, || "a node".into()).unwrap();
            assert_eq!(encode(&node, String::new).unwrap(), within);
            for depth in [MAX_DEPTH, 64_000, 1 << 20] {
                let err = decode::<Node>(&nested_node(depth), || "a node".into()).unwrap_err();
                assert!(matches!(err, Error::Deserialization { .. }), "{err:?}");
                assert!(
                    err.to_string().contains("nested deeper than 128 levels"),
                    "{err}"
                );
            }
            // Enum variants, boxes, options, struct variants: each counts.
            // 20 000 levels of `Branch` and `Named { left: Some(..) }`, by hand: encoding such
            // a value would itself overflow this stack.
            let (mut bytes, mut suffix) = (Vec::new(), Vec::new());
            for level in 0..20_000 {
                if level % 2 == 0 {
                    bytes.push(1); // Branch(
                    suffix.push(7); // , 7)
                } else {
                    bytes.extend([2, 1]); // Named { left: Some(
                }
            }
            bytes.push(0); // Leaf
            bytes.extend(suffix);
            let err = decode::<Tree>(&bytes, || "a tree".into()).unwrap_err();
            assert!(
                err.to_string().contains("nested deeper than 128 levels"),
                "{err}"
            );
            let shallow = Tree::Branch(Box::new(Tree::Named { left: None }), 1);
            let bytes = encode(&shallow, String::new).unwrap();
            assert_eq!(decode::<Tree>(&bytes, String::new).unwrap(), shallow);
        });
    }

    #[test]
    fn byte_vectors_take_the_block_path_and_read_as_postcard_writes_them() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let ours = super::encode(&data, String::new).unwrap();
        assert_eq!(ours, postcard::to_stdvec(&data).unwrap());
        let back: Vec<u8> = super::decode(&ours, String::new).unwrap();
        assert_eq!(back, data);
        let err = super::decode::<Vec<u8>>(&ours[..ours.len() - 1], String::new).unwrap_err();
        assert_eq!(err.kind(), "Deserialization");
    }

    #[test]
    fn frames_round_trip_back_to_back_then_end_cleanly() {
        let mut stream = Vec::new();
        write_frame_to(&mut stream, b"preparation").unwrap();
        write_frame_to(&mut stream, b"").unwrap();
        let mut reader = Cursor::new(stream);
        assert_eq!(
            read_frame_from(&mut reader).unwrap().as_deref(),
            Some(&b"preparation"[..])
        );
        assert_eq!(
            read_frame_from(&mut reader).unwrap().as_deref(),
            Some(&b""[..])
        );
        assert_eq!(read_frame_from(&mut reader).unwrap(), None);
    }

    #[test]
    fn a_stream_that_ends_inside_a_frame_is_an_error() {
        for cut in [2, 4 + 3] {
            let mut stream = Vec::new();
            write_frame_to(&mut stream, b"twelve bytes").unwrap();
            stream.truncate(cut);
            let err = read_frame_from(&mut Cursor::new(stream)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}");
        }
    }

    #[test]
    fn a_length_beyond_the_limit_is_corrupt_not_an_allocation() {
        let stream = (MAX_FRAME as u32 + 1).to_le_bytes().to_vec();
        let err = read_frame_from(&mut Cursor::new(stream)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("exceeds the 1 GiB limit"), "{err}");
    }
}
