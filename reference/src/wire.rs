//! The wire format: how values cross a process boundary.
//!
//! [postcard](https://docs.rs/postcard): compact, serde-native, maintained. Measured with
//! `cargo bench -p multiprocessing --bench wire` (median ns per encode+decode on the 2-core
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

use std::cell::RefCell;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

thread_local! {
    /// While a process's arguments are encoded: the descriptors they carry, in order.
    static OUTGOING: RefCell<Option<Vec<RawFd>>> = const { RefCell::new(None) };
    /// While a child decodes its arguments: the descriptors it was handed, by index.
    static INCOMING: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
}

/// Encodes a process's arguments, collecting the descriptors of the IPC objects among them
/// (CPython's `reduction.DupFd`): the value carries an index, the descriptor is handed to the
/// child by the start method.
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
pub(crate) fn receive_fds(fds: Vec<OwnedFd>) {
    INCOMING.with(|slot| *slot.borrow_mut() = Some(fds.into_iter().map(Some).collect()));
}

/// Serializes a descriptor as its index among the descriptors handed to the child. Only
/// possible while a process's arguments are encoded.
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

/// Encodes `value`; `what` names it in the error.
pub(crate) fn encode<T: Serialize + ?Sized>(
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

/// Decodes a `T` from all of `bytes`; `what` names it in the error.
pub(crate) fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    what: impl FnOnce() -> String,
) -> Result<T> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(Error::Deserialization {
            what: format!("{} as {}", what(), std::any::type_name::<T>()),
            reason: format!("{} bytes left over after the value", rest.len()),
        }),
        Err(err) => Err(Error::Deserialization {
            what: format!("{} as {}", what(), std::any::type_name::<T>()),
            reason: err.to_string(),
        }),
    }
}
