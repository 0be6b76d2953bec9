//! Connections between processes (CPython's `multiprocessing.connection`): [`pipe`] makes a pair
//! of [`Connection`]s, and [`wait`] waits on connections and process sentinels.
//!
//! ```
//! use multiprocessing::connection::pipe;
//!
//! let (mut left, mut right) = pipe(true)?;
//! left.send(&("hello", 42u32))?;
//! let (text, n): (String, u32) = right.recv()?;
//! assert_eq!((text.as_str(), n), ("hello", 42));
//! # Ok::<(), multiprocessing::Error>(())
//! ```
//!
//! # Design
//!
//! Each direction of a connection has two channels, chosen by measurement
//! (`cargo xtask bench`, figures `send-bytes-1mib` and `roundtrip-1cpu`):
//!
//! * **A pipe** carries every frame header and every payload of up to 32 KiB, header and payload
//!   in one `writev`. On this machine a pipe ping-pong takes half the time of an `AF_UNIX` stream
//!   socket ping-pong, so small messages (the latency case) cost one `writev` to send and one
//!   `read` to receive, exactly like a raw pipe.
//! * **A stream socket** (one `socketpair` per connection, shared by both directions) carries the
//!   payloads above 32 KiB. An `AF_UNIX` socket moves 1 MiB blocks about 1.6 times as fast as a
//!   pipe, even a pipe enlarged to 1 MiB. The pipe's header says the payload follows on the socket,
//!   so order is kept: the socket's byte stream is the concatenation of the large payloads, in
//!   header order.
//!
//! **No deadlock when both ends send at once, within a bound.** A duplex end writes without
//! blocking; when the kernel buffer is full, it waits for the buffer to drain *and* reads
//! whatever the other end sends meanwhile into a private buffer, which later `recv` calls consume
//! first. Two processes can each send 64 MiB to the other before either receives (CPython
//! deadlocks as soon as both kernel buffers are full, at about 64 KiB). The price is memory, so
//! it is bounded: a blocked sender holds at most 64 MiB of unconsumed incoming data, then stops
//! reading, and the other end's sends wait in turn (back-pressure). The trade-off: two ends that
//! each send more than that (plus the kernel buffers) to the other before receiving deadlock, as
//! CPython's do at a thousandth of the size; one end that keeps sending to a blocked sender
//! never grows its memory (before the bound, 512 MiB pushed at one took it to 579 MiB).
//!
//! **Frames.** A header is 8 bytes, a little-endian `u64`: the low byte is a tag (`'M'`: the
//! payload follows on the pipe; `'B'`: it follows on the socket), the upper 56 bits the payload's
//! length. A header with an unknown tag, an inline length above 32 KiB, or a length above 1 TiB is
//! [`Error::Corrupt`]; so is a stream that ends inside a frame. A payload is never allocated from
//! its header's word alone beyond 4 MiB: larger buffers grow as the bytes actually arrive.
//!
//! **Buffered bytes cross process boundaries.** What a connection has read but not yet consumed
//! travels with it when it is passed to a `spawn` or `forkserver` child (a `fork` child has a
//! copy of the memory anyway), and [`wait`] and [`Connection::poll`] count it as ready.
//!
//! **`SIGPIPE`.** Sending on a pipe whose reading end is closed raises `SIGPIPE`. Rust programs
//! and CPython ignore that signal from start-up, so the write fails with `EPIPE` instead, which
//! this module reports as [`Error::Os`]. A child that takes over before Rust's runtime starts (under
//! a test harness) would still have the default action, which kills the process; so creating or
//! receiving a connection sets `SIGPIPE` to ignored when its action is the default.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::{sys, wire};

/// Bytes in a frame header.
const HEADER: usize = 8;
/// Header tag: the payload follows on the pipe.
const TAG_INLINE: u8 = b'M';
/// Header tag: the payload follows on the socket.
const TAG_BULK: u8 = b'B';
/// The largest payload sent on the pipe, after its header.
const INLINE_MAX: usize = 32 * 1024;
/// The largest payload a header may announce (a larger one is a corrupt stream).
const MAX_MESSAGE: u64 = 1 << 40;
/// The most a receiver allocates for a payload before its bytes arrive.
const FIRST_ALLOCATION: usize = 4 << 20;
/// How much a buffered read asks for at a time.
const READ_CHUNK: usize = 64 * 1024;
/// The most a duplex end blocked in a send holds of what the other end sends meanwhile (plus
/// one read of at most 256 KiB).
const DRAIN_LIMIT: usize = 64 << 20;
/// The kernel buffers asked for on the socket: fewer wake-ups per large message.
const SOCKET_BUFFER: usize = 1 << 20;

/// Makes a pair of connected [`Connection`]s (CPython's `multiprocessing.Pipe(duplex)`; search for
/// `Pipe` finds it).
///
/// With `duplex` both ends send and receive. Without it the pair is `(reader, writer)`, as in
/// Python: the first end only receives, the second only sends, and using the wrong direction is
/// [`Error::InvalidOperation`].
///
/// Pass an end to a child as a [`Process`](crate::Process) argument, under any start method; the
/// parent's copy of that argument is closed once the child has started, so the parent sees
/// [`Error::Eof`] when the child closes its end or exits.
///
/// ```
/// use multiprocessing::{connection::pipe, Error};
///
/// let (mut reader, mut writer) = pipe(false)?;
/// writer.send_bytes(b"abc", 0, None)?;
/// assert_eq!(reader.recv_bytes(None)?, b"abc");
/// assert!(matches!(reader.send(&1u8), Err(Error::InvalidOperation(_))));
/// drop(writer);
/// assert!(matches!(reader.recv_bytes(None), Err(Error::Eof)));
/// # Ok::<(), Error>(())
/// ```
#[doc(alias = "Pipe")]
pub fn pipe(duplex: bool) -> Result<(Connection, Connection)> {
    ignore_sigpipe();
    let (bulk_a, bulk_b) =
        sys::socketpair().map_err(|e| Error::os("socketpair for a connection", e))?;
    for socket in [&bulk_a, &bulk_b] {
        // Best effort: the default buffer works too, with more wake-ups per large message.
        let _ =
            nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::SndBuf, &SOCKET_BUFFER);
        let _ =
            nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::RcvBuf, &SOCKET_BUFFER);
    }
    // Data from b to a.
    let (a_rx, b_tx) = data_pipe()?;
    if duplex {
        let (b_rx, a_tx) = data_pipe()?;
        Ok((
            Connection::new(Some(a_rx), Some(a_tx), bulk_a),
            Connection::new(Some(b_rx), Some(b_tx), bulk_b),
        ))
    } else {
        Ok((
            Connection::new(Some(a_rx), None, bulk_a),
            Connection::new(None, Some(b_tx), bulk_b),
        ))
    }
}

/// A pipe whose write end does not block (its read end does).
fn data_pipe() -> Result<(OwnedFd, OwnedFd)> {
    let (read, write) = sys::pipe(false).map_err(|err| Error::os("pipe for a connection", err))?;
    set_nonblocking(&write).map_err(|errno| Error::os("fcntl on a connection", errno))?;
    Ok((read, write))
}

fn set_nonblocking(fd: &OwnedFd) -> nix::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Sets `SIGPIPE` to ignored if its action is the default (see the module documentation).
fn ignore_sigpipe() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: querying the current action into a zeroed `sigaction` we own; installing
        // `SIG_IGN` only when the action is `SIG_DFL`, which no code relies on being called.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_DFL
            {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            }
        }
    });
}

/// One end of a [`pipe`] (CPython's `multiprocessing.connection.Connection`): sends and
/// receives whole messages, either serde values ([`send`](Self::send)/[`recv`](Self::recv), in the
/// crate's wire format) or raw bytes ([`send_bytes`](Self::send_bytes)/[`recv_bytes`](Self::recv_bytes)).
///
/// Messages of any size pass; see the [module documentation](self) for how. A connection is not
/// meant to be used by two processes at once (a `fork` child and its parent both holding the
/// same end and both reading): their messages would interleave, as with CPython.
///
/// ```
/// let (mut a, mut b) = multiprocessing::connection::pipe(true)?;
/// a.send(&vec![1u64, 2, 3])?;
/// b.send(&"pong".to_string())?;
/// assert_eq!(b.recv::<Vec<u64>>()?, [1, 2, 3]);
/// assert_eq!(a.recv::<String>()?, "pong");
/// # Ok::<(), multiprocessing::Error>(())
/// ```
pub struct Connection {
    /// The pipe the other end sends headers and small payloads on (readable ends).
    rx: Option<OwnedFd>,
    /// The pipe this end sends on (writable ends); non-blocking.
    tx: Option<OwnedFd>,
    /// The socket large payloads travel on, both directions; `None` once closed.
    bulk: Option<OwnedFd>,
    /// Bytes read from `rx` and not consumed yet.
    inbox: Inbox,
    /// Bytes read from `bulk` and not consumed yet.
    bulk_inbox: Inbox,
    /// `rx` reported the end of the stream while this end was sending.
    rx_eof: bool,
    /// `bulk` reported the end of the stream while this end was sending.
    bulk_eof: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("readable", &self.readable())
            .field("writable", &self.writable())
            .field("closed", &self.closed())
            .field("fileno", &self.fileno().ok())
            .field("buffered", &(self.inbox.len() + self.bulk_inbox.len()))
            .finish()
    }
}

/// Which channel a blocked send waits on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Channel {
    Pipe,
    Socket,
}

impl Connection {
    fn new(rx: Option<OwnedFd>, tx: Option<OwnedFd>, bulk: OwnedFd) -> Connection {
        Connection {
            rx,
            tx,
            bulk: Some(bulk),
            inbox: Inbox::default(),
            bulk_inbox: Inbox::default(),
            rx_eof: false,
            bulk_eof: false,
        }
    }

    /// Whether this end can receive (CPython's `readable`): false on the writing end of a one-way
    /// pipe and once closed.
    pub fn readable(&self) -> bool {
        self.rx.is_some()
    }

    /// Whether this end can send (CPython's `writable`): false on the reading end of a one-way
    /// pipe and once closed.
    pub fn writable(&self) -> bool {
        self.tx.is_some()
    }

    /// Whether [`close`](Self::close) was called (CPython's `closed`).
    pub fn closed(&self) -> bool {
        self.bulk.is_none()
    }

    /// The descriptor to wait on (CPython's `fileno()`): the pipe this end receives on, or for the
    /// writing end of a one-way pipe the pipe it sends on. Prefer [`wait`] and
    /// [`poll`](Self::poll), which also see bytes this end has already buffered.
    ///
    /// ```
    /// let (reader, writer) = multiprocessing::connection::pipe(false)?;
    /// assert_ne!(reader.fileno()?, writer.fileno()?);
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn fileno(&self) -> Result<RawFd> {
        self.rx
            .as_ref()
            .or(self.tx.as_ref())
            .map(AsRawFd::as_raw_fd)
            .ok_or_else(closed)
    }

    /// Closes this end (CPython's `close()`); the other end then sees [`Error::Eof`] once it has
    /// read every message. Closing twice is fine; every other use afterwards is
    /// [`Error::InvalidOperation`]. Dropping a connection closes it too.
    ///
    /// ```
    /// let (mut a, _b) = multiprocessing::connection::pipe(true)?;
    /// a.close();
    /// assert!(a.closed());
    /// assert!(a.send(&1u8).is_err());
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn close(&mut self) {
        self.rx = None;
        self.tx = None;
        self.bulk = None;
        self.inbox = Inbox::default();
        self.bulk_inbox = Inbox::default();
    }

    /// Sends a value (CPython's `send(obj)`), serialized at the call: a value whose
    /// serialization fails is [`Error::Serialization`], nothing is sent, and the connection stays
    /// usable.
    ///
    /// ```
    /// let (mut a, mut b) = multiprocessing::connection::pipe(true)?;
    /// a.send(&Some(3.5f64))?;
    /// assert_eq!(b.recv::<Option<f64>>()?, Some(3.5));
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.check_writable()?;
        let bytes = wire::encode(value, || {
            format!("a {} sent on a connection", std::any::type_name::<T>())
        })?;
        self.send_frame(&bytes)
    }

    /// Receives a value sent with [`send`](Self::send) (CPython's `recv()`), blocking until one
    /// arrives. [`Error::Eof`] once the other end is closed and every message was read. A
    /// message that does not deserialize as a `T` is [`Error::Deserialization`] naming `T`; it is
    /// consumed, and the next call receives the next message.
    ///
    /// ```
    /// let (mut a, mut b) = multiprocessing::connection::pipe(true)?;
    /// a.send(&"text")?;
    /// assert!(matches!(b.recv::<u64>(), Err(multiprocessing::Error::Deserialization { .. })));
    /// a.send(&7u64)?;
    /// assert_eq!(b.recv::<u64>()?, 7);
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T> {
        let what = || "a message received on a connection".to_owned();
        let (tag, len) = self.header()?;
        if tag == TAG_INLINE {
            self.fill_inline(len)?;
            let value = wire::decode(&self.inbox.bytes()[HEADER..HEADER + len], what);
            self.inbox.consume(HEADER + len);
            value
        } else {
            self.inbox.consume(HEADER);
            let bytes = self.read_bulk_vec(len)?;
            wire::decode(&bytes, what)
        }
    }

    /// Sends `size` bytes of `buf` from `offset` as one message (CPython's
    /// `send_bytes(buf, offset, size)`); `size` `None` means the rest of `buf`. A range outside
    /// `buf` is [`Error::InvalidOperation`] and sends nothing.
    ///
    /// ```
    /// let (mut a, mut b) = multiprocessing::connection::pipe(true)?;
    /// a.send_bytes(b"0123456789", 2, Some(3))?;
    /// assert_eq!(b.recv_bytes(None)?, b"234");
    /// assert!(a.send_bytes(b"abc", 2, Some(5)).is_err());
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn send_bytes(&mut self, buf: &[u8], offset: usize, size: Option<usize>) -> Result<()> {
        self.check_writable()?;
        if offset > buf.len() {
            return Err(Error::InvalidOperation(format!(
                "buffer length < offset: the buffer has {} bytes, the offset is {offset}",
                buf.len()
            )));
        }
        let size = size.unwrap_or(buf.len() - offset);
        if size > buf.len() - offset {
            return Err(Error::InvalidOperation(format!(
                "buffer length < offset + size: the buffer has {} bytes, offset + size is {}",
                buf.len(),
                offset as u128 + size as u128
            )));
        }
        self.send_frame(&buf[offset..offset + size])
    }

    /// Receives a message sent with [`send_bytes`](Self::send_bytes) (CPython's
    /// `recv_bytes(maxlength)`), blocking until one arrives; [`Error::Eof`] once the other end is
    /// closed and every message was read.
    ///
    /// A message longer than `maxlength` is [`Error::InvalidOperation`]. Unlike CPython, which
    /// then makes the connection unreadable, the message stays queued: receive it with a larger
    /// `maxlength`.
    ///
    /// ```
    /// let (mut a, mut b) = multiprocessing::connection::pipe(true)?;
    /// a.send_bytes(&[7; 100], 0, None)?;
    /// assert!(b.recv_bytes(Some(10)).is_err());
    /// assert_eq!(b.recv_bytes(Some(100))?, [7; 100]);
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn recv_bytes(&mut self, maxlength: Option<usize>) -> Result<Vec<u8>> {
        let (tag, len) = self.header()?;
        if let Some(max) = maxlength.filter(|&max| len > max) {
            return Err(Error::InvalidOperation(format!(
                "bad message length: the message has {len} bytes, more than maxlength {max}; \
                 it stays queued, receive it with a larger maxlength"
            )));
        }
        if tag == TAG_INLINE {
            self.fill_inline(len)?;
            let bytes = self.inbox.bytes()[HEADER..HEADER + len].to_vec();
            self.inbox.consume(HEADER + len);
            Ok(bytes)
        } else {
            self.inbox.consume(HEADER);
            self.read_bulk_vec(len)
        }
    }

    /// Receives a message into `buf` from `offset` and returns its length (CPython's
    /// `recv_bytes_into(buf, offset)`).
    ///
    /// An `offset` past the end of `buf` is [`Error::InvalidOperation`]. So is a message longer
    /// than the room after `offset` (CPython's `BufferTooShort`): the message then stays queued,
    /// to receive with a larger buffer or [`recv_bytes`](Self::recv_bytes).
    ///
    /// ```
    /// let (mut a, mut b) = multiprocessing::connection::pipe(true)?;
    /// a.send_bytes(b"abcd", 0, None)?;
    /// let mut buf = [0u8; 8];
    /// assert!(b.recv_bytes_into(&mut buf, 6).is_err()); // 2 bytes of room: too short
    /// assert_eq!(b.recv_bytes_into(&mut buf, 2)?, 4);
    /// assert_eq!(&buf, b"\0\0abcd\0\0");
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn recv_bytes_into(&mut self, buf: &mut [u8], offset: usize) -> Result<usize> {
        self.check_readable()?;
        if offset > buf.len() {
            return Err(Error::InvalidOperation(format!(
                "offset out of bounds: the buffer has {} bytes, the offset is {offset}",
                buf.len()
            )));
        }
        let (tag, len) = self.header()?;
        let room = buf.len() - offset;
        if len > room {
            return Err(Error::InvalidOperation(format!(
                "buffer too short: the message has {len} bytes, the buffer {room} after offset \
                 {offset}; it stays queued, receive it with a larger buffer or recv_bytes()"
            )));
        }
        let dst = &mut buf[offset..offset + len];
        if tag == TAG_INLINE {
            self.fill_inline(len)?;
            dst.copy_from_slice(&self.inbox.bytes()[HEADER..HEADER + len]);
            self.inbox.consume(HEADER + len);
        } else {
            self.inbox.consume(HEADER);
            let buffered = self.bulk_inbox.len().min(len);
            dst[..buffered].copy_from_slice(&self.bulk_inbox.bytes()[..buffered]);
            self.bulk_inbox.consume(buffered);
            let rest = &mut dst[buffered..];
            // SAFETY: `rest` is valid for writes of `rest.len()` bytes.
            unsafe { self.read_bulk_raw(rest.as_mut_ptr(), rest.len(), buffered, len) }?;
        }
        Ok(len)
    }

    /// Whether there is data to receive, waiting at most `timeout` for some (CPython's
    /// `poll(timeout)`): `Some(Duration::ZERO)` checks and returns at once, `None` waits for as
    /// long as it takes. A closed other end counts as ready: [`recv`](Self::recv) then returns
    /// [`Error::Eof`] at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut a, b) = multiprocessing::connection::pipe(true)?;
    /// assert!(!b.poll(Some(Duration::ZERO))?);
    /// a.send(&1u8)?;
    /// assert!(b.poll(Some(Duration::from_secs(10)))?);
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn poll(&self, timeout: Option<Duration>) -> Result<bool> {
        self.check_readable()?;
        if self.inbox.len() > 0 || self.rx_eof {
            return Ok(true);
        }
        let rx = self.rx.as_ref().ok_or_else(closed)?;
        sys::wait_readable(rx.as_fd(), timeout).map_err(|e| Error::os("poll on a connection", e))
    }

    fn check_readable(&self) -> Result<()> {
        match (&self.rx, &self.bulk) {
            (Some(_), _) => Ok(()),
            (None, None) => Err(closed()),
            (None, Some(_)) => Err(Error::InvalidOperation(
                "connection is write-only: this is the sending end of a one-way pipe \
                 (pipe(false) returns (reader, writer)); receive on the other end"
                    .to_owned(),
            )),
        }
    }

    fn check_writable(&self) -> Result<()> {
        match (&self.tx, &self.bulk) {
            (Some(_), _) => Ok(()),
            (None, None) => Err(closed()),
            (None, Some(_)) => Err(Error::InvalidOperation(
                "connection is read-only: this is the receiving end of a one-way pipe \
                 (pipe(false) returns (reader, writer)); send on the other end"
                    .to_owned(),
            )),
        }
    }

    // ----- sending -----

    fn send_frame(&mut self, payload: &[u8]) -> Result<()> {
        self.check_writable()?;
        let len = payload.len();
        if len <= INLINE_MAX {
            let header = encode_header(TAG_INLINE, len);
            self.write_pipe(&mut [IoSlice::new(&header), IoSlice::new(payload)])
        } else if len as u64 > MAX_MESSAGE {
            Err(Error::InvalidOperation(format!(
                "a message of {len} bytes is larger than the 1 TiB a connection carries"
            )))
        } else {
            let header = encode_header(TAG_BULK, len);
            self.write_pipe(&mut [IoSlice::new(&header)])?;
            self.write_socket(payload)
        }
    }

    /// Writes all of `slices` to the pipe, draining incoming data while the pipe is full.
    fn write_pipe(&mut self, mut slices: &mut [IoSlice<'_>]) -> Result<()> {
        let mut left: usize = slices.iter().map(|s| s.len()).sum();
        while left > 0 {
            let tx = self.tx.as_ref().ok_or_else(closed)?;
            match nix::sys::uio::writev(tx, slices) {
                Ok(n) => {
                    left -= n;
                    IoSlice::advance_slices(&mut slices, n);
                }
                Err(Errno::EAGAIN) => self.wait_writable(Channel::Pipe)?,
                Err(Errno::EINTR) => {}
                Err(errno) => return Err(Error::os("sending on a connection", errno)),
            }
        }
        Ok(())
    }

    /// Sends all of `bytes` on the socket, draining incoming data while it is full.
    fn write_socket(&mut self, mut bytes: &[u8]) -> Result<()> {
        use nix::sys::socket::MsgFlags;
        // A one-way writer has nothing to drain: a blocking send is one system call.
        let mut flags = no_sigpipe();
        if self.readable() {
            flags |= MsgFlags::MSG_DONTWAIT;
        }
        while !bytes.is_empty() {
            let socket = self.bulk.as_ref().ok_or_else(closed)?.as_raw_fd();
            match nix::sys::socket::send(socket, bytes, flags) {
                Ok(n) => bytes = &bytes[n..],
                Err(Errno::EAGAIN) => self.wait_writable(Channel::Socket)?,
                Err(Errno::EINTR) => {}
                Err(errno) => return Err(Error::os("sending on a connection", errno)),
            }
        }
        Ok(())
    }

    /// Waits until `channel` can take more bytes. A duplex end meanwhile reads what the other end
    /// sends into its buffers, so two ends sending to each other at once both progress.
    ///
    /// It absorbs at most [`DRAIN_LIMIT`] bytes so (counting what it had not consumed yet):
    /// then it only waits, and the other end's sends wait in turn (back-pressure).
    fn wait_writable(&mut self, channel: Channel) -> Result<()> {
        loop {
            let drain = self.readable() && self.inbox.len() + self.bulk_inbox.len() < DRAIN_LIMIT;
            let (Some(tx), Some(bulk)) = (self.tx.as_ref(), self.bulk.as_ref()) else {
                return Err(closed());
            };
            let mut fds = Vec::with_capacity(3);
            let out = match channel {
                Channel::Pipe => tx.as_fd(),
                Channel::Socket => bulk.as_fd(),
            };
            let mut out_events = PollFlags::POLLOUT;
            if drain && channel == Channel::Socket && !self.bulk_eof {
                out_events |= PollFlags::POLLIN;
            }
            fds.push(PollFd::new(out, out_events));
            let rx_index = match (&self.rx, drain && !self.rx_eof) {
                (Some(rx), true) => {
                    fds.push(PollFd::new(rx.as_fd(), PollFlags::POLLIN));
                    Some(fds.len() - 1)
                }
                _ => None,
            };
            let bulk_index = if drain && channel == Channel::Pipe && !self.bulk_eof {
                fds.push(PollFd::new(bulk.as_fd(), PollFlags::POLLIN));
                Some(fds.len() - 1)
            } else if drain && channel == Channel::Socket && !self.bulk_eof {
                Some(0)
            } else {
                None
            };
            match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(Error::os("poll on a connection", errno)),
            }
            let revents = |i: usize| fds[i].revents().unwrap_or(PollFlags::empty());
            let out_ready = revents(0).intersects(
                PollFlags::POLLOUT | PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL,
            );
            let rx_ready = rx_index.is_some_and(|i| !revents(i).is_empty());
            let bulk_ready = bulk_index.is_some_and(|i| {
                revents(i).intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
            });
            drop(fds);
            if rx_ready {
                self.drain_pipe()?;
            }
            if bulk_ready {
                self.drain_socket()?;
            }
            if out_ready {
                return Ok(());
            }
        }
    }

    /// Reads what the pipe holds into the inbox (once: the pipe reported data or its end).
    fn drain_pipe(&mut self) -> Result<()> {
        let rx = self.rx.as_ref().ok_or_else(closed)?;
        match self.inbox.fill(rx.as_fd(), READ_CHUNK, None) {
            Ok(0) => self.rx_eof = true,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(Error::os("receiving on a connection", err)),
        }
        Ok(())
    }

    /// Reads what the socket holds into the bulk inbox, without blocking.
    fn drain_socket(&mut self) -> Result<()> {
        let bulk = self.bulk.as_ref().ok_or_else(closed)?;
        match self
            .bulk_inbox
            .fill(bulk.as_fd(), 4 * READ_CHUNK, Some(libc::MSG_DONTWAIT))
        {
            Ok(0) => self.bulk_eof = true,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(Error::os("receiving on a connection", err)),
        }
        Ok(())
    }

    // ----- receiving -----

    /// The next frame's header, read but not consumed: `(tag, payload length)`.
    fn header(&mut self) -> Result<(u8, usize)> {
        self.check_readable()?;
        if !self.fill_inbox(HEADER)? {
            return Err(if self.inbox.len() == 0 {
                Error::Eof
            } else {
                Error::Corrupt(format!(
                    "the stream ended inside a frame header ({} of {HEADER} bytes)",
                    self.inbox.len()
                ))
            });
        }
        let mut word = [0u8; HEADER];
        word.copy_from_slice(&self.inbox.bytes()[..HEADER]);
        let word = u64::from_le_bytes(word);
        let (tag, len) = ((word & 0xff) as u8, word >> 8);
        match tag {
            TAG_INLINE if len <= INLINE_MAX as u64 => Ok((tag, len as usize)),
            TAG_INLINE => Err(Error::Corrupt(format!(
                "a frame header announces {len} bytes on the pipe, more than the {INLINE_MAX} \
                 it ever carries"
            ))),
            TAG_BULK if len <= MAX_MESSAGE => {
                usize::try_from(len).map(|len| (tag, len)).map_err(|_| {
                    Error::Corrupt(format!(
                        "a frame header announces {len} bytes, more than this platform can hold"
                    ))
                })
            }
            TAG_BULK => Err(Error::Corrupt(format!(
                "a frame header announces {len} bytes, more than the 1 TiB limit"
            ))),
            _ => Err(Error::Corrupt(format!(
                "not a frame header: {:02x?}",
                word.to_le_bytes()
            ))),
        }
    }

    /// Reads until the inbox holds at least `min` bytes; `false` if the pipe ended first.
    fn fill_inbox(&mut self, min: usize) -> Result<bool> {
        while self.inbox.len() < min {
            let rx = self.rx.as_ref().ok_or_else(closed)?;
            let want = (min - self.inbox.len()).max(READ_CHUNK);
            match self.inbox.fill(rx.as_fd(), want, None) {
                Ok(0) => {
                    self.rx_eof = true;
                    return Ok(false);
                }
                Ok(_) => {}
                Err(err) => return Err(Error::os("receiving on a connection", err)),
            }
        }
        Ok(true)
    }

    /// Makes the inbox hold the header and all `len` bytes of an inline payload.
    fn fill_inline(&mut self, len: usize) -> Result<()> {
        if self.fill_inbox(HEADER + len)? {
            Ok(())
        } else {
            Err(truncated(len, self.inbox.len().saturating_sub(HEADER)))
        }
    }

    /// Receives a `len`-byte payload from the socket (its header consumed) into a new vector
    /// that grows as the bytes arrive.
    fn read_bulk_vec(&mut self, len: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len.min(FIRST_ALLOCATION));
        let buffered = self.bulk_inbox.len().min(len);
        out.extend_from_slice(&self.bulk_inbox.bytes()[..buffered]);
        self.bulk_inbox.consume(buffered);
        while out.len() < len {
            if out.capacity() == out.len() {
                out.reserve((len - out.len()).min(out.capacity().max(READ_CHUNK)));
            }
            let room = (out.capacity() - out.len()).min(len - out.len());
            // SAFETY: the spare capacity is valid for writes of `room` bytes; `read_bulk_raw`
            // initializes all of them before returning `Ok`, and only then is the length raised.
            unsafe {
                self.read_bulk_raw(out.as_mut_ptr().add(out.len()), room, out.len(), len)?;
                out.set_len(out.len() + room);
            }
        }
        Ok(out)
    }

    /// Receives exactly `count` bytes from the socket into `dst`: the bytes after the first
    /// `before` of a `total`-byte payload.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `count` bytes.
    unsafe fn read_bulk_raw(
        &mut self,
        dst: *mut u8,
        count: usize,
        before: usize,
        total: usize,
    ) -> Result<()> {
        let mut done = 0;
        while done < count {
            let bulk = self.bulk.as_ref().ok_or_else(closed)?;
            // SAFETY: `dst + done` is valid for `count - done` bytes (the caller's promise).
            let n = unsafe {
                libc::recv(
                    bulk.as_raw_fd(),
                    dst.add(done).cast(),
                    count - done,
                    libc::MSG_WAITALL,
                )
            };
            match n {
                0 => {
                    self.bulk_eof = true;
                    return Err(truncated(total, before + done));
                }
                n if n > 0 => done += n as usize,
                _ => match Errno::last() {
                    Errno::EINTR => {}
                    errno => return Err(Error::os("receiving on a connection", errno)),
                },
            }
        }
        Ok(())
    }
}

fn encode_header(tag: u8, len: usize) -> [u8; HEADER] {
    ((len as u64) << 8 | u64::from(tag)).to_le_bytes()
}

fn closed() -> Error {
    Error::InvalidOperation("handle is closed: the connection was closed with close()".to_owned())
}

fn truncated(len: usize, got: usize) -> Error {
    Error::Corrupt(format!(
        "truncated message: its header announces {len} bytes, and the stream ended after {got}"
    ))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn no_sigpipe() -> nix::sys::socket::MsgFlags {
    nix::sys::socket::MsgFlags::MSG_NOSIGNAL
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn no_sigpipe() -> nix::sys::socket::MsgFlags {
    nix::sys::socket::MsgFlags::empty()
}

/// Bytes received and not consumed yet: `buf[start..]`.
#[derive(Default)]
struct Inbox {
    buf: Vec<u8>,
    start: usize,
}

impl Inbox {
    fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }

    /// One `read` (or `recv` with `flags`, on a socket) of up to `want` bytes, appended.
    fn fill(
        &mut self,
        fd: BorrowedFd<'_>,
        want: usize,
        flags: Option<libc::c_int>,
    ) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < want && self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.reserve(want);
        // At most `want`: a grown buffer's spare capacity can be far larger, and a duplex end
        // draining while it sends must not take more than one read past its limit.
        let spare = (self.buf.capacity() - self.buf.len()).min(want);
        loop {
            // SAFETY: the spare capacity is valid for writes of `spare` bytes; the kernel
            // initializes the `n` bytes it reports, and only those are added to the length.
            let n = unsafe {
                let dst = self.buf.as_mut_ptr().add(self.buf.len()).cast();
                match flags {
                    None => libc::read(fd.as_raw_fd(), dst, spare),
                    Some(flags) => libc::recv(fd.as_raw_fd(), dst, spare, flags),
                }
            };
            if n >= 0 {
                // SAFETY: see above: `n` bytes were written, `n <= spare`.
                unsafe { self.buf.set_len(self.buf.len() + n as usize) };
                return Ok(n as usize);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

// ----- crossing a process boundary -----

/// A borrowed descriptor, serialized as an index into those handed to the child.
struct FdOut<'a>(BorrowedFd<'a>);

impl Serialize for FdOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        wire::serialize_fd(self.0, serializer)
    }
}

/// A descriptor handed to this child.
struct FdIn(OwnedFd);

impl<'de> Deserialize<'de> for FdIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        wire::deserialize_fd(deserializer).map(FdIn)
    }
}

#[derive(Serialize)]
struct ConnectionOut<'a> {
    rx: Option<FdOut<'a>>,
    tx: Option<FdOut<'a>>,
    bulk: FdOut<'a>,
    inbox: &'a [u8],
    bulk_inbox: &'a [u8],
}

#[derive(Deserialize)]
struct ConnectionIn {
    rx: Option<FdIn>,
    tx: Option<FdIn>,
    bulk: FdIn,
    inbox: Vec<u8>,
    bulk_inbox: Vec<u8>,
}

/// A connection crosses into a child as a [`Process`](crate::Process) argument: its descriptors
/// are handed over, with any bytes it has buffered.
impl Serialize for Connection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Some(bulk) = &self.bulk else {
            return Err(serde::ser::Error::custom(
                "a closed connection cannot be passed to a process",
            ));
        };
        ConnectionOut {
            rx: self.rx.as_ref().map(|fd| FdOut(fd.as_fd())),
            tx: self.tx.as_ref().map(|fd| FdOut(fd.as_fd())),
            bulk: FdOut(bulk.as_fd()),
            inbox: self.inbox.bytes(),
            bulk_inbox: self.bulk_inbox.bytes(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = ConnectionIn::deserialize(deserializer)?;
        ignore_sigpipe();
        let tx = wire.tx.map(|FdIn(fd)| fd);
        if let Some(tx) = &tx {
            set_nonblocking(tx).map_err(serde::de::Error::custom)?;
        }
        let mut connection = Connection::new(wire.rx.map(|FdIn(fd)| fd), tx, wire.bulk.0);
        connection.inbox.buf = wire.inbox;
        connection.bulk_inbox.buf = wire.bulk_inbox;
        Ok(connection)
    }
}

// ----- waiting -----

/// Something [`wait`] can wait on: a descriptor (such as a process
/// [sentinel](crate::Process::sentinel)) or a [`Connection`] (CPython's `wait` takes either).
pub trait Waitable {
    /// The descriptor that becomes readable when the object is ready.
    fn wait_fd(&self) -> Result<RawFd>;

    /// Whether the object is ready without looking at its descriptor (a connection with
    /// buffered bytes).
    fn ready_now(&self) -> bool {
        false
    }

    /// Called once as [`wait`] starts, and [`wait_end`](Self::wait_end) once as it returns (a
    /// queue counts the waits on it, so that a `put` makes its descriptor readable).
    #[doc(hidden)]
    fn wait_begin(&self) {}

    #[doc(hidden)]
    fn wait_end(&self) {}

    /// Whether a readable descriptor means ready. A queue's only wakes [`wait`], which then
    /// asks [`ready_now`](Self::ready_now) (another process may have taken the item), and looks
    /// again at least every 100 ms.
    #[doc(hidden)]
    fn ready_when_readable(&self) -> bool {
        true
    }
}

impl Waitable for RawFd {
    fn wait_fd(&self) -> Result<RawFd> {
        Ok(*self)
    }
}

impl Waitable for &Connection {
    fn wait_fd(&self) -> Result<RawFd> {
        self.check_readable()?;
        self.fileno()
    }

    fn ready_now(&self) -> bool {
        self.inbox.len() > 0 || self.rx_eof
    }
}

impl Waitable for Connection {
    fn wait_fd(&self) -> Result<RawFd> {
        (&self).wait_fd()
    }

    fn ready_now(&self) -> bool {
        (&self).ready_now()
    }
}

/// A process is ready when it has ended (its [sentinel](crate::Process::sentinel)).
impl Waitable for crate::Process {
    fn wait_fd(&self) -> Result<RawFd> {
        self.sentinel()
    }
}

/// Objects of different kinds in one call (CPython's `wait([conn, p.sentinel])`).
///
/// ```
/// use multiprocessing::connection::{pipe, wait, Waitable};
/// let (mut a, b) = pipe(true)?;
/// let (reader, _writer) = pipe(false)?;
/// a.send(&1u8)?;
/// let objects: [&dyn Waitable; 2] = [&reader, &b];
/// let ready = wait(&objects, None)?;
/// assert_eq!(ready.len(), 1);
/// # Ok::<(), multiprocessing::Error>(())
/// ```
impl Waitable for &dyn Waitable {
    fn wait_fd(&self) -> Result<RawFd> {
        (**self).wait_fd()
    }

    fn ready_now(&self) -> bool {
        (**self).ready_now()
    }

    fn wait_begin(&self) {
        (**self).wait_begin()
    }

    fn wait_end(&self) {
        (**self).wait_end()
    }

    fn ready_when_readable(&self) -> bool {
        (**self).ready_when_readable()
    }
}

/// Waits until at least one of `objects` is ready and returns the ready ones, in the order given;
/// with a timeout, an empty list when it passes first (CPython's
/// `multiprocessing.connection.wait`).
///
/// The objects are descriptors (process [sentinels](crate::Process::sentinel), which become
/// ready when the process ends), connections (ready when there is something to receive, or the
/// other end is closed) or queues (`Queue`, `SimpleQueue`, `JoinableQueue`: ready when they
/// hold an item; CPython waits on a queue's `_reader` for that). For a mix of kinds, pass
/// `&dyn Waitable`s (a connection, a process, a sentinel, a queue): see the impl of
/// [`Waitable`] for `&dyn Waitable`.
///
/// A queue reported ready holds an item at that moment; another process may take it first, so
/// a `get` after `wait` may still block (as in CPython).
///
/// ```
/// use multiprocessing::connection::{pipe, wait, Waitable};
/// use multiprocessing::queue::Queue;
/// let (_ours, theirs) = pipe(true)?;
/// let queue = Queue::<u32>::new()?;
/// queue.put(7)?;
/// let objects: [&dyn Waitable; 2] = [&theirs, &queue];
/// let ready = wait(&objects, None)?;
/// assert_eq!(ready.len(), 1); // the queue
/// assert_eq!(queue.get()?, 7);
/// # Ok::<(), multiprocessing::Error>(())
/// ```
///
/// ```no_run
/// # fn main() -> multiprocessing::Result<()> {
/// # let (a, b) = (multiprocessing::Process::new(|| {}, ()), multiprocessing::Process::new(|| {}, ()));
/// let ended = multiprocessing::connection::wait(&[a.sentinel()?, b.sentinel()?], None)?;
/// # Ok(()) }
/// ```
///
/// ```
/// use multiprocessing::connection::{pipe, wait};
/// let (mut a1, b1) = pipe(true)?;
/// let (_a2, b2) = pipe(true)?;
/// a1.send(&"ready")?;
/// let ready = wait(&[&b1, &b2], None)?;
/// assert_eq!(ready.len(), 1);
/// assert!(std::ptr::eq(ready[0], &b1));
/// # Ok::<(), multiprocessing::Error>(())
/// ```
pub fn wait<W: Waitable + Copy>(objects: &[W], timeout: Option<Duration>) -> Result<Vec<W>> {
    let fds: Vec<RawFd> = objects
        .iter()
        .map(Waitable::wait_fd)
        .collect::<Result<_>>()?;
    let deadline = timeout.map(|t| Instant::now() + t);
    objects.iter().for_each(Waitable::wait_begin);
    let ready = wait_ready(objects, &fds, deadline);
    objects.iter().for_each(Waitable::wait_end);
    ready
}

/// [`wait`]'s loop, between the objects' `wait_begin` and `wait_end`.
fn wait_ready<W: Waitable + Copy>(
    objects: &[W],
    fds: &[RawFd],
    deadline: Option<Instant>,
) -> Result<Vec<W>> {
    let recheck = objects.iter().any(|object| !object.ready_when_readable());
    loop {
        let buffered = objects.iter().any(Waitable::ready_now);
        // Something is ready already: only look at the descriptors, without waiting. A queue's
        // descriptor may miss a wake-up (a producer killed between its put and its write): look
        // again every 100 ms.
        let until = if buffered {
            Some(Instant::now())
        } else if recheck {
            let step = Instant::now() + crate::sync::RECHECK;
            Some(deadline.map_or(step, |deadline| deadline.min(step)))
        } else {
            deadline
        };
        // SAFETY: the caller passes descriptors it keeps open for the duration of the call (a
        // connection's own descriptors live as long as the borrowed connection).
        let borrowed: Vec<BorrowedFd<'_>> = fds
            .iter()
            .map(|&fd| unsafe { BorrowedFd::borrow_raw(fd) })
            .collect();
        let mut polls: Vec<PollFd<'_>> = borrowed
            .iter()
            .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
            .collect();
        let wait = match until {
            None => PollTimeout::NONE,
            Some(until) => {
                let ms = until
                    .saturating_duration_since(Instant::now())
                    .as_micros()
                    .div_ceil(1000);
                PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        match nix::poll::poll(&mut polls, wait) {
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {
                let ready: Vec<W> = objects
                    .iter()
                    .zip(&polls)
                    .filter(|(object, poll)| {
                        object.ready_now()
                            || (object.ready_when_readable()
                                && poll.revents().is_some_and(|r| !r.is_empty()))
                    })
                    .map(|(&object, _)| object)
                    .collect();
                if !ready.is_empty() || deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(ready);
                }
            }
            Err(errno) => return Err(Error::os("poll", errno)),
        }
    }
}

/// A fuzz target (`fuzz.rs`): a peer writes the first `k` bytes of `bytes` (`k` from its first
/// two bytes) to its pipe and the rest to the socket, then closes; this end receives (messages
/// as bytes, as a recursive value, and into a buffer, in turn) until an error or the end. Inputs
/// are cut to 60 KiB each way, so the writes fit the kernel buffers.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_stream(bytes: &[u8]) {
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Node(Vec<Node>);
    let Some((split, rest)) = bytes.split_first_chunk::<2>() else {
        return;
    };
    let split = usize::from(u16::from_le_bytes(*split)).min(rest.len());
    let (on_pipe, on_socket) = rest.split_at(split);
    let Ok((mut reader, writer)) = pipe(false) else {
        return;
    };
    if let Some(tx) = &writer.tx {
        let _ = sys::write_all(tx.as_fd(), &on_pipe[..on_pipe.len().min(60 << 10)]);
    }
    if let Some(bulk) = &writer.bulk {
        let _ = sys::write_all(bulk.as_fd(), &on_socket[..on_socket.len().min(60 << 10)]);
    }
    drop(writer);
    let mut buf = vec![0u8; 4096];
    for turn in 0.. {
        let received = match turn % 3 {
            0 => reader.recv_bytes(None).map(drop),
            1 => reader.recv::<Node>().map(drop),
            _ => reader.recv_bytes_into(&mut buf, 0).map(drop),
        };
        if received.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::{encode_header, pipe, TAG_BULK};
    use crate::{sys, Error};

    /// A peer that announces `announced` bytes on the socket, sends `sent`, and closes.
    fn truncated_message(announced: usize, sent: usize) -> super::Connection {
        let (reader, writer) = pipe(false).unwrap();
        std::thread::spawn(move || {
            let tx = writer.tx.as_ref().unwrap().as_fd();
            sys::write_all(tx, &encode_header(TAG_BULK, announced)).unwrap();
            let bulk = writer.bulk.as_ref().unwrap().as_fd();
            sys::write_all(bulk, &vec![7u8; sent]).unwrap();
        });
        reader
    }

    /// A duplex end blocked in a send holds at most `DRAIN_LIMIT` (plus one read) of what the
    /// other end sends meanwhile; the sender then waits, and nothing is lost once the blocked
    /// end gets to receive. The other end here writes raw frames and never drains, and reads
    /// this end's message only once its own writes have stalled (or all gone through, which
    /// an unbounded buffer lets them: 128 MiB).
    #[test]
    fn a_blocked_sender_buffers_a_bounded_amount_of_incoming_data() {
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        use std::sync::Arc;
        use std::time::{Duration, Instant};
        const MESSAGES: usize = 32;
        const SIZE: usize = 4 << 20;
        let (mut ours, theirs) = pipe(true).unwrap();
        let written = Arc::new(AtomicU64::new(0));
        let (their_tx, their_bulk) = (theirs.tx.as_ref().unwrap(), theirs.bulk.as_ref().unwrap());
        let their_tx = their_tx.try_clone().unwrap();
        let their_bulk = their_bulk.try_clone().unwrap();
        let writer = std::thread::spawn({
            let written = written.clone();
            move || {
                let payload = vec![7u8; SIZE];
                for _ in 0..MESSAGES {
                    sys::write_all(their_tx.as_fd(), &encode_header(TAG_BULK, SIZE)).unwrap();
                    sys::write_all(their_bulk.as_fd(), &payload).unwrap();
                    written.fetch_add(SIZE as u64, Relaxed);
                }
            }
        });
        let sender = std::thread::spawn(move || {
            ours.send_bytes(&vec![1u8; 8 << 20], 0, None).unwrap();
            let buffered = ours.inbox.len() + ours.bulk_inbox.len();
            (ours, buffered)
        });
        // Read our message only once the raw writes have stalled for half a second, or ended.
        let mut theirs = theirs;
        let (mut last, mut since) = (0, Instant::now());
        while since.elapsed() < Duration::from_millis(500) && !writer.is_finished() {
            let now = written.load(Relaxed);
            if now != last {
                (last, since) = (now, Instant::now());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(theirs.recv_bytes(None).unwrap().len(), 8 << 20);
        let (mut ours, buffered) = sender.join().unwrap();
        assert!(
            buffered <= (64 << 20) + 4 * super::READ_CHUNK,
            "a blocked sender held {buffered} bytes of incoming data"
        );
        for _ in 0..MESSAGES {
            assert_eq!(ours.recv_bytes(None).unwrap().len(), SIZE);
        }
        writer.join().unwrap();
    }

    /// The error says how many bytes arrived, for payloads past the first allocation (4 MiB)
    /// too, received whole or into a buffer.
    #[test]
    fn a_truncated_message_reports_the_bytes_that_arrived() {
        for (announced, sent) in [(100_000, 40_000), (10 << 20, 6 << 20), (10 << 20, 9 << 20)] {
            let message = format!("announces {announced} bytes, and the stream ended after {sent}");
            let err = truncated_message(announced, sent)
                .recv_bytes(None)
                .unwrap_err();
            assert!(
                matches!(&err, Error::Corrupt(m) if m.contains(&message)),
                "{err}"
            );
            let mut buf = vec![0u8; announced];
            let err = truncated_message(announced, sent)
                .recv_bytes_into(&mut buf, 0)
                .unwrap_err();
            assert!(
                matches!(&err, Error::Corrupt(m) if m.contains(&message)),
                "{err}"
            );
        }
    }
}
