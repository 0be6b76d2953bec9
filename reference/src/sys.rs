//! Small, careful wrappers over the system calls the start methods share.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::wire;

/// Writes all of `bytes`, retrying on `EINTR` and short writes. Uses `send(MSG_NOSIGNAL)` on
/// sockets so a vanished reader is `EPIPE`, never a `SIGPIPE` (the forkserver runs before Rust's
/// runtime has set `SIGPIPE` to ignored).
pub(crate) fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid buffer of `bytes.len()` bytes; `fd` is open for the call.
        let n = unsafe {
            libc::send(
                fd.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                send_flags(),
            )
        };
        let n = if n < 0 && Errno::last() == Errno::ENOTSOCK {
            // SAFETY: as above; `fd` is not a socket, so plain `write`.
            unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) }
        } else {
            n
        };
        match n {
            n if n > 0 => bytes = &bytes[n as usize..],
            0 => return Err(io::ErrorKind::WriteZero.into()),
            _ if Errno::last() == Errno::EINTR => {}
            _ => return Err(io::Error::last_os_error()),
        }
    }
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_flags() -> libc::c_int {
    libc::MSG_NOSIGNAL
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_flags() -> libc::c_int {
    0
}

/// A close-on-exec pipe (read end, write end); with `nonblocking`, both ends are non-blocking.
/// `pipe2` where the OS has it; elsewhere (macOS) `pipe` then `fcntl`, which a concurrent `fork`
/// elsewhere in the program could observe before close-on-exec is set.
pub(crate) fn pipe(nonblocking: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    #[cfg(not(any(target_os = "macos", target_os = "ios")))]
    {
        use nix::fcntl::OFlag;
        let mut flags = OFlag::O_CLOEXEC;
        if nonblocking {
            flags |= OFlag::O_NONBLOCK;
        }
        Ok(nix::unistd::pipe2(flags)?)
    }
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let (read, write) = nix::unistd::pipe()?;
        for end in [&read, &write] {
            set_cloexec(end.as_raw_fd(), true)?;
            if nonblocking {
                fcntl(end, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
            }
        }
        Ok((read, write))
    }
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` if the peer closed before the first byte.
pub(crate) fn read_exact(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<bool> {
    let mut done = 0;
    while done < buf.len() {
        match nix::unistd::read(fd, &mut buf[done..]) {
            Ok(0) if done == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => done += n,
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
    }
    Ok(true)
}

pub(crate) use crate::wire::MAX_FRAME;

/// Writes a frame ([`wire::write_frame_to`]) to a pipe or socket.
pub(crate) fn write_frame(fd: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<()> {
    wire::write_frame_to(&mut FdStream(fd), bytes)
}

/// Reads a frame ([`wire::read_frame_from`]); `Ok(None)` at a clean end of stream.
pub(crate) fn read_frame(fd: BorrowedFd<'_>) -> io::Result<Option<Vec<u8>>> {
    wire::read_frame_from(&mut FdStream(fd))
}

/// A borrowed descriptor as `Read` and `Write`: [`write_all`]'s `MSG_NOSIGNAL` writes and
/// `EINTR`-retrying reads.
struct FdStream<'fd>(BorrowedFd<'fd>);

impl io::Read for FdStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match nix::unistd::read(self.0, buf) {
                Err(Errno::EINTR) => continue,
                result => return Ok(result?),
            }
        }
    }
}

impl io::Write for FdStream<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_all(self.0, buf).map(|()| buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Waits until `fd` is readable (or hung up); `timeout` `None` waits forever. Returns whether it
/// became ready.
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let remaining = match deadline {
            None => PollTimeout::NONE,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                // Round up so a short timeout still sleeps rather than spinning.
                let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, remaining) {
            Ok(0) if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(false),
            Ok(0) => {}
            Ok(_) => return Ok(true),
            Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
    }
}

/// How long a waiter polls without sleeping when its answer is due within that time. Waking a
/// sleeping process on another CPU costs tens of microseconds on a virtual machine (an idle vCPU
/// halts), more than a whole round trip through a process that is already running.
pub(crate) const SPIN: Duration = Duration::from_micros(200);

/// Whether spinning can pay: another CPU can run the process this one waits for (with one CPU,
/// a spinning waiter only delays it).
pub(crate) fn can_spin() -> bool {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get())) > 1
}

/// Polls `fds` without sleeping (yielding the CPU between polls) until one is ready or `budget`
/// has passed; whether one is. Returns `false` at once where spinning cannot pay.
pub(crate) fn spin_poll(fds: &mut [libc::pollfd], budget: Duration) -> bool {
    if !can_spin() {
        return false;
    }
    let until = Instant::now() + budget;
    loop {
        // SAFETY: `fds` is a valid array of pollfd for the length given; a timeout of 0 never
        // sleeps.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) } > 0 {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::yield_now();
    }
}

/// [`spin_poll`] for one descriptor's readability (or hang-up), for [`SPIN`].
pub(crate) fn spin_readable(fd: BorrowedFd<'_>) -> bool {
    spin_poll(&mut [wait_for(fd.as_raw_fd())], SPIN)
}

/// A poll entry that waits for `fd` to be readable (or hung up); `-1` is ignored by `poll`.
pub(crate) fn wait_for(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Whether the peer of the socket `fd` has closed its end (`POLLHUP` now, without waiting).
pub(crate) fn hung_up(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::empty())];
    matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
        && fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR))
}

/// Opens `/dev/null` read-only and close-on-exec, for [`stdin_from`] in a `fork` child: the
/// parent opens it before `fork()`, where the path is cheap to resolve, instead of the child
/// (an `open` in a fresh child also faults in the page of the path literal). `None` if it
/// cannot be opened: the child then keeps its stdin, as it would if it opened it itself.
pub(crate) fn open_dev_null() -> Option<OwnedFd> {
    // SAFETY: a NUL-terminated literal path; the new descriptor is owned by the OwnedFd.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    (fd >= 0).then(|| unsafe { adopt(fd) })
}

/// Makes `dev_null` (from [`open_dev_null`]) fd 0, as CPython's child bootstrap does for `stdin`,
/// and closes `dev_null` (it is consumed). When it already is fd 0 (the parent had no fd 0) it
/// stays there, close-on-exec.
///
/// Async-signal-safe: only `dup2` and `close`, no allocation.
pub(crate) fn stdin_from(dev_null: Option<OwnedFd>) {
    use std::os::fd::IntoRawFd;
    let Some(fd) = dev_null.map(IntoRawFd::into_raw_fd) else {
        return;
    };
    if fd > 0 {
        // SAFETY: plain fd syscalls with no memory handed over; `fd` is ours to close.
        unsafe {
            libc::dup2(fd, 0);
            libc::close(fd);
        }
    }
}

/// Sets or clears `FD_CLOEXEC`.
pub(crate) fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    let flags = if on { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: fcntl(F_SETFD) on a descriptor number: EBADF if it is not open.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_SETFD, flags) })?;
    Ok(())
}

/// `fstat` of a descriptor number that may not be open (nix wants an open descriptor):
/// `EBADF` if it is not.
pub(crate) fn fstat_raw(fd: RawFd) -> nix::Result<libc::stat> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat reads the descriptor number (EBADF if not open) and fills `stat`.
    Errno::result(unsafe { libc::fstat(fd, stat.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so it initialized `stat`.
    Ok(unsafe { stat.assume_init() })
}

/// Whether descriptor number `fd` is open: `EBADF` if it is not.
pub(crate) fn check_open(fd: RawFd) -> nix::Result<()> {
    // SAFETY: fcntl(F_GETFD) only reads the descriptor's flags.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_GETFD) }).map(drop)
}

/// A connected `AF_UNIX` stream socket pair, both ends close-on-exec.
pub(crate) fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockType};
    let flags = cloexec_sock_flag();
    let (a, b) = socketpair(AddressFamily::Unix, SockType::Stream, None, flags)?;
    if flags.is_empty() {
        set_cloexec(a.as_raw_fd(), true)?;
        set_cloexec(b.as_raw_fd(), true)?;
    }
    Ok((a, b))
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn cloexec_sock_flag() -> nix::sys::socket::SockFlag {
    nix::sys::socket::SockFlag::SOCK_CLOEXEC
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn cloexec_sock_flag() -> nix::sys::socket::SockFlag {
    nix::sys::socket::SockFlag::empty()
}

/// Takes ownership of an inherited descriptor number.
///
/// # Safety
/// `fd` must be open and owned by nobody else in this process.
pub(crate) unsafe fn adopt(fd: RawFd) -> OwnedFd {
    // SAFETY: guaranteed by the caller.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The number of threads in this process, if the platform tells.
pub(crate) fn thread_count() -> Option<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // This runs on every fork start, so it is one stat(): /proc/self/task holds one
        // directory per thread, so its link count is 2 + the number of threads. That costs a
        // quarter of reading /proc/self/stat (2 µs against 9 µs for open, read and close, on
        // the VM of `cargo xtask bench`), which stays as the fallback for a procfs that does not
        // count links that way.
        let mut task = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: a NUL-terminated literal path; `task` is written by a successful stat().
        if unsafe { libc::stat(c"/proc/self/task".as_ptr(), task.as_mut_ptr()) } == 0 {
            // SAFETY: stat() succeeded, so it filled `task`.
            let links = unsafe { task.assume_init() }.st_nlink;
            if links > 2 {
                return usize::try_from(links - 2).ok();
            }
        }
        // Field 20 of /proc/self/stat, read into a stack buffer.
        let mut buf = [0u8; 1024];
        // SAFETY: a NUL-terminated literal path; `buf` is valid for `buf.len()` bytes; the
        // descriptor is closed before returning.
        let n = unsafe {
            let fd = libc::open(
                c"/proc/self/stat".as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            );
            if fd < 0 {
                return None;
            }
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            libc::close(fd);
            n
        };
        let text = buf.get(..usize::try_from(n).ok()?)?;
        // The command name (field 2) may contain spaces; count fields after its closing ')'.
        let after_comm = &text[text.iter().rposition(|&b| b == b')')? + 1..];
        let field = after_comm
            .split(|&b| b == b' ')
            .filter(|f| !f.is_empty())
            .nth(17)?;
        std::str::from_utf8(field).ok()?.parse().ok()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        None
    }
}

pub(crate) use crate::exit::flush_std_streams;

// ---------------------------------------------------------------------------------------------
// Helpers for the shared-memory IPC (`shared`, `sync`, `resource_tracker`).

/// Fills `buf` with random bytes from the OS (for generated shared-memory names).
pub(crate) fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut done = 0;
        while done < buf.len() {
            // SAFETY: `buf[done..]` is valid for writes of its length.
            let n =
                unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
            match n {
                n if n > 0 => done += n as usize,
                _ if Errno::last() == Errno::EINTR => {}
                _ => return Err(io::Error::last_os_error()),
            }
        }
        Ok(())
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // SAFETY: `buf` is valid for writes of its length; arc4random_buf cannot fail.
        unsafe { libc::arc4random_buf(buf.as_mut_ptr().cast(), buf.len()) };
        Ok(())
    }
}

/// What remains of `deadline`, or `None` for "forever".
pub(crate) fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// `now + timeout`, or `None` when that is beyond what `Instant` can represent (forever).
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Blocks while `*word == expected`, at most `timeout` (`None`: no limit), on a word that may be
/// shared between processes (no `FUTEX_PRIVATE_FLAG`). Returns on a wake-up, a timeout, a signal,
/// or at once when the word differs; callers re-check their condition in a loop, so the reason
/// does not matter.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn futex_wait(
    word: &std::sync::atomic::AtomicU32,
    expected: u32,
    timeout: Option<Duration>,
) {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |ts| ts as *const libc::timespec);
    // SAFETY: `word` is a valid, aligned 32-bit atomic for the duration of the call; `ts_ptr` is
    // null or points to a live timespec. FUTEX_WAIT only reads the word.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wakes at most `n` threads blocked in [`futex_wait`] on `word`, in any process.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn futex_wake(word: &std::sync::atomic::AtomicU32, n: u32) {
    // SAFETY: `word` is a valid, aligned 32-bit atomic; FUTEX_WAKE does not access memory
    // through the other arguments.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n.min(i32::MAX as u32) as i32,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

// macOS has no futex. `__ulock_wait`/`__ulock_wake` with `UL_COMPARE_AND_WAIT_SHARED` are what
// libc++'s `std::atomic::wait` uses there; they are not in a public header. This fallback is
// not compiled in this project's CI (Linux only).
#[cfg(target_os = "macos")]
mod ulock {
    pub(super) const UL_COMPARE_AND_WAIT_SHARED: u32 = 3;
    pub(super) const ULF_WAKE_ALL: u32 = 0x0000_0100;
    pub(super) const ULF_NO_ERRNO: u32 = 0x0100_0000;
    extern "C" {
        pub(super) fn __ulock_wait(
            operation: u32,
            addr: *mut libc::c_void,
            value: u64,
            timeout_us: u32,
        ) -> libc::c_int;
        pub(super) fn __ulock_wake(
            operation: u32,
            addr: *mut libc::c_void,
            wake_value: u64,
        ) -> libc::c_int;
    }
}

/// macOS: see [`ulock`]. A timeout of 0 means "forever" to `__ulock_wait`, so a zero timeout
/// returns at once instead.
#[cfg(target_os = "macos")]
pub(crate) fn futex_wait(
    word: &std::sync::atomic::AtomicU32,
    expected: u32,
    timeout: Option<Duration>,
) {
    let us = match timeout {
        None => 0,
        Some(t) if t.is_zero() => return,
        Some(t) => t.as_micros().clamp(1, u32::MAX as u128) as u32,
    };
    // SAFETY: `word` is a valid, aligned 32-bit atomic for the duration of the call.
    unsafe {
        ulock::__ulock_wait(
            ulock::UL_COMPARE_AND_WAIT_SHARED | ulock::ULF_NO_ERRNO,
            word.as_ptr().cast(),
            expected as u64,
            us,
        )
    };
}

/// macOS: see [`ulock`]. Wakes one waiter, or all when `n > 1`.
#[cfg(target_os = "macos")]
pub(crate) fn futex_wake(word: &std::sync::atomic::AtomicU32, n: u32) {
    let all = if n > 1 { ulock::ULF_WAKE_ALL } else { 0 };
    // SAFETY: `word` is a valid, aligned 32-bit atomic.
    unsafe {
        ulock::__ulock_wake(
            ulock::UL_COMPARE_AND_WAIT_SHARED | ulock::ULF_NO_ERRNO | all,
            word.as_ptr().cast(),
            0,
        )
    };
}

/// A descriptor that becomes readable when process `pid` ends (`pidfd_open`, Linux 5.3 and
/// later); `None` where there is none.
#[cfg(target_os = "linux")]
pub(crate) fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags (none) and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a non-negative return is a descriptor this process now owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A descriptor that becomes readable when process `pid` ends; `None` where there is none.
#[cfg(not(target_os = "linux"))]
pub(crate) fn pidfd_open(_pid: libc::pid_t) -> Option<OwnedFd> {
    None
}

#[cfg(test)]
mod tests {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn counts_threads() {
        use std::sync::{Arc, Barrier};
        let barrier = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait(); // started
                    barrier.wait(); // counted
                })
            })
            .collect();
        barrier.wait();
        // The test harness's other threads come and go: at least this one and ours are there.
        assert!(super::thread_count().expect("a count") >= 4);
        barrier.wait();
        for t in threads {
            t.join().unwrap();
        }
    }
}
