//! The wire format: how values cross a process boundary.
//!
//! [postcard](https://docs.rs/postcard): compact, serde-native, allocation-light, and in our
//! measurement (`cargo bench -p multiprocessing --bench wire`) the fastest of the candidates we
//! tried for small messages. Every encoding and decoding failure becomes a typed error that names
//! what was being (de)serialized.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Encodes `value`; `what` names it in the error.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T, what: impl FnOnce() -> String) -> Result<Vec<u8>> {
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
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: impl FnOnce() -> String) -> Result<T> {
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
