//! The raw OS primitives under each figure of `cargo xtask bench`, written against `nix` and
//! `libc` with no library layer: the floor the reference is measured against.
//!
//! | figure | the primitive |
//! | --- | --- |
//! | `start-join` fork, forkserver | `fork`; the child `_exit(0)`s; `waitpid` |
//! | `start-join` spawn | `posix_spawn` of the reference's executable (`--exe`), told to exit at once (an environment variable it checks first thing in `main`); `waitpid` |
//! | `start-join-first` | both: the `posix_spawn` a first forkserver start needs for the server, then a `fork` |
//! | `start-join-16` | `N` of the above, then `N` `waitpid`s |
//! | `child-rss` | such a child reports its `VmHWM` on a pipe |
//! | `queue-throughput` | one 8-byte `write` to a pipe per item; the reader reads whatever is there |
//! | `send-bytes-1mib` | 1 MiB `write`s to a `socketpair` (`AF_UNIX` stream) |
//! | `roundtrip-*` | a 1-byte `write` and `read` each way over two pipes |
//! | `value-increments` | a process-shared `pthread` mutex and a `u64` in a shared mapping |
//! | `shm-write` | `memcpy` into a `shm_open` mapping |

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::ptr::NonNull;
use std::time::Instant;

use bench_subjects::{
    collect, fork_now, in_child, monotonic_ns, pin, seconds, wait_ok, Args, Method, Result,
    EXIT_AT_ONCE, INCREMENTERS, MIB,
};
use nix::unistd::{fork, read, write, ForkResult, Pid};

fn main() -> ExitCode {
    bench_subjects::main(measure)
}

fn measure(args: &Args) -> Result<Vec<f64>> {
    match (args.figure.as_str(), args.start_method) {
        ("start-join", Some(Method::Fork | Method::Forkserver)) => {
            collect(args, || seconds(|| fork_and_wait(1)))
        }
        ("start-join", Some(Method::Spawn)) => {
            let program = Program::new(args.exe()?, "1")?;
            collect(args, || seconds(|| spawn_and_wait(&program, 1)))
        }
        ("start-join-16", Some(Method::Fork | Method::Forkserver)) => {
            collect(args, || seconds(|| fork_and_wait(args.n)))
        }
        ("start-join-16", Some(Method::Spawn)) => {
            let program = Program::new(args.exe()?, "1")?;
            collect(args, || seconds(|| spawn_and_wait(&program, args.n)))
        }
        ("start-join-first", Some(Method::Forkserver)) => {
            let program = Program::new(args.exe()?, "1")?;
            collect(args, || {
                seconds(|| {
                    spawn_and_wait(&program, 1)?;
                    fork_and_wait(1)
                })
            })
        }
        ("child-rss", Some(Method::Fork | Method::Forkserver)) => collect(args, forked_child_rss),
        ("child-rss", Some(Method::Spawn)) => {
            let program = Program::new(args.exe()?, "hwm")?;
            collect(args, || spawned_child_rss(&program))
        }
        ("queue-throughput", _) => collect(args, || pipe_throughput(args.n)),
        ("send-bytes-1mib", _) => collect(args, || socket_throughput(args.n)),
        ("roundtrip-1cpu" | "roundtrip-2cpu", _) => roundtrip(args),
        ("value-increments", _) => collect(args, || mutex_increments(args.n)),
        ("shm-write", _) => shm_write(args),
        _ => Err(args.unsupported()),
    }
}

/// `n` children that `_exit(0)` at once, then `n` `waitpid`s.
fn fork_and_wait(n: usize) -> Result<()> {
    let mut children = Vec::with_capacity(n);
    for _ in 0..n {
        // SAFETY: the child calls only `_exit`, which is async-signal-safe.
        match unsafe { fork() }? {
            ForkResult::Child => unsafe { libc::_exit(0) },
            ForkResult::Parent { child } => children.push(child),
        }
    }
    children.into_iter().try_for_each(wait_ok)
}

/// An executable with its argument and environment vectors, ready for `posix_spawn`.
struct Program {
    exe: CString,
    _strings: Vec<CString>,
    argv: Vec<*mut libc::c_char>,
    envp: Vec<*mut libc::c_char>,
}

impl Program {
    /// `exe`, with this environment plus [`EXIT_AT_ONCE`]`=exit_at_once`.
    fn new(exe: &str, exit_at_once: &str) -> Result<Program> {
        let exe = CString::new(exe)?;
        let mut env: Vec<CString> = std::env::vars_os()
            .filter(|(k, _)| k != EXIT_AT_ONCE)
            .map(|(k, v)| {
                let mut pair = k.into_encoded_bytes();
                pair.push(b'=');
                pair.extend(v.into_encoded_bytes());
                CString::new(pair)
            })
            .collect::<std::result::Result<_, _>>()?;
        env.push(CString::new(format!("{EXIT_AT_ONCE}={exit_at_once}"))?);
        let argv = vec![exe.as_ptr().cast_mut(), std::ptr::null_mut()];
        let mut envp: Vec<*mut libc::c_char> = env.iter().map(|s| s.as_ptr().cast_mut()).collect();
        envp.push(std::ptr::null_mut());
        // The pointers point into the heap buffers of `exe` and `env`, which move with `Program`
        // without moving their contents.
        Ok(Program {
            exe,
            _strings: env,
            argv,
            envp,
        })
    }

    /// `posix_spawn`s the program, its stdout on `stdout` if given.
    fn spawn(&self, stdout: Option<RawFd>) -> Result<Pid> {
        let mut pid = 0;
        // SAFETY: valid NUL-terminated strings and NULL-terminated arrays that live as long as
        // `self`; the file actions are initialized before use and destroyed after.
        let rc = unsafe {
            match stdout {
                None => libc::posix_spawn(
                    &mut pid,
                    self.exe.as_ptr(),
                    std::ptr::null(),
                    std::ptr::null(),
                    self.argv.as_ptr(),
                    self.envp.as_ptr(),
                ),
                Some(fd) => {
                    let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
                    libc::posix_spawn_file_actions_init(&mut actions);
                    libc::posix_spawn_file_actions_adddup2(&mut actions, fd, 1);
                    let rc = libc::posix_spawn(
                        &mut pid,
                        self.exe.as_ptr(),
                        &actions,
                        std::ptr::null(),
                        self.argv.as_ptr(),
                        self.envp.as_ptr(),
                    );
                    libc::posix_spawn_file_actions_destroy(&mut actions);
                    rc
                }
            }
        };
        if rc != 0 {
            return Err(format!("posix_spawn: {}", std::io::Error::from_raw_os_error(rc)).into());
        }
        Ok(Pid::from_raw(pid))
    }
}

/// `n` `posix_spawn`s, then `n` `waitpid`s.
fn spawn_and_wait(program: &Program, n: usize) -> Result<()> {
    let children = (0..n)
        .map(|_| program.spawn(None))
        .collect::<Result<Vec<_>>>()?;
    children.into_iter().try_for_each(wait_ok)
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    #[cfg(target_os = "linux")]
    let pair = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // Single-threaded: nothing can fork before close-on-exec would be set, so a plain pipe.
    #[cfg(not(target_os = "linux"))]
    let pair = nix::unistd::pipe()?;
    Ok(pair)
}

/// Reads until `buf` is full (or the end of the stream); returns the bytes read.
fn read_full(fd: &OwnedFd, buf: &mut [u8]) -> Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match read(fd, &mut buf[done..])? {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}

fn write_all(fd: impl AsFd, mut buf: &[u8]) -> Result<()> {
    while !buf.is_empty() {
        let n = write(&fd, buf)?;
        buf = &buf[n..];
    }
    Ok(())
}

/// A forked child's peak memory, reported on a pipe.
fn forked_child_rss() -> Result<f64> {
    let (r, w) = pipe()?;
    let child = match fork_now()? {
        ForkResult::Child => in_child(|| {
            drop(r);
            write_all(&w, &bench_subjects::peak_rss()?.to_le_bytes())
        }),
        ForkResult::Parent { child } => child,
    };
    drop(w);
    let mut bytes = [0u8; 8];
    let got = read_full(&r, &mut bytes)?;
    wait_ok(child)?;
    if got != 8 {
        return Err("the child reported nothing".into());
    }
    Ok(u64::from_le_bytes(bytes) as f64)
}

/// A spawned program's peak memory, printed on its stdout.
fn spawned_child_rss(program: &Program) -> Result<f64> {
    let (r, w) = pipe()?;
    let child = program.spawn(Some(w.as_raw_fd()))?;
    drop(w);
    let mut text = [0u8; 64];
    let got = read_full(&r, &mut text)?;
    wait_ok(child)?;
    let text = std::str::from_utf8(&text[..got])?.trim();
    Ok(text
        .parse::<u64>()
        .map_err(|_| format!("the spawned program printed {text:?}, not its peak memory"))?
        as f64)
}

/// Items per second: a child writes `n` 8-byte items to a pipe, one `write` each.
fn pipe_throughput(n: usize) -> Result<f64> {
    let (data_r, data_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let child = match fork_now()? {
        ForkResult::Child => in_child(|| {
            drop((data_r, go_w));
            read(&go_r, &mut [0u8])?;
            for i in 0..n as u64 {
                // 8 bytes: one atomic pipe write.
                write(&data_w, &i.to_le_bytes())?;
            }
            Ok(())
        }),
        ForkResult::Parent { child } => child,
    };
    drop((data_w, go_r));
    let mut buf = vec![0u8; 64 * 1024];
    let t = Instant::now();
    write(&go_w, &[1])?;
    let mut total = 0;
    while total < n * 8 {
        match read(&data_r, &mut buf)? {
            0 => return Err("the writer stopped early".into()),
            got => total += got,
        }
    }
    let elapsed = t.elapsed().as_secs_f64();
    wait_ok(child)?;
    Ok(n as f64 / elapsed)
}

/// Bytes per second: a child writes `n` blocks of 1 MiB to a stream socket.
fn socket_throughput(n: usize) -> Result<f64> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    #[cfg(target_os = "linux")]
    let flags = SockFlag::SOCK_CLOEXEC;
    #[cfg(not(target_os = "linux"))]
    let flags = SockFlag::empty();
    let (ours, theirs) = socketpair(AddressFamily::Unix, SockType::Stream, None, flags)?;
    let (go_r, go_w) = pipe()?;
    let child = match fork_now()? {
        ForkResult::Child => in_child(|| {
            drop((ours, go_w));
            let block = vec![0x5a_u8; MIB];
            read(&go_r, &mut [0u8])?;
            for _ in 0..n {
                write_all(&theirs, &block)?;
            }
            Ok(())
        }),
        ForkResult::Parent { child } => child,
    };
    drop((theirs, go_r));
    let mut buf = vec![0u8; MIB];
    let t = Instant::now();
    write(&go_w, &[1])?;
    let mut total = 0;
    while total < n * MIB {
        match read(&ours, &mut buf)? {
            0 => return Err("the writer stopped early".into()),
            got => total += got,
        }
    }
    let elapsed = t.elapsed().as_secs_f64();
    wait_ok(child)?;
    Ok(total as f64 / elapsed)
}

/// Seconds per 1-byte round trip over two pipes.
fn roundtrip(args: &Args) -> Result<Vec<f64>> {
    let (parent_cpu, child_cpu) = args.pinning()?;
    pin(parent_cpu)?;
    let (down_r, down_w) = pipe()?;
    let (up_r, up_w) = pipe()?;
    let child = match fork_now()? {
        ForkResult::Child => in_child(|| {
            drop((down_w, up_r));
            pin(child_cpu)?;
            let mut byte = [0u8];
            while read(&down_r, &mut byte)? == 1 {
                write(&up_w, &byte)?;
            }
            Ok(())
        }),
        ForkResult::Parent { child } => child,
    };
    drop((down_r, up_w));
    let samples = collect(args, || {
        let mut byte = [b'x'];
        let t = Instant::now();
        for _ in 0..args.n {
            write(&down_w, &byte)?;
            if read(&up_r, &mut byte)? != 1 {
                return Err("the echo stopped".into());
            }
        }
        Ok(t.elapsed().as_secs_f64() / args.n as f64)
    })?;
    drop(down_w);
    wait_ok(child)?;
    Ok(samples)
}

/// A shared anonymous mapping of `len` bytes, unmapped on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(len: usize, fd: Option<&OwnedFd>) -> Result<Mapping> {
        let (flags, fd) = match fd {
            Some(fd) => (libc::MAP_SHARED, fd.as_raw_fd()),
            None => (libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1),
        };
        // SAFETY: a fresh mapping chosen by the kernel; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!("mmap: {}", std::io::Error::last_os_error()).into());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or("mmap returned NULL")?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Increments per second: [`INCREMENTERS`] children each lock a process-shared mutex, add one to
/// a shared `u64` and unlock, `n` times; from their release to the last one's end (each reports
/// when it ended).
fn mutex_increments(n: usize) -> Result<f64> {
    let shared = Mapping::new(4096, None)?;
    let mutex: *mut libc::pthread_mutex_t = shared.ptr.as_ptr().cast();
    // SAFETY: the counter lies after the mutex, then the children's end times, 8-aligned,
    // inside the page.
    let counter: *mut u64 = unsafe {
        shared
            .ptr
            .as_ptr()
            .add(std::mem::size_of::<libc::pthread_mutex_t>().next_multiple_of(64))
            .cast()
    };
    // SAFETY: as above: INCREMENTERS words after the counter's cache line.
    let ends: *mut u64 = unsafe { counter.add(8) };
    // SAFETY: initializing a process-shared mutex in fresh, zeroed shared memory.
    unsafe {
        let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
        libc::pthread_mutexattr_init(&mut attr);
        libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
        libc::pthread_mutex_init(mutex, &attr);
        libc::pthread_mutexattr_destroy(&mut attr);
    }
    let (go_r, go_w) = pipe()?;
    let mut children = Vec::new();
    for index in 0..INCREMENTERS {
        children.push(match fork_now()? {
            ForkResult::Child => in_child(|| {
                read(&go_r, &mut [0u8])?;
                for _ in 0..n {
                    // SAFETY: the mutex and the counter live in the shared mapping, initialized
                    // above; the counter is only touched under the mutex.
                    unsafe {
                        libc::pthread_mutex_lock(mutex);
                        *counter += 1;
                        libc::pthread_mutex_unlock(mutex);
                    }
                }
                // SAFETY: this child's own slot in the shared mapping.
                unsafe { ends.add(index).write_volatile(monotonic_ns()) };
                Ok(())
            }),
            ForkResult::Parent { child } => child,
        });
    }
    let t0 = monotonic_ns();
    write(&go_w, &[1; INCREMENTERS])?; // one byte each: every child goes
    for child in children {
        wait_ok(child)?;
    }
    // SAFETY: every child has exited; the slots are read once each.
    let end = (0..INCREMENTERS)
        .map(|i| unsafe { ends.add(i).read_volatile() })
        .max()
        .unwrap_or(0);
    let elapsed = end.saturating_sub(t0) as f64 / 1e9;
    if elapsed <= 0.0 {
        return Err("the children reported no end time".into());
    }
    let total = (INCREMENTERS * n) as u64;
    // SAFETY: every child has exited; no one else touches the counter.
    let got = unsafe { *counter };
    if got != total {
        return Err(format!("the counter is {got}, expected {total}").into());
    }
    Ok(total as f64 / elapsed)
}

/// Bytes per second of one `memcpy` of `n` bytes into a `shm_open` mapping.
fn shm_write(args: &Args) -> Result<Vec<f64>> {
    let name = CString::new(format!("/mp-bench-os-{}", std::process::id()))?;
    // SAFETY: a NUL-terminated name; the descriptor is owned at once.
    let fd = unsafe {
        libc::shm_open(
            name.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return Err(format!("shm_open: {}", std::io::Error::last_os_error()).into());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // Nothing stays in /dev/shm, whatever happens next.
    // SAFETY: a NUL-terminated name.
    unsafe { libc::shm_unlink(name.as_ptr()) };
    nix::unistd::ftruncate(&fd, args.n as libc::off_t)?;
    let mapping = Mapping::new(args.n, Some(&fd))?;
    let source = vec![0xa5_u8; args.n];
    collect(args, || {
        let t = Instant::now();
        // SAFETY: both ranges are `n` bytes long and distinct.
        unsafe { std::ptr::copy_nonoverlapping(source.as_ptr(), mapping.ptr.as_ptr(), args.n) };
        Ok(args.n as f64 / t.elapsed().as_secs_f64())
    })
}
