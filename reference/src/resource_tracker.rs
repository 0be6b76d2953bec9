//! The resource tracker (CPython's `multiprocessing.resource_tracker`): one helper process per
//! program that unlinks the named shared-memory segments still registered when the last process
//! of the program has gone.
//!
//! # Design
//!
//! * **One per program.** The main process starts it, at its first `SharedMemory` or its first
//!   `start()` of a child (any start method), whichever comes first: this program is executed
//!   again with the bootstrap environment variable set to [`BOOTSTRAP_VALUE`], the read end of
//!   a socket pair at fd 3 and the write end of a pipe at fd 4. The bootstrap hook sees the value
//!   and runs [`serve`] before `main`; it never returns.
//! * **One connection, shared.** Every process of the program holds the other end of the socket
//!   pair, the *connection*: a `fork` child inherits it, a `spawn` or `forkserver` child is handed
//!   it as the last of its handed descriptors (`spawn/posix.rs`, `forkserver.rs`, taken in
//!   `bootstrap::take_over` by [`inherit`]). CPython does the same (`resource_tracker.getfd()`),
//!   except that its `fork` children share the tracker only if the parent started it before the
//!   fork; here the parent starts it at its first `start()`, so they always do. The forkserver
//!   itself never holds the connection: each request carries it, and the server closes its copy
//!   once it has forked.
//! * **Registering.** `SharedMemory::create` registers the name and `unlink` unregisters it, in
//!   any process: the tracker keeps one set of names for the program. `close()` and dropping a
//!   handle do neither, so a segment lives until someone unlinks it or the program ends, as in
//!   CPython. (CPython also registers a segment that a process *attaches* to, so a program
//!   unlinks at its end another program's segment it attached to, unless it passes
//!   `track=False`, new in 3.13; the reference registers only what the program created.)
//! * **Reclaiming.** When the connection reaches end-of-file, every process that held it has
//!   exited, however it died (`SIGKILL` included). The tracker then unlinks the names still
//!   registered, with a warning on stderr like CPython's ("There appear to be N leaked
//!   shared_memory objects to clean up at shutdown"), and exits. So it ends when the last process
//!   of the program has gone, and never before: under `fork` that includes every live fork child
//!   (and its own fork children), even when the main process was killed.
//! * **At exit.** The main process, after joining its children (the exit function), closes its
//!   copy of the connection and waits for the tracker to exit, at most [`EXIT_WAIT`] (as CPython
//!   3.13.18 and 3.14.10 do, gh-146313; 3.8.18 to 3.13.0 do not wait), then reaps it, so the
//!   warning is out and nothing of the program is left when it has exited. The wait ends when
//!   the tracker's fd 4 closes: the pipe's read end, kept by the main process, reaches
//!   end-of-file. A process the main process does not know of that still holds the connection
//!   (a grandchild orphaned by a killed child, a raw `fork`) keeps the tracker alive after the
//!   wait; it then finishes after that process, as an orphan. Children never close the tracker;
//!   they just exit.
//! * **Signals.** The tracker ignores `SIGINT` and `SIGTERM` (as CPython's does), so a Ctrl-C to
//!   the process group does not stop it before it has cleaned up; it still ends with the program,
//!   through end-of-file.
//! * **A tracker that died** (killed by someone): the next `register` that cannot write starts
//!   another one, owned by the process that noticed, as CPython relaunches it.
//!
//! Messages are `[kind, len_lo, len_hi, name...]`, each sent with one `send` (atomic on an
//! `AF_UNIX` stream socket for so few bytes, so processes sharing the connection never
//! interleave them): `R` register, `U` unregister.

use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use nix::unistd::Pid;

use crate::error::{Error, Result};
use crate::{exit, spawn, sys};

/// The value of the bootstrap environment variable that makes a process the tracker.
pub(crate) const BOOTSTRAP_VALUE: &str = "resource_tracker";

/// How long the main process waits at exit for the tracker to finish (see the module docs).
pub(crate) const EXIT_WAIT: Duration = Duration::from_secs(1);

/// This process's view of the program's tracker.
pub(crate) struct Client {
    /// The connection, shared by every process of the program.
    conn: OwnedFd,
    /// Set in the process that started the tracker (inherited, and ignored, by its `fork`
    /// children).
    started: Option<Started>,
}

struct Started {
    /// The process that started the tracker, and so must reap it.
    owner: u32,
    pid: Pid,
    /// The read end of a pipe whose write end only the tracker holds: end-of-file once it has
    /// exited.
    done: OwnedFd,
}

/// The client state. Held only for a send.
static CLIENT: Mutex<Option<Client>> = Mutex::new(None);

fn client() -> MutexGuard<'static, Option<Client>> {
    CLIENT.lock().unwrap_or_else(|p| p.into_inner())
}

/// Locks the client state across `fork()` (see `fork::start`), so a `fork` child never inherits
/// it locked by another thread.
pub(crate) fn lock_for_fork() -> MutexGuard<'static, Option<Client>> {
    client()
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

/// This process's connection, starting the tracker if the program has none yet.
fn connection(slot: &mut Option<Client>) -> Result<BorrowedFd<'_>> {
    if slot.is_none() {
        *slot = Some(start()?);
    }
    slot.as_ref()
        .map(|client| client.conn.as_fd())
        .ok_or_else(|| Error::os("the resource tracker", io::Error::other("no connection")))
}

/// Makes sure the program has a tracker and this process a connection to it: called before a
/// `fork` (the child inherits the connection).
pub(crate) fn ensure_running() -> Result<()> {
    if crate::bootstrap::secure_execution() {
        return Ok(()); // no tracker there: see `register`
    }
    connection(&mut client()).map(|_| ())
}

/// The connection, to hand to a `spawn` or `forkserver` child (as the last of its handed
/// descriptors), starting the tracker if needed. The descriptor stays open as long as this
/// process runs.
pub(crate) fn fd() -> Result<RawFd> {
    connection(&mut client()).map(|fd| fd.as_raw_fd())
}

/// In a `spawn` or `forkserver` child: `conn` is the connection its parent handed it.
pub(crate) fn inherit(conn: OwnedFd) {
    *client() = Some(Client {
        conn,
        started: None,
    });
}

/// Records that this program created the segment `name` (with its leading `/`): the tracker
/// unlinks it at the program's end unless it is [`unregister`]ed first.
///
/// In secure-execution mode (a set-user-ID program and the like) no tracker runs: a copy of the
/// program started to be one would ignore the bootstrap variable (`bootstrap::secure_execution`),
/// so a segment there is unlinked only by `unlink()`.
pub(crate) fn register(name: &str) -> Result<()> {
    if crate::bootstrap::secure_execution() {
        return Ok(());
    }
    let bytes = message(b'R', name)?;
    let mut slot = client();
    let conn = connection(&mut slot)?;
    if sys::write_all(conn, &bytes).is_ok() {
        return Ok(());
    }
    // The tracker is gone (killed by someone?): start another one and try once more. The old
    // one, if this process started it, is reaped now.
    if let Some(Client {
        started: Some(started),
        ..
    }) = slot.take()
    {
        if started.owner == std::process::id() {
            let _ = nix::sys::wait::waitpid(started.pid, None);
        }
    }
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

/// Starts a tracker for this program.
fn start() -> Result<Client> {
    let (mine, theirs) = sys::socketpair().map_err(|e| Error::os("socketpair", e))?;
    let (done, done_for_tracker) = sys::pipe(false).map_err(|e| Error::os("pipe", e))?;
    let pid = spawn::spawn_program(
        BOOTSTRAP_VALUE,
        &[theirs.as_raw_fd(), done_for_tracker.as_raw_fd()],
    )?;
    drop((theirs, done_for_tracker));
    // Close the connection and reap the tracker at exit (the exit function calls `shutdown`).
    exit::register();
    Ok(Client {
        conn: mine,
        started: Some(Started {
            owner: std::process::id(),
            pid,
            done,
        }),
    })
}

/// At exit of the process that started the tracker, after its children have been joined:
/// closes its connection, waits (at most [`EXIT_WAIT`]) for the tracker to unlink what is left
/// and exit, and reaps it. Does nothing in other processes: their connection closes when they
/// exit.
pub(crate) fn shutdown() {
    let mut slot = match CLIENT.try_lock() {
        Ok(slot) => slot,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        // Another thread is sending: leave it; end-of-file will do the cleanup anyway.
        Err(TryLockError::WouldBlock) => return,
    };
    let me = std::process::id();
    let Some(client) = slot.take_if(|client| {
        client
            .started
            .as_ref()
            .is_some_and(|started| started.owner == me)
    }) else {
        return;
    };
    drop(slot);
    let Client {
        conn,
        started: Some(started),
    } = client
    else {
        return;
    };
    drop(conn); // end-of-file, once no other process holds it
    if sys::wait_readable(started.done.as_fd(), Some(EXIT_WAIT)).unwrap_or(false) {
        let _ = nix::sys::wait::waitpid(started.pid, None);
    }
}

// ---------------------------------------------------------------------------------------------
// The tracker process.

/// The tracker's main loop, run by the bootstrap hook before `main`, with the connection at
/// fd 3 (`conn`). Never returns. Fd 4, the write end of the "done" pipe, is left open until the
/// process exits: that is how the starting process sees the end.
pub(crate) fn serve(conn: OwnedFd) -> ! {
    // SAFETY: setting signal dispositions to "ignore" in this single-threaded process.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
    }
    // Nothing is printed on stdout: let it go (as CPython's tracker closes it), so that a reader
    // of the program's stdout does not wait for the tracker's end. stderr stays, for the warning.
    if let Some(null) = sys::open_dev_null() {
        // SAFETY: dup2 of a descriptor this process owns onto 1, which nothing here uses.
        unsafe { libc::dup2(null.as_raw_fd(), 1) };
    }
    let mut names = BTreeSet::new();
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match nix::unistd::read(&conn, &mut buf) {
            Ok(0) => break, // end of file: every process of the program has gone
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(err) => {
                eprintln!("multiprocessing resource_tracker: read failed: {err}");
                break;
            }
        };
        pending.extend_from_slice(&buf[..n]);
        let mut used = 0;
        while let Some((kind, name, len)) = parse(&pending[used..]) {
            match kind {
                b'R' => {
                    names.insert(name);
                }
                b'U' => {
                    names.remove(&name);
                }
                _ => {} // unknown: ignore
            }
            used += len;
        }
        pending.drain(..used);
    }
    unlink_leftovers(&names);
    // SAFETY: ending the tracker is the intent; nothing is left to flush (stderr is unbuffered).
    unsafe { libc::_exit(0) }
}

/// One complete message at the start of `bytes`: its kind, name and length in bytes.
fn parse(bytes: &[u8]) -> Option<(u8, String, usize)> {
    let (&kind, rest) = bytes.split_first()?;
    let len = u16::from_le_bytes([*rest.first()?, *rest.get(1)?]) as usize;
    let name = rest.get(2..2 + len)?;
    Some((kind, String::from_utf8_lossy(name).into_owned(), 3 + len))
}

/// Unlinks the names left registered when the program ended, warning as CPython 3.13+ does.
fn unlink_leftovers(names: &BTreeSet<String>) {
    if names.is_empty() {
        return;
    }
    let listed: Vec<String> = names.iter().map(|name| format!("'{name}'")).collect();
    eprintln!(
        "multiprocessing: UserWarning: resource_tracker: There appear to be {} leaked \
         shared_memory objects to clean up at shutdown: {{{}}}",
        names.len(),
        listed.join(", ")
    );
    for name in names {
        let Ok(path) = std::ffi::CString::new(name.as_str()) else {
            continue;
        };
        // SAFETY: a NUL-terminated path.
        if unsafe { libc::shm_unlink(path.as_ptr()) } != 0 {
            eprintln!(
                "multiprocessing: UserWarning: resource_tracker: '{name}': {}",
                io::Error::last_os_error()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{message, parse};

    #[test]
    fn messages_parse_back_one_at_a_time_and_wait_for_their_end() {
        let mut stream = message(b'R', "/psm_1").unwrap();
        stream.extend(message(b'U', "/psm_1").unwrap());
        let (kind, name, len) = parse(&stream).unwrap();
        assert_eq!((kind, name.as_str(), len), (b'R', "/psm_1", 9));
        let (kind, name, _) = parse(&stream[len..]).unwrap();
        assert_eq!((kind, name.as_str()), (b'U', "/psm_1"));
        assert_eq!(parse(&stream[..len - 1]), None, "a message cut short");
        assert_eq!(parse(&stream[..2]), None);
    }
}
