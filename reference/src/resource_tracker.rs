//! The resource tracker (CPython's `multiprocessing.resource_tracker`): a helper process that
//! unlinks the named shared-memory segments a process created and could not unlink itself
//! because it died (`SIGKILL`, `abort`, `panic = "abort"`).
//!
//! # Design
//!
//! * **Started on first use.** The first [`register`] in a process starts the tracker the way a
//!   `spawn` child starts: this program is executed again with the bootstrap environment variable
//!   set to [`BOOTSTRAP_VALUE`] and one end of a socket pair at fd 3. The bootstrap hook sees the
//!   value and runs [`serve`] before `main`; it never returns. Like every descriptor the crate
//!   creates, the socket is close-on-exec, and `spawn` children and the forkserver are handed
//!   only the descriptors they need, so only this process holds its end.
//! * **One connection per process.** The tracker keeps, for each connection, the names
//!   registered over it. A `fork` child inherits its parent's connection; on its first
//!   `register` it opens its own by sending one end of a new socket pair over the inherited one
//!   (`SCM_RIGHTS`), so the segments it creates are tied to *its* life. A `spawn` or
//!   `forkserver` child, which inherits nothing, starts a tracker of its own.
//! * **Reclaiming.** When a connection reaches end-of-file (every process holding it has exited,
//!   however it died), the tracker unlinks the names still registered on it, with a warning like
//!   CPython's ("leaked shared_memory objects"). A segment unlinked normally (by its creator's
//!   drop or `unlink`) is unregistered first, so it is not touched again.
//! * **Lifetime.** The tracker exits when its last connection closes, so it never outlives the
//!   processes that use it. At a normal exit (the crate's exit function, main process and
//!   children alike) a process says goodbye: the tracker unlinks what is left on that connection
//!   and answers whether it is exiting; the process that started it then reaps it, so nothing of
//!   the program (process or segment) is left when it has exited.
//! * **Signals.** The tracker ignores `SIGINT` and `SIGTERM` (as CPython's does), so a Ctrl-C to
//!   the process group does not stop it before it has cleaned up after the others; it still ends
//!   with them, through end-of-file.
//!
//! Messages are `[kind, len_lo, len_hi, name...]`, each sent with one `send` (atomic on an
//! `AF_UNIX` stream socket for so few bytes, so processes sharing a connection never interleave
//! them): `R` register, `U` unregister, `C` a new connection (its descriptor attached), `B`
//! goodbye, answered by one byte, `x` (the tracker is exiting) or `s` (it stays).

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard, TryLockError};

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::{exit, spawn, sys};

/// The value of the bootstrap environment variable that makes a process the tracker.
pub(crate) const BOOTSTRAP_VALUE: &str = "resource_tracker";

/// This process's connection to a tracker.
struct Client {
    conn: OwnedFd,
    /// The process that opened `conn`; a `fork` child sees its parent's here.
    owner: u32,
    /// The tracker's pid, if `owner` started it (and so must reap it).
    tracker: Option<Pid>,
}

/// The client state. Held only for a send (and, at exit, a one-byte answer).
static CLIENT: Mutex<Option<Client>> = Mutex::new(None);

fn client() -> MutexGuard<'static, Option<Client>> {
    CLIENT.lock().unwrap_or_else(|p| p.into_inner())
}

fn message(kind: u8, name: &str) -> Result<Vec<u8>> {
    let len = u16::try_from(name.len())
        .map_err(|_| Error::InvalidOperation(format!("name too long to track: {name:?}")))?;
    let mut bytes = Vec::with_capacity(3 + name.len());
    bytes.push(kind);
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(name.as_bytes());
    Ok(bytes)
}

/// Records that this process created the segment `name` (with its leading `/`): the tracker
/// unlinks it if this process ends without [`unregister`]ing it.
pub(crate) fn register(name: &str) -> Result<()> {
    let bytes = message(b'R', name)?;
    let mut slot = client();
    let conn = connection(&mut slot)?;
    if sys::write_all(conn, &bytes).is_ok() {
        return Ok(());
    }
    // The tracker is gone (killed by someone?): start another one and try once more.
    *slot = Some(start()?);
    let conn = connection(&mut slot)?;
    sys::write_all(conn, &bytes).map_err(|e| Error::os("registering with the resource tracker", e))
}

/// Forgets the segment `name`: it was unlinked, or handed over to the user's care. Never starts
/// a tracker; without a connection there is nothing to forget.
pub(crate) fn unregister(name: &str) {
    let Ok(bytes) = message(b'U', name) else {
        return;
    };
    if let Some(client) = client().as_ref() {
        // The tracker may be gone; then there is nothing to forget either.
        let _ = sys::write_all(client.conn.as_fd(), &bytes);
    }
}

/// This process's own connection: opened over the inherited one in a `fork` child, or to a new
/// tracker.
fn connection(slot: &mut Option<Client>) -> Result<BorrowedFd<'_>> {
    let me = std::process::id();
    let own = slot.as_ref().is_some_and(|client| client.owner == me);
    if !own {
        let inherited = slot.take();
        let opened = inherited.and_then(|client| open_over(&client.conn).ok());
        *slot = Some(match opened {
            Some(conn) => Client {
                conn,
                owner: me,
                tracker: None,
            },
            None => start()?,
        });
    }
    slot.as_ref()
        .map(|client| client.conn.as_fd())
        .ok_or_else(|| Error::os("the resource tracker", io::Error::other("no connection")))
}

/// Opens a new connection by sending one end of a socket pair over `existing`.
fn open_over(existing: &OwnedFd) -> io::Result<OwnedFd> {
    let (mine, theirs) = sys::socketpair()?;
    let header = [b'C', 0, 0];
    let fds = [theirs.as_raw_fd()];
    let rights = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(&header)];
    loop {
        match sendmsg::<()>(existing.as_raw_fd(), &iov, &rights, no_sigpipe(), None) {
            Ok(3) => return Ok(mine),
            Ok(_) => return Err(io::ErrorKind::WriteZero.into()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    }
}

/// Starts a tracker for this process.
fn start() -> Result<Client> {
    let (mine, theirs) = sys::socketpair().map_err(|e| Error::os("socketpair", e))?;
    let pid = spawn::spawn_program(BOOTSTRAP_VALUE, &[theirs.as_raw_fd()])?;
    drop(theirs);
    // Say goodbye and reap the tracker at exit (the exit function calls `shutdown`).
    exit::register();
    Ok(Client {
        conn: mine,
        owner: std::process::id(),
        tracker: Some(pid),
    })
}

/// At exit: says goodbye, so the tracker unlinks what this process left registered now rather
/// than after the process has gone, and reaps the tracker if it exits and this process started
/// it. Called by the exit function, after the children have been joined.
pub(crate) fn shutdown() {
    let mut slot = match CLIENT.try_lock() {
        Ok(slot) => slot,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        // Another thread is sending: leave it; end-of-file will do the cleanup instead.
        Err(TryLockError::WouldBlock) => return,
    };
    // Only this process's own connection: a `fork` child leaves its parent's alone.
    let Some(client) = slot.take_if(|client| client.owner == std::process::id()) else {
        return;
    };
    let Ok(goodbye) = message(b'B', "") else {
        return;
    };
    if sys::write_all(client.conn.as_fd(), &goodbye).is_err() {
        return;
    }
    let mut answer = [0u8; 1];
    let exiting =
        matches!(sys::read_exact(client.conn.as_fd(), &mut answer), Ok(true)) && answer[0] == b'x';
    drop(client.conn);
    if let (true, Some(pid)) = (exiting, client.tracker) {
        let _ = nix::sys::wait::waitpid(pid, None);
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn no_sigpipe() -> MsgFlags {
    MsgFlags::MSG_NOSIGNAL
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn no_sigpipe() -> MsgFlags {
    MsgFlags::empty()
}

// ---------------------------------------------------------------------------------------------
// The tracker process.

/// One connection, as the tracker sees it.
struct Connection {
    fd: OwnedFd,
    /// Bytes received and not yet parsed.
    pending: Vec<u8>,
    /// Descriptors received and not yet claimed by a `C` message.
    fds: Vec<OwnedFd>,
    /// The names registered over this connection.
    names: Vec<String>,
}

impl Connection {
    fn new(fd: OwnedFd) -> Connection {
        Connection {
            fd,
            pending: Vec::new(),
            fds: Vec::new(),
            names: Vec::new(),
        }
    }
}

/// The tracker's main loop, run by the bootstrap hook before `main`. Never returns.
pub(crate) fn serve(first: OwnedFd) -> ! {
    // SAFETY: setting signal dispositions to "ignore" in this single-threaded process.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
    let mut connections = vec![Connection::new(first)];
    while !connections.is_empty() {
        let ready = match poll(&connections) {
            Ok(ready) => ready,
            Err(err) => {
                eprintln!("multiprocessing resource_tracker: poll failed: {err}");
                break;
            }
        };
        // From the last, so that removing one does not shift the others.
        for index in ready.into_iter().rev() {
            let (open, added) = receive(&mut connections, index);
            if !open {
                let gone = connections.swap_remove(index);
                unlink_leftovers(gone.names);
            }
            connections.extend(added.into_iter().map(Connection::new));
        }
    }
    // Whatever remains registered is unlinked by now; nothing to flush.
    // SAFETY: ending the tracker is the intent.
    unsafe { libc::_exit(0) }
}

/// The indices of the connections with something to read (or closed).
fn poll(connections: &[Connection]) -> io::Result<Vec<usize>> {
    use nix::poll::{PollFd, PollFlags, PollTimeout};
    loop {
        let mut fds: Vec<PollFd<'_>> = connections
            .iter()
            .map(|c| PollFd::new(c.fd.as_fd(), PollFlags::POLLIN))
            .collect();
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {
                return Ok(fds
                    .iter()
                    .enumerate()
                    .filter(|(_, fd)| fd.revents().is_some_and(|r| !r.is_empty()))
                    .map(|(i, _)| i)
                    .collect())
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    }
}

/// Reads what connection `index` has and acts on each complete message. Returns whether it is
/// still open, and the connections opened over it.
fn receive(connections: &mut [Connection], index: usize) -> (bool, Vec<OwnedFd>) {
    let mut buf = [0u8; 4096];
    let mut cmsg = nix::cmsg_space!([RawFd; 16]);
    let connection = &mut connections[index];
    let received = loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        match recvmsg::<()>(
            connection.fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            cloexec_flag(),
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break None,
            Ok(msg) => {
                if let Ok(cmsgs) = msg.cmsgs() {
                    for message in cmsgs {
                        if let ControlMessageOwned::ScmRights(fds) = message {
                            // SAFETY: SCM_RIGHTS just installed these descriptors in this
                            // process; nothing else owns them.
                            connection.fds.extend(
                                fds.into_iter()
                                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                            );
                        }
                    }
                }
                break Some(msg.bytes);
            }
        }
    };
    let Some(n) = received.filter(|&n| n > 0) else {
        return (false, Vec::new()); // end of file: the processes on it are gone
    };
    connection.pending.extend_from_slice(&buf[..n]);

    let mut added = Vec::new();
    let mut unregistered = Vec::new();
    let mut open = true;
    loop {
        let pending = &connection.pending;
        if pending.len() < 3 {
            break;
        }
        let (kind, len) = (
            pending[0],
            u16::from_le_bytes([pending[1], pending[2]]) as usize,
        );
        let Some(name) = pending.get(3..3 + len) else {
            break;
        };
        let name = String::from_utf8_lossy(name).into_owned();
        connection.pending.drain(..3 + len);
        match kind {
            b'R' => connection.names.push(name),
            b'U' => match connection.names.iter().position(|n| *n == name) {
                Some(at) => {
                    connection.names.swap_remove(at);
                }
                None => unregistered.push(name),
            },
            b'C' if !connection.fds.is_empty() => added.push(connection.fds.remove(0)),
            b'B' => {
                unlink_leftovers(std::mem::take(&mut connection.names));
                open = false;
                break;
            }
            _ => {} // unknown: ignore
        }
    }
    let goodbye = !open;
    // Any process may unlink a segment: a name not registered here is forgotten where it is.
    for name in unregistered {
        for connection in connections.iter_mut() {
            if let Some(at) = connection.names.iter().position(|n| *n == name) {
                connection.names.swap_remove(at);
                break;
            }
        }
    }
    if goodbye {
        // Exiting if this was the last connection and none was just opened.
        let last = connections.len() == 1 && added.is_empty();
        let answer = if last { b"x" } else { b"s" };
        let _ = sys::write_all(connections[index].fd.as_fd(), answer);
    }
    (open, added)
}

/// Unlinks the names a process left registered when it went away.
fn unlink_leftovers(names: Vec<String>) {
    if names.is_empty() {
        return;
    }
    eprintln!(
        "multiprocessing resource_tracker: there appear to be {} leaked shared_memory objects \
         to clean up at shutdown: {names:?}",
        names.len()
    );
    for name in names {
        if let Ok(path) = std::ffi::CString::new(name) {
            // SAFETY: a NUL-terminated path.
            unsafe { libc::shm_unlink(path.as_ptr()) };
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn cloexec_flag() -> MsgFlags {
    MsgFlags::MSG_CMSG_CLOEXEC
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn cloexec_flag() -> MsgFlags {
    MsgFlags::empty()
}
