//! Synchronization between processes (CPython's `multiprocessing.synchronize`). For now:
//! [`Event`].

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::{sys, wire};

/// A flag that processes can set, clear and wait for (CPython's `multiprocessing.Event`).
///
/// Pass it to a child as a `Process` argument, under any start method: under `fork` the child
/// inherits it; under `spawn` and `forkserver` its descriptors are handed over. Clones share the
/// flag.
///
/// It is a pipe: *set* means "one byte is in the pipe". Waiters poll for readability and never
/// consume the byte, so every waiter sees it; `clear` drains it.
///
/// ```
/// let event = multiprocessing::Event::new()?;
/// assert!(!event.is_set()?);
/// event.set()?;
/// assert!(event.wait(None)?);
/// event.clear()?;
/// assert!(!event.wait(Some(std::time::Duration::from_millis(1)))?);
/// # Ok::<(), multiprocessing::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Event {
    ends: Arc<Ends>,
}

#[derive(Debug)]
struct Ends {
    read: OwnedFd,
    write: OwnedFd,
}

impl Event {
    /// A new event, not set.
    pub fn new() -> Result<Event> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .map_err(|errno| Error::os("pipe2 for an Event", errno))?;
        Ok(Event {
            ends: Arc::new(Ends { read, write }),
        })
    }

    /// Whether the event is set.
    pub fn is_set(&self) -> Result<bool> {
        self.wait(Some(Duration::ZERO))
    }

    /// Sets the event, waking every waiter.
    pub fn set(&self) -> Result<()> {
        if self.is_set()? {
            return Ok(());
        }
        match nix::unistd::write(self.ends.write.as_fd(), b"1") {
            // EAGAIN: the pipe is full of bytes from racing setters, so it is set.
            Ok(_) | Err(Errno::EAGAIN) => Ok(()),
            Err(errno) => Err(Error::os("setting an Event", errno)),
        }
    }

    /// Clears the event.
    pub fn clear(&self) -> Result<()> {
        let mut sink = [0u8; 64];
        loop {
            match nix::unistd::read(self.ends.read.as_raw_fd(), &mut sink) {
                Ok(0) | Err(Errno::EAGAIN) => return Ok(()),
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => return Err(Error::os("clearing an Event", errno)),
            }
        }
    }

    /// Waits until the event is set, at most `timeout`; returns whether it is set.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        sys::wait_readable(self.ends.read.as_fd(), timeout)
            .map_err(|e| Error::os("waiting on an Event", e))
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        struct Fd<'a>(&'a OwnedFd);
        impl Serialize for Fd<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                wire::serialize_fd(self.0.as_fd(), serializer)
            }
        }
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&Fd(&self.ends.read))?;
        tuple.serialize_element(&Fd(&self.ends.write))?;
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fd(OwnedFd);
        impl<'de> Deserialize<'de> for Fd {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                wire::deserialize_fd(deserializer).map(Fd)
            }
        }
        let (Fd(read), Fd(write)) = <(Fd, Fd)>::deserialize(deserializer)?;
        for fd in [&read, &write] {
            nix::fcntl::fcntl(
                fd.as_raw_fd(),
                nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
            )
            .map_err(serde::de::Error::custom)?;
        }
        Ok(Event {
            ends: Arc::new(Ends { read, write }),
        })
    }
}
