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
//! The parent and the server share one private `AF_UNIX` socket pair, the *control socket*,
//! created before the server exists, so no other process can connect, and no authentication key
//! is needed (CPython listens on a named socket and authenticates with HMAC). A request is a frame
//! of preparation data with, as `SCM_RIGHTS`, the write end of a fresh *status pipe* and the
//! descriptors the child is handed. The child's pid, and later its exit code, come back on that
//! pipe; the parent keeps its read end as the child's sentinel. (A pipe, not a socket: a socket
//! in flight through `SCM_RIGHTS` makes the kernel schedule its garbage collector of such
//! sockets, a wake-up of a kernel thread.) When the parent ends, even by `SIGKILL`, its end of the control
//! socket closes and the server exits at once: it never outlives the program that started it.
//!
//! The server forks each child ahead of its request: a *spare*, already forked, reads the next
//! request from the control socket itself, hands its status pipe to the server, writes its pid
//! and becomes the child; a second spare waits on deck to take over from it (see `Spare`). So a
//! `start` costs one hand-over between two running processes, not a `fork` and not a hop through
//! the server. The exit code is written by the server once it has reaped the child, so a `join`
//! returns once the child is gone, descriptors and all, as in CPython. The spares are the only
//! difference anyone can see: up to two idle processes, the server's children, that are no
//! `Process` and end with the server.

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

/// How long [`forget_if_gone`] gives a dead server's spares to end.
const GONE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

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

/// A message on a child's status pipe: a tag byte and a little-endian `i32`.
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
    let (status, status_for_server) = sys::pipe(false).map_err(|e| Error::os("pipe", e))?;
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
    // The spare writes its pid as it takes the request, before it runs anything; the server
    // writes it right after a fork on demand.
    sys::spin_readable(status.as_fd());
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
                io::Error::other(
                    "the forkserver closed the status pipe without starting the child",
                ),
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
/// closes that end as it exits; its spares, which hold copies of it, end as soon as they see the
/// server gone. So a status pipe at end-of-file finds the control socket hung up here at once,
/// or within [`GONE_WAIT`] (a spare ending); otherwise the server is still there.
fn forget_if_gone(slot: &mut Option<Server>) -> Option<Error> {
    let server = slot.as_ref()?;
    if server.owner != std::process::id() {
        return None;
    }
    let deadline = std::time::Instant::now() + GONE_WAIT;
    while !sys::hung_up(server.control.as_fd()) {
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
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
        /// The signal mask before `SIGCHLD` and `SIGPIPE` were blocked: a forked child's. (A
        /// status pipe whose reader has gone is `EPIPE` for the server, not its end.)
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
            let mut blocked = set;
            // SAFETY: adds a valid signal to an initialized set.
            unsafe { libc::sigaddset(&mut blocked, libc::SIGPIPE) };
            // SAFETY: a zeroed sigset_t is a valid out-parameter; the server is one thread.
            let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
            // SAFETY: valid pointers to initialized sets.
            let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &blocked, &mut previous) };
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

    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

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
        /// The signal mask before `SIGPIPE` was blocked: a forked child's.
        previous: libc::sigset_t,
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
            // A status pipe whose reader has gone is `EPIPE` for the server, not its end.
            // SAFETY: sigemptyset/sigaddset initialize the set they are given; a zeroed sigset_t
            // is a valid out-parameter; the server is one thread.
            let previous = unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGPIPE);
                let mut previous: libc::sigset_t = std::mem::zeroed();
                let r = libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous);
                if r != 0 {
                    return Err(io::Error::from_raw_os_error(r));
                }
                previous
            };
            Ok(ChildExits {
                read,
                _write: write,
                previous,
            })
        }

        pub(super) fn fd(&self) -> BorrowedFd<'_> {
            self.read.as_fd()
        }

        /// Empties the pipe; a `SIGCHLD` after it makes it readable again.
        pub(super) fn drain(&self) {
            let mut sink = [0u8; 64];
            while matches!(nix::unistd::read(&self.read, &mut sink), Ok(n) if n == sink.len()) {}
        }

        /// In a forked child: the default `SIGCHLD` disposition, the pipe closed (`sigaction`
        /// and `close`).
        pub(super) fn leave(self) {
            let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
            // SAFETY: restoring the default disposition.
            let _ = unsafe { sigaction(Signal::SIGCHLD, &default) };
            // SAFETY: restores a mask that pthread_sigmask filled in.
            unsafe {
                libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut())
            };
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

    // Each running child's status pipe, by pid.
    let mut children: HashMap<i32, OwnedFd> = HashMap::new();
    // The spare that reads the next request, and the one that takes over from it (see `Spare`).
    let mut active: Option<Spare> = None;
    let mut on_deck: Option<Spare> = None;
    loop {
        if active.is_none() {
            active = match on_deck.take() {
                Some(next) => next.go(),
                None => match Spare::fork(Role::Active) {
                    Forked::Server(forked) => forked,
                    Forked::Spare(server, role) => {
                        children.clear();
                        return Ok(Spare::take_request(control, server, role, exits));
                    }
                },
            };
        }
        // The spare on deck is forked only while no child runs, so that its fork never delays
        // the report of a child's end, and once the active spare reads the control socket, so
        // that the fork does not keep it from the CPU it was woken on.
        if on_deck.is_none() && children.is_empty() && active.as_ref().is_some_and(|a| a.reading) {
            // The active spare may still be runnable on this CPU (the server's wake-up, by its
            // "active", preempted it before it slept in `poll`): let it get there first.
            std::thread::yield_now();
            match Spare::fork(Role::OnDeck) {
                Forked::Server(forked) => on_deck = forked,
                Forked::Spare(server, role) => {
                    drop(active.take().map(|active| active.server));
                    children.clear();
                    return Ok(Spare::take_request(control, server, role, exits));
                }
            }
        }
        // While a spare is active, it reads the next request itself: the server watches the
        // control socket only for the parent's hang-up (no POLLIN, so a request does not wake
        // it), and the spares' sockets for a hand-over or an end.
        let control_events = match active {
            Some(_) => 0,
            None => libc::POLLIN,
        };
        // `-1`, where there is no such spare, is ignored by `poll`.
        let spare_fd = |spare: &Option<Spare>| spare.as_ref().map_or(-1, |s| s.server.as_raw_fd());
        let mut fds = [
            libc::pollfd {
                fd: control.as_raw_fd(),
                events: control_events,
                revents: 0,
            },
            sys::wait_for(exits.fd().as_raw_fd()),
            sys::wait_for(spare_fd(&active)),
            sys::wait_for(spare_fd(&on_deck)),
        ];
        // SAFETY: `fds` is a valid array of pollfd for the length given.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) } < 0 {
            match io::Error::last_os_error() {
                err if err.kind() == io::ErrorKind::Interrupted => continue,
                err => return Err(err),
            }
        }
        let [control_ready, wake_ready, active_ready, on_deck_ready] = fds.map(|fd| fd.revents);
        // The hand-over first: a child that has already ended handed its status pipe over
        // before it ran, so its exit is reported below, in this same round.
        if active_ready != 0 {
            if let Some(mut ready) = active.take() {
                match ready.said() {
                    Said::Active => {
                        ready.reading = true;
                        active = Some(ready);
                    }
                    Said::Child(status) => {
                        children.insert(ready.pid.as_raw(), status);
                        // The spare on deck goes on at once, before any reaping.
                        active = on_deck.take().and_then(Spare::go);
                    }
                    // The spare ended (killed) without taking a request: reaped, and replaced.
                    Said::Ended => ready.dismiss(),
                }
            }
        }
        // A spare on deck only ever writes by ending.
        if on_deck_ready != 0 {
            if let Some(ended) = on_deck.take() {
                ended.dismiss();
            }
        }
        if active.is_some() && control_ready & (libc::POLLHUP | libc::POLLERR) != 0 {
            // The parent is gone. Children already started run on, as CPython's do; the
            // spares, which are no one's children yet, end with the server.
            for spare in [active.take(), on_deck.take()].into_iter().flatten() {
                spare.dismiss();
            }
            // SAFETY: ending the server is the intent; nothing is left to flush.
            unsafe { libc::_exit(0) }
        }
        // Without a spare (none could be forked), the server reads the request and forks for it.
        if active.is_none() && control_ready & libc::POLLIN != 0 {
            let Some((prep, mut handed)) = recv_request(control.as_fd())? else {
                // SAFETY: the parent is gone (as above); ending the server is the intent.
                unsafe { libc::_exit(0) }
            };
            // A malformed request, with no status pipe to answer on, is dropped.
            if handed.is_empty() {
                continue;
            }
            let status = handed.remove(0);
            // SAFETY: the server is single-threaded, so the child may run any code; what it
            // does before returning is listed at the `Child` arm.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    drop(on_deck.take().map(|spare| spare.server));
                    leave_server(control, exits, &mut children);
                    // The status pipe is the server's: see `Spare::take_request`.
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
        if wake_ready != 0 {
            exits.drain();
            reap(&mut children, [&mut active, &mut on_deck]);
        }
    }
}

/// A child forked before anyone asked for it, waiting for its request.
///
/// A start then costs the parent neither a `fork` nor a hop through the server: the *active*
/// spare reads the request from the control socket itself (the server does not, while one is
/// active), hands its status pipe over to the server, reports its pid to the parent and becomes
/// the child. Only one process reads the control socket at any time: requests sent while there
/// is no active spare wait in it. A second spare waits *on deck*: when the active one becomes a
/// child, the server tells it to go on, so the next request finds a spare already running, and
/// forks a new spare on deck once no child runs (a `fork` keeps the server from reporting a
/// child's end while it lasts). Nothing of the server's state changes between requests, so a
/// child forked ahead is the same as one forked on demand; until its request a spare is no one's
/// child (no `Process` has its pid), and it ends when the server does.
struct Spare {
    pid: Pid,
    /// Whether it has said it is active (see `Said::Active`).
    reading: bool,
    /// The server's end of the socket between them: the server's "go on" to a spare on deck,
    /// the active spare's hand-over, and each side's end.
    server: OwnedFd,
}

/// What a spare tells the server.
enum Said {
    /// It is active: it reads the control socket.
    Active,
    /// It took a request and became the child: its status pipe.
    Child(OwnedFd),
    /// It ended without a request.
    Ended,
}

/// What a spare does first.
#[derive(Clone, Copy)]
enum Role {
    /// Reads the next request from the control socket.
    Active,
    /// Waits for the server's "go on", then is active.
    OnDeck,
}

enum Forked {
    /// In the server: the spare, or `None` if it could not be forked (children are then forked
    /// on demand, and a failing `fork` is reported to the `start` that needed it).
    Server(Option<Spare>),
    /// In the spare: its end of the socket to the server, and its role.
    Spare(OwnedFd, Role),
}

impl Spare {
    fn fork(role: Role) -> Forked {
        let Ok((server, spare_end)) = sys::socketpair() else {
            return Forked::Server(None);
        };
        // SAFETY: the server is single-threaded, so the child may run any code; what it does
        // is `take_request`.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => Forked::Spare(spare_end, role),
            Ok(ForkResult::Parent { child }) => Forked::Server(Some(Spare {
                pid: child,
                reading: false,
                server,
            })),
            Err(_) => Forked::Server(None),
        }
    }

    /// In the server: makes a spare on deck the active one; `None` if it has gone.
    fn go(self) -> Option<Spare> {
        if sys::write_all(self.server.as_fd(), b"g").is_ok() {
            Some(self)
        } else {
            self.dismiss();
            None
        }
    }

    /// In the server, when the spare's socket is ready: what the spare said.
    fn said(&self) -> Said {
        match recv_request(self.server.as_fd()) {
            Ok(Some((_, handed))) if handed.is_empty() => Said::Active,
            Ok(Some((_, mut handed))) if handed.len() == 1 => {
                handed.pop().map_or(Said::Ended, Said::Child)
            }
            _ => Said::Ended,
        }
    }

    /// In the server, once the spare has ended: the status pipe of the child it had become,
    /// or `None` if it ended without a request.
    fn handed_over(&self) -> Option<OwnedFd> {
        loop {
            match self.said() {
                Said::Active => continue,
                Said::Child(status) => return Some(status),
                Said::Ended => return None,
            }
        }
    }

    /// In the spare, once forked: waits for its request on the control socket and becomes that
    /// child. Ends at once, running nothing, if the server's end of `server` closes first (the
    /// server ended, or dismissed this spare) or the parent has gone.
    fn take_request(
        control: OwnedFd,
        server: OwnedFd,
        role: Role,
        exits: child_exits::ChildExits,
    ) -> Handover {
        if let Role::OnDeck = role {
            let mut go = [0u8];
            if !sys::read_exact(server.as_fd(), &mut go).unwrap_or(false) {
                // SAFETY: the server ended, or dismissed this spare: nothing ran here.
                unsafe { libc::_exit(0) }
            }
        }
        // "Active": a frame with no descriptors.
        if sys::write_all(server.as_fd(), &0u32.to_le_bytes()).is_err() {
            // SAFETY: as above.
            unsafe { libc::_exit(0) }
        }
        loop {
            let mut fds = [
                nix::poll::PollFd::new(control.as_fd(), nix::poll::PollFlags::POLLIN),
                nix::poll::PollFd::new(server.as_fd(), nix::poll::PollFlags::empty()),
            ];
            match nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
                Ok(_) => {}
            }
            if fds[1].any().unwrap_or(true) {
                break; // the server's end closed
            }
            match recv_request(control.as_fd()) {
                Ok(Some((prep, mut handed))) if !handed.is_empty() => {
                    let status = handed.remove(0);
                    // The server first: it reports the child's exit code on the status pipe
                    // once it has reaped it, so `join` returns once the child is gone,
                    // descriptors and all, as in CPython. Then the parent, which waits for the
                    // pid. A server that cannot take the pipe is gone: the parent finds the
                    // pipe closed without a pid, and nothing ran.
                    if send_request(server.as_fd(), &[], &[status.as_raw_fd()]).is_err() {
                        break;
                    }
                    let started = Status::Started(std::process::id() as i32).encode();
                    if sys::write_all(status.as_fd(), &started).is_err() {
                        break; // the parent is gone
                    }
                    drop((status, server, control));
                    exits.leave();
                    return Handover::forkserver(prep, handed);
                }
                // A malformed request, with no status pipe to answer on, is dropped.
                Ok(Some(_)) => continue,
                // The parent has gone (or the socket failed): nothing ran here.
                _ => break,
            }
        }
        // SAFETY: ending this process at once is the intent.
        unsafe { libc::_exit(0) }
    }

    /// Ends the spare (it finds the server's end closed and exits) and reaps it, so it never
    /// outlives the server.
    fn dismiss(self) {
        drop(self.server);
        let _ = waitpid(self.pid, None);
    }
}

/// In a child just forked from the server: back to a plain process. `SIGCHLD` as before the
/// server, and no descriptor of the server's: its control socket and the other children's
/// status pipes are closed. Its stdin is the server's, already `/dev/null` (see
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

/// Reports every ended child's exit code on its status pipe. The spare may be among them: it
/// can take a request, hand its status pipe over, run and end between the server's `poll` and
/// this, so its hand-over is read here (a spare that ended has either made it or never will).
fn reap(children: &mut HashMap<i32, OwnedFd>, spares: [&mut Option<Spare>; 2]) {
    let [active, on_deck] = spares;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(status) => {
                let (Some(pid), Some(code)) = (status.pid(), popen::exit_code(status)) else {
                    continue;
                };
                // A spare on deck that ended took no request.
                drop(on_deck.take_if(|spare| spare.pid == pid));
                let status = match active.take_if(|spare| spare.pid == pid) {
                    Some(ended) => ended.handed_over(),
                    None => children.remove(&pid.as_raw()),
                };
                if let Some(status) = status {
                    let _ = sys::write_all(status.as_fd(), &Status::Exited(code).encode());
                }
            }
        }
    }
}
