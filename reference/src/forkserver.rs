//! The `forkserver` start method.
//!
//! On first use the parent starts a server the way it spawns a child: this program is executed
//! again, with the bootstrap environment variable saying "forkserver". Like a spawned child, the
//! server runs `main` from its start up to [`main_guard`](crate::main_guard); there it [serves]
//! and never returns. It forks one child per request, from that point, and each child takes over
//! at once: it runs its target and exits. So code before the guard runs once in the server, not
//! once per child, as in CPython 3.13.8+ and 3.14.1+, whose forkserver loads the main module once
//! and forks every child from that state (gh-126631). A program that starts a process before the
//! guard fails in the server, which exits; the parent's `start` then returns
//! [`Error::ForkServerFailed`] and no child exists. Under a test harness (`cargo test`), whose
//! `main` is not the program's, the server serves from the bootstrap hook instead, before `main`.
//!
//! The parent and the server share one private `AF_UNIX` socket pair, created before the server
//! exists, so no other process can connect, and no authentication key is needed (CPython listens on
//! a named socket and authenticates with HMAC). A request is a frame of preparation data with, as
//! `SCM_RIGHTS`, a fresh *status socket* and the descriptors the child is handed. The server writes
//! the child's pid to the status socket, and later its exit code; the parent keeps the other end
//! as the child's sentinel. When the parent ends, even by `SIGKILL`, its end of the control
//! socket closes and the server exits at once: it never outlives the program that started it.
//!
//! The server forks each child one request ahead: a *spare* waits, already forked, for the next
//! request, which the server passes on to it, and the server forks the next spare while that
//! child runs (see `Spare`). So a `start` waits for a hand-over, not for a `fork` of the server.
//! The spare is the only difference anyone can see: one idle process, the server's child, that is
//! no `Process` and ends with the server.

use std::collections::HashMap;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard};

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::bootstrap::{self, Handover};
use crate::error::{Error, Result};
use crate::popen::{self, Popen, Reaper};
use crate::spawn::{self, Prepared};
use crate::sys;

/// The most descriptors one request may carry.
const MAX_FDS: usize = 64;

/// The parent's handle on its server.
pub(crate) struct Server {
    control: OwnedFd,
    pid: Pid,
    /// The process that started the server; a `fork` child must start its own.
    owner: u32,
}

static SERVER: Mutex<Option<Server>> = Mutex::new(None);

fn server_slot() -> MutexGuard<'static, Option<Server>> {
    SERVER.lock().unwrap_or_else(|p| p.into_inner())
}

/// Locks the server handle across `fork()` (see `fork::start`).
pub(crate) fn lock_for_fork() -> MutexGuard<'static, Option<Server>> {
    server_slot()
}

/// In a `fork` child: the parent's server is not ours. Closes our copy of its control socket
/// (`close()` only: async-signal-safe, and `Server` owns no heap memory).
pub(crate) fn forget_in_fork_child(slot: &mut Option<Server>) {
    *slot = None;
}

/// A message on a child's status socket: a tag byte and a little-endian `i32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// The server forked the child: its pid.
    Started(i32),
    /// The child ended with this exit code (`-N` for signal `N`). Written by the server after
    /// reaping it, so the child is gone, descriptors and all, when its parent reads this.
    Exited(i32),
    /// The server could not fork: the errno.
    ForkFailed(i32),
}

impl Status {
    pub(crate) fn encode(self) -> [u8; 5] {
        let (tag, value) = match self {
            Status::Started(pid) => (b'p', pid),
            Status::Exited(code) => (b'x', code),
            Status::ForkFailed(errno) => (b'e', errno),
        };
        let mut bytes = [tag, 0, 0, 0, 0];
        bytes[1..].copy_from_slice(&value.to_le_bytes());
        bytes
    }

    /// Reads one message; `Ok(None)` when the socket closed first.
    pub(crate) fn read(socket: BorrowedFd<'_>) -> io::Result<Option<Status>> {
        let mut bytes = [0u8; 5];
        if !sys::read_exact(socket, &mut bytes)? {
            return Ok(None);
        }
        let value = i32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        match bytes[0] {
            b'p' => Ok(Some(Status::Started(value))),
            b'x' => Ok(Some(Status::Exited(value))),
            b'e' => Ok(Some(Status::ForkFailed(value))),
            tag => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("corrupt forkserver status message (tag {tag:#x})"),
            )),
        }
    }
}

/// Whether this process has started a forkserver that is still running.
pub(crate) fn running() -> bool {
    server_slot()
        .as_ref()
        .is_some_and(|server| server.owner == std::process::id())
}

/// Asks the server (started now if needed) for a child and hands it its preparation data.
pub(crate) fn start(prepared: &Prepared) -> Result<Popen> {
    let (status, status_for_server) = sys::socketpair().map_err(|e| Error::os("socketpair", e))?;
    {
        let mut slot = server_slot();
        let me = std::process::id();
        if slot.as_ref().is_none_or(|server| server.owner != me) {
            *slot = Some(launch()?);
        }
        let server = slot.as_ref().expect("just set");
        let mut fds = vec![status_for_server.as_raw_fd()];
        fds.extend(&prepared.fds);
        // The last handed descriptor: the program's resource tracker (`bootstrap::take_over`).
        fds.push(crate::resource_tracker::fd()?);
        if let Err(err) = send_request(server.control.as_fd(), &prepared.bytes, &fds) {
            return Err(forget_if_gone(&mut slot)
                .unwrap_or_else(|| Error::os("sending a request to the forkserver", err)));
        }
    }
    drop(status_for_server);
    // The server writes the pid right after the fork, before it can reap the child.
    match Status::read(status.as_fd()) {
        Ok(Some(Status::Started(pid))) => {
            Ok(Popen::new(Pid::from_raw(pid), status, Reaper::Forkserver))
        }
        Ok(Some(Status::ForkFailed(errno))) => Err(Error::os(
            "fork in the forkserver",
            io::Error::from_raw_os_error(errno),
        )),
        Ok(Some(Status::Exited(_))) => Err(Error::os(
            "starting a forkserver child",
            io::Error::other("the forkserver reported an exit code before the child's pid"),
        )),
        Ok(None) => Err(forget_if_gone(&mut server_slot()).unwrap_or_else(|| {
            Error::os(
                "starting a forkserver child",
                io::Error::other("the forkserver closed the status socket without starting it"),
            )
        })),
        Err(err) => Err(Error::os(
            "reading the child's pid from the forkserver",
            err,
        )),
    }
}

/// If this process's server has gone (its end of the control socket is closed), reaps it,
/// forgets it (the next `start` launches a new one) and says how it ended. A server that dies
/// closes that end as it exits, before or with the status socket of a request in flight, so a
/// status socket at end-of-file finds it hung up here.
fn forget_if_gone(slot: &mut Option<Server>) -> Option<Error> {
    let server = slot.as_ref()?;
    if server.owner != std::process::id() || !sys::hung_up(server.control.as_fd()) {
        return None;
    }
    let server = slot.take()?;
    drop(server.control);
    let status = match waitpid(server.pid, None) {
        Ok(WaitStatus::Exited(_, code)) => format!("exit status {code}"),
        Ok(WaitStatus::Signaled(_, signal, _)) => format!("killed by {signal}"),
        Ok(other) => format!("{other:?}"),
        Err(errno) => format!("not reaped: {errno}"),
    };
    Some(Error::ForkServerFailed { status })
}

fn launch() -> Result<Server> {
    let (control, control_for_server) =
        sys::socketpair().map_err(|e| Error::os("socketpair", e))?;
    // The server resolves every dynamic symbol once, at its start (`LD_BIND_NOW`), so its
    // children, forked from it, do not each resolve the ones they call (and write their GOT
    // pages) on the way to their target. It removes the variable again before `main`.
    let bind_now_added = std::env::var_os("LD_BIND_NOW").is_none();
    let value = bootstrap::forkserver_value(bootstrap::entry_for_children(), bind_now_added);
    let pid = spawn::spawn_program(&value, &[control_for_server.as_raw_fd()])?;
    Ok(Server {
        control,
        pid,
        owner: std::process::id(),
    })
}

/// Stops this process's server, if it started one, and reaps it. Called at exit, after the
/// children have been joined.
pub(crate) fn shutdown() {
    let server = server_slot().take();
    if let Some(server) = server {
        if server.owner == std::process::id() {
            drop(server.control); // EOF: the server exits
            let _ = waitpid(server.pid, None);
        }
    }
}

fn send_request(control: BorrowedFd<'_>, prep: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let header = u32::try_from(prep.len())
        .ok()
        .filter(|&len| len as usize <= sys::MAX_FRAME)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "preparation data larger than 1 GiB",
            )
        })?
        .to_le_bytes();
    let rights = [ControlMessage::ScmRights(fds)];
    let iov = [IoSlice::new(&header), IoSlice::new(prep)];
    let sent = loop {
        match sendmsg::<()>(control.as_raw_fd(), &iov, &rights, no_sigpipe(), None) {
            Ok(n) => break n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    };
    // A short send delivered the descriptors with its first bytes; send the rest plainly.
    let total = header.len() + prep.len();
    if sent < total {
        let mut rest = Vec::with_capacity(total - sent);
        rest.extend_from_slice(&header[sent.min(4)..]);
        rest.extend_from_slice(&prep[sent.saturating_sub(4)..]);
        sys::write_all(control, &rest)?;
    }
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn no_sigpipe() -> MsgFlags {
    MsgFlags::MSG_NOSIGNAL
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn no_sigpipe() -> MsgFlags {
    MsgFlags::empty()
}

/// Reads one request: `None` when the parent has gone.
fn recv_request(control: BorrowedFd<'_>) -> io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut header = [0u8; 4];
    let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS]);
    let mut fds = Vec::new();
    let mut got = 0;
    while got < header.len() {
        let mut iov = [IoSliceMut::new(&mut header[got..])];
        let msg = match recvmsg::<()>(
            control.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            cloexec_flag(),
        ) {
            Ok(msg) => msg,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        };
        for message in msg.cmsgs().map_err(io::Error::from)? {
            if let ControlMessageOwned::ScmRights(received) = message {
                // SAFETY: SCM_RIGHTS just installed these descriptors in this process; we own them.
                fds.extend(
                    received
                        .into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        if msg.bytes == 0 {
            return Ok(None);
        }
        got += msg.bytes;
    }
    let len = u32::from_le_bytes(header) as usize;
    if len > sys::MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "corrupt forkserver request",
        ));
    }
    let mut prep = vec![0; len];
    if len > 0 && !sys::read_exact(control, &mut prep)? {
        return Ok(None);
    }
    // Where `MSG_CMSG_CLOEXEC` exists, the descriptors arrived close-on-exec already.
    if cloexec_flag().is_empty() {
        for fd in &fds {
            sys::set_cloexec(fd.as_raw_fd(), true)?;
        }
    }
    Ok(Some((prep, fds)))
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn cloexec_flag() -> MsgFlags {
    MsgFlags::MSG_CMSG_CLOEXEC
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn cloexec_flag() -> MsgFlags {
    MsgFlags::empty()
}

/// How the server learns that children have ended: a descriptor that becomes readable on
/// `SIGCHLD`. On Linux a `signalfd` with `SIGCHLD` blocked, so no handler runs and no signal
/// frame is written (each would cost every request a few system calls and a copy-on-write
/// fault of the stack); elsewhere a self-pipe written by a handler.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod child_exits {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

    pub(super) struct ChildExits {
        fd: OwnedFd,
        /// The signal mask before `SIGCHLD` was blocked: a forked child's.
        previous: libc::sigset_t,
    }

    fn sigchld_set() -> libc::sigset_t {
        // SAFETY: sigemptyset/sigaddset initialize the set they are given.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGCHLD);
            set
        }
    }

    impl ChildExits {
        pub(super) fn new() -> io::Result<ChildExits> {
            let set = sigchld_set();
            // SAFETY: a zeroed sigset_t is a valid out-parameter; the server is one thread.
            let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
            // SAFETY: valid pointers to initialized sets.
            let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous) };
            if r != 0 {
                return Err(io::Error::from_raw_os_error(r));
            }
            // SAFETY: a new descriptor for a valid set; checked below.
            let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: signalfd just returned this descriptor; nothing else owns it.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            Ok(ChildExits { fd, previous })
        }

        pub(super) fn fd(&self) -> BorrowedFd<'_> {
            self.fd.as_fd()
        }

        /// Consumes the pending notifications (the children are reaped by `waitpid`).
        pub(super) fn drain(&self) {
            let mut info = [0u8; 8 * std::mem::size_of::<libc::signalfd_siginfo>()];
            // SAFETY: reads into a buffer of the given length; the descriptor is non-blocking.
            while unsafe { libc::read(self.fd.as_raw_fd(), info.as_mut_ptr().cast(), info.len()) }
                > 0
            {}
        }

        /// In a forked child: the signal mask of before, and the descriptor closed
        /// (`sigprocmask` and `close`).
        pub(super) fn leave(self) {
            // SAFETY: restores a mask that pthread_sigmask filled in.
            unsafe {
                libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut())
            };
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod child_exits {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
    use std::sync::atomic::{AtomicI32, Ordering};

    /// The write end of the self-pipe, for the `SIGCHLD` handler.
    static PIPE: AtomicI32 = AtomicI32::new(-1);

    extern "C" fn on_sigchld(_: libc::c_int) {
        // Async-signal-safe: errno is saved and restored; write() to a non-blocking pipe is the
        // only call (a full pipe already means "children to reap").
        let saved = nix::errno::Errno::last_raw();
        // SAFETY: a one-byte write from a static buffer to a descriptor the server keeps open.
        unsafe { libc::write(PIPE.load(Ordering::Relaxed), b"c".as_ptr().cast(), 1) };
        nix::errno::Errno::set_raw(saved);
    }

    pub(super) struct ChildExits {
        read: OwnedFd,
        _write: OwnedFd,
    }

    impl ChildExits {
        pub(super) fn new() -> io::Result<ChildExits> {
            let (read, write) = crate::sys::pipe(true)?;
            PIPE.store(write.as_raw_fd(), Ordering::Relaxed);
            let handler = SigAction::new(
                SigHandler::Handler(on_sigchld),
                SaFlags::SA_RESTART | SaFlags::SA_NOCLDSTOP,
                SigSet::empty(),
            );
            // SAFETY: the handler only calls async-signal-safe functions (see `on_sigchld`).
            unsafe { sigaction(Signal::SIGCHLD, &handler) }?;
            Ok(ChildExits {
                read,
                _write: write,
            })
        }

        pub(super) fn fd(&self) -> BorrowedFd<'_> {
            self.read.as_fd()
        }

        /// Empties the pipe; a `SIGCHLD` after it makes it readable again.
        pub(super) fn drain(&self) {
            let mut sink = [0u8; 64];
            while matches!(nix::unistd::read(self.read.as_raw_fd(), &mut sink), Ok(n) if n == sink.len())
            {
            }
        }

        /// In a forked child: the default `SIGCHLD` disposition, the pipe closed (`sigaction`
        /// and `close`).
        pub(super) fn leave(self) {
            let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            // SAFETY: restoring the default disposition.
            let _ = unsafe { sigaction(Signal::SIGCHLD, &default) };
        }
    }
}

/// The server loop. Runs at the main guard of the exec'd server process (or in its bootstrap hook
/// under a test harness). Returns only in a forked child, with the handover the child needs; the
/// server itself exits when the parent's end of `control` closes.
///
/// The server is single-threaded unless the program started threads before its guard (then
/// forking from it has the hazards of `fork`, as in CPython's forkserver).
pub(crate) fn serve(control: OwnedFd) -> Handover {
    // What `main` printed before the guard must not be printed again by every child.
    sys::flush_std_streams();
    // What every child would otherwise set up for itself on the way to its target, done once
    // here and inherited: the panic hook, and this thread's handle and thread-local destructor
    // list (each a heap write, so a copy-on-write fault, in every child).
    bootstrap::install_panic_hook();
    bootstrap::remember_server_dir();
    let _ = std::thread::current();
    crate::wire::receive_fds(Vec::new());
    match serve_inner(control) {
        Ok(handover) => handover,
        Err(err) => {
            eprintln!("multiprocessing: the forkserver failed: {err}");
            // SAFETY: ending this process immediately is the intent.
            unsafe { libc::_exit(1) }
        }
    }
}

fn serve_inner(control: OwnedFd) -> io::Result<Handover> {
    let exits = child_exits::ChildExits::new()?;

    // Each running child's status socket, by pid.
    let mut children: HashMap<i32, OwnedFd> = HashMap::new();
    // The next child, forked ahead of its request (see `Spare`).
    let mut spare: Option<Spare> = None;
    loop {
        if spare.is_none() {
            match Spare::fork() {
                Forked::Server(forked) => spare = forked,
                Forked::Spare(requests) => {
                    leave_server(control, exits, &mut children);
                    return Ok(Spare::take_request(requests));
                }
            }
        }
        let mut fds = [
            nix::poll::PollFd::new(control.as_fd(), nix::poll::PollFlags::POLLIN),
            nix::poll::PollFd::new(exits.fd(), nix::poll::PollFlags::POLLIN),
        ];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
        let control_ready = fds[0].any().unwrap_or(false);
        let wake_ready = fds[1].any().unwrap_or(false);
        // The request first: the parent's `start` waits for its fork, a `join` only for a child
        // that has already ended.
        if control_ready {
            let Some((prep, mut handed)) = recv_request(control.as_fd())? else {
                // The parent is gone. Children already started run on, as CPython's do; the
                // spare, which is no one's child yet, ends with the server.
                if let Some(spare) = spare.take() {
                    spare.dismiss();
                }
                // SAFETY: ending the server is the intent; nothing is left to flush.
                unsafe { libc::_exit(0) }
            };
            // A malformed request, with no status socket to answer on, is dropped.
            if handed.is_empty() {
                continue;
            }
            // The spare takes the request; if it is gone (killed), a child is forked for it.
            if let Some(ready) = spare.take() {
                let raw: Vec<RawFd> = handed.iter().map(AsRawFd::as_raw_fd).collect();
                if send_request(ready.requests.as_fd(), &prep, &raw).is_ok() {
                    let status = handed.swap_remove(0);
                    let started = Status::Started(ready.pid.as_raw()).encode();
                    if sys::write_all(status.as_fd(), &started).is_ok() {
                        children.insert(ready.pid.as_raw(), status);
                    }
                    continue;
                }
            }
            let status = handed.remove(0);
            // SAFETY: the server is single-threaded, so the child may run any code; what it
            // does before returning is listed at the `Child` arm.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    leave_server(control, exits, &mut children);
                    // The status socket is the server's: see `Spare::fork`.
                    drop(status);
                    return Ok(Handover::forkserver(prep, handed));
                }
                Ok(ForkResult::Parent { child }) => {
                    let started = Status::Started(child.as_raw()).encode();
                    if sys::write_all(status.as_fd(), &started).is_ok() {
                        children.insert(child.as_raw(), status);
                    }
                }
                Err(errno) => {
                    let failed = Status::ForkFailed(errno as i32).encode();
                    let _ = sys::write_all(status.as_fd(), &failed);
                }
            }
        }
        // A child that ended before it was in the table is reaped too: its SIGCHLD leaves the
        // descriptor readable until it is drained here, after the insertion.
        if wake_ready {
            exits.drain();
            reap(&mut children);
        }
    }
}

/// The next child, forked before anyone asked for it, and waiting for its request.
///
/// A start then costs the parent a hand-over, not a `fork`: the server passes the request on to
/// the spare, which becomes the child at once, and forks the next spare while the child runs
/// (on another core, where there is one). Nothing of the server's state changes between requests,
/// so a child forked ahead is the same as one forked on demand; until its request it is no
/// one's child (no `Process` has its pid), and it ends when the server does.
struct Spare {
    pid: Pid,
    /// The server's end of the socket the request is passed on through.
    requests: OwnedFd,
}

enum Forked {
    /// In the server: the spare, or `None` if it could not be forked (children are then forked
    /// on demand, and a failing `fork` is reported to the `start` that needed it).
    Server(Option<Spare>),
    /// In the spare: its end of the socket its request will come through.
    Spare(OwnedFd),
}

impl Spare {
    fn fork() -> Forked {
        let Ok((requests, spare_end)) = sys::socketpair() else {
            return Forked::Server(None);
        };
        // SAFETY: the server is single-threaded, so the child may run any code; what it does
        // is `leave_server` and `take_request`.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => Forked::Spare(spare_end),
            Ok(ForkResult::Parent { child }) => Forked::Server(Some(Spare {
                pid: child,
                requests,
            })),
            Err(_) => Forked::Server(None),
        }
    }

    /// In the spare, once it has left the server: waits for its request and becomes that child.
    fn take_request(requests: OwnedFd) -> Handover {
        match recv_request(requests.as_fd()) {
            Ok(Some((prep, mut handed))) if !handed.is_empty() => {
                // The status socket is the server's: the child's exit code is reported after
                // the server has reaped it, so `join` returns once the child is gone,
                // descriptors and all, as in CPython.
                drop(handed.remove(0));
                Handover::forkserver(prep, handed)
            }
            // The server ended, or dismissed this spare: nothing ran here.
            // SAFETY: ending this process at once is the intent.
            _ => unsafe { libc::_exit(0) },
        }
    }

    /// Ends the spare (it reads end-of-file and exits) and reaps it, so it never outlives the
    /// server.
    fn dismiss(self) {
        drop(self.requests);
        let _ = waitpid(self.pid, None);
    }
}

/// In a child just forked from the server: back to a plain process. `SIGCHLD` as before the
/// server, and no descriptor of the server's: its control socket and the other children's
/// status sockets are closed. Its stdin is the server's, already `/dev/null` (see
/// `spawn::spawn_program`), so it is not opened again.
fn leave_server(
    control: OwnedFd,
    exits: child_exits::ChildExits,
    children: &mut HashMap<i32, OwnedFd>,
) {
    exits.leave();
    drop(control);
    children.clear();
}

/// Reports every ended child's exit code on its status socket.
fn reap(children: &mut HashMap<i32, OwnedFd>) {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(status) => {
                let (Some(pid), Some(code)) = (status.pid(), popen::exit_code(status)) else {
                    continue;
                };
                if let Some(socket) = children.remove(&pid.as_raw()) {
                    let _ = sys::write_all(socket.as_fd(), &Status::Exited(code).encode());
                }
            }
        }
    }
}
