//! Finding what a scenario left behind: processes of its run, processes holding its output
//! pipes, and entries in `/dev/shm`. Linux only (it reads `/proc`); elsewhere the scans find
//! nothing.
//!
//! # Attribution of `/dev/shm` entries
//!
//! Where Linux lets the runner make one, each run gets a `/dev/shm` of its own
//! ([`ShmNamespace`]: a fresh tmpfs in a private mount namespace). What is in it when the run's
//! processes are all gone is exactly what the run left, at any number of jobs, and removing it
//! touches nothing of the machine's. Results say so: `shm_isolation = "namespace"`.
//!
//! Elsewhere (no namespace can be made: not root and no unprivileged user namespaces, or
//! forced by `shm_isolation = snapshot`), `/dev/shm` is shared by everything on the machine and
//! an entry does not record who made it. The check then compares a listing taken before the
//! scenario started with one taken after it (and its whole session) ended ([`ShmSnapshot`]),
//! and blames the scenario for the new entries that no live process has open or mapped (an
//! entry in use belongs to something still running, so it is left alone). That is exact when
//! nothing else creates entries meanwhile (`shm_isolation = "snapshot"`); when several
//! scenarios run at once, one that leaks may have its entry noticed by another that ended after
//! it. So without namespaces [`crate::Suite`] checks per run only with `jobs = 1`, and with
//! more jobs it does one check over the whole suite (`shm_isolation = "whole-run"`, see
//! [`crate::Report::stray_shm`]). Unrelated programs creating entries concurrently (another
//! test suite, say) can still be blamed; the in-use filter makes that rare, not impossible.

use std::collections::BTreeSet;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

/// A process found alive where it should not be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrayProcess {
    /// Its pid.
    pub pid: i32,
    /// Its command name (`/proc/<pid>/stat` field 2).
    pub comm: String,
}

/// The fields of `/proc/<pid>/stat` the checks use.
struct Stat {
    comm: String,
    state: char,
    ppid: i32,
    session: i32,
    /// utime + stime, in clock ticks.
    cpu_ticks: u64,
}

fn read_stat(pid: i32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn parse_stat(text: &str) -> Option<Stat> {
    // `pid (comm) state ppid pgrp session ...`; comm may hold spaces and parentheses, so split
    // at the last `)`.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let mut rest = text.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    let _pgrp = rest.next()?;
    let session = rest.next()?.parse().ok()?;
    // Fields 14 and 15 (utime, stime); `rest` is at field 7 now.
    let mut rest = rest.skip(7);
    let utime: u64 = rest.next().and_then(|f| f.parse().ok()).unwrap_or(0);
    let stime: u64 = rest.next().and_then(|f| f.parse().ok()).unwrap_or(0);
    Some(Stat {
        comm,
        state,
        ppid,
        session,
        cpu_ticks: utime + stime,
    })
}

fn all_pids() -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The live (not zombie) processes whose session id is `sid`.
pub fn session_members(sid: i32) -> Vec<StrayProcess> {
    all_pids()
        .into_iter()
        .filter_map(|pid| {
            let st = read_stat(pid)?;
            (st.session == sid && st.state != 'Z' && st.state != 'X')
                .then_some(StrayProcess { pid, comm: st.comm })
        })
        .collect()
}

/// SIGKILL the process group `sid` and every live member of session `sid`, repeating while new
/// members appear (a process may fork while being killed). Returns the members found.
pub fn kill_session(sid: i32) -> Vec<StrayProcess> {
    RunProcesses {
        sid,
        namespace: None,
    }
    .kill()
}

/// The inode of the pipe (or file) behind one of this process's descriptors.
pub fn fd_inode(fd: i32) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(format!("/proc/self/fd/{fd}"))
        .ok()
        .map(|m| m.ino())
}

/// The processes that have the pipe with inode `ino` open, other than this one and its own
/// children (a child of this process between fork and exec, started by another run, holds a
/// copy of every descriptor for a moment: it is no leak).
pub fn pipe_holders(ino: u64) -> Vec<StrayProcess> {
    let me = std::process::id() as i32;
    let target = format!("pipe:[{ino}]");
    all_pids()
        .into_iter()
        .filter(|pid| *pid != me)
        .filter(|pid| {
            fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.filter_map(Result::ok)
                    .any(|e| fs::read_link(e.path()).is_ok_and(|l| l.as_os_str() == &*target))
            })
        })
        .filter_map(|pid| {
            let st = read_stat(pid)?;
            (st.state != 'Z' && st.ppid != me).then_some(StrayProcess { pid, comm: st.comm })
        })
        .collect()
}

/// A listing of a shared-memory directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShmSnapshot {
    dir: PathBuf,
    names: BTreeSet<std::ffi::OsString>,
}

/// Serializes the compare-and-remove step, so two checks running at once do not both blame
/// (and try to remove) the same entry.
static SHM_CHECK: Mutex<()> = Mutex::new(());

impl ShmSnapshot {
    /// List `dir` now (an unreadable directory lists as empty).
    pub fn take(dir: impl AsRef<Path>) -> ShmSnapshot {
        let dir = dir.as_ref().to_path_buf();
        let names = fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| Some(e.ok()?.file_name())).collect())
            .unwrap_or_default();
        ShmSnapshot { dir, names }
    }

    /// The entries present now that were not in the snapshot and that no live process has open
    /// or mapped; each is removed. Returns their paths.
    pub fn remove_new_entries(&self) -> Vec<PathBuf> {
        let _guard = SHM_CHECK.lock().unwrap_or_else(|p| p.into_inner());
        let now = ShmSnapshot::take(&self.dir);
        let fresh: Vec<PathBuf> = now
            .names
            .difference(&self.names)
            .map(|n| self.dir.join(n))
            .collect();
        if fresh.is_empty() {
            return fresh;
        }
        let in_use = in_use(&self.dir);
        let mut removed = Vec::new();
        for path in fresh {
            let inode = fs::symlink_metadata(&path).map(|m| m.ino()).ok();
            if in_use.paths.contains(&path) || inode.is_some_and(|i| in_use.inodes.contains(&i)) {
                continue;
            }
            let gone = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            // Already gone (removed by its owner meanwhile): not a leak.
            if gone.is_ok() {
                removed.push(path);
            }
        }
        removed
    }
}

/// What live processes have open (`/proc/*/fd`) or mapped (`/proc/*/maps`).
struct InUse {
    /// By path.
    paths: BTreeSet<PathBuf>,
    /// By inode, for the files under the shared-memory directory. A path is not enough: glibc's
    /// `sem_open` maps a temporary file and then renames it, so the creator's map names
    /// `sem.XXXXXX (deleted)`, never the entry's real name; the inode is the same.
    inodes: BTreeSet<u64>,
}

fn in_use(dir: &Path) -> InUse {
    let mut out = InUse {
        paths: BTreeSet::new(),
        inodes: BTreeSet::new(),
    };
    for pid in all_pids() {
        if let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) {
            for fd in fds.flatten() {
                let Ok(target) = fs::read_link(fd.path()) else {
                    continue;
                };
                if target.starts_with(dir) {
                    // stat() through /proc/PID/fd/N reaches the open file, renamed or not.
                    if let Ok(meta) = fs::metadata(fd.path()) {
                        out.inodes.insert(meta.ino());
                    }
                }
                out.paths.insert(target);
            }
        }
        if let Ok(maps) = fs::read_to_string(format!("/proc/{pid}/maps")) {
            for line in maps.lines() {
                // The path is the sixth column; it may contain spaces and end with " (deleted)".
                let Some(i) = line.find('/') else { continue };
                let path = PathBuf::from(line[i..].trim_end_matches(" (deleted)"));
                // The inode is the fifth column.
                if path.starts_with(dir) {
                    if let Some(inode) = line.split_whitespace().nth(4).and_then(|f| f.parse().ok())
                    {
                        out.inodes.insert(inode);
                    }
                }
                out.paths.insert(path);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// A private /dev/shm per run.

/// How a run's `/dev/shm` entries are told apart from everyone else's (`shm_isolation` in the
/// results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShmIsolation {
    /// The run had a `/dev/shm` of its own: a fresh tmpfs in a private mount namespace
    /// ([`ShmNamespace`]). What is in it after the run is exactly what the run left, at any
    /// number of jobs, and removing it touches nothing of the machine's.
    Namespace,
    /// The machine's `/dev/shm`, listed before and after the run ([`ShmSnapshot`]): exact only
    /// when nothing else creates entries meanwhile. Used where no namespace can be made.
    Snapshot,
    /// The machine's `/dev/shm`, listed once around a whole parallel run rather than per run
    /// (where no namespace can be made and runs overlap): an entry is not pinned on a run.
    WholeRun,
    /// Not checked.
    Off,
}

impl ShmIsolation {
    /// Its name in the results: `namespace`, `snapshot`, `whole-run` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            ShmIsolation::Namespace => "namespace",
            ShmIsolation::Snapshot => "snapshot",
            ShmIsolation::WholeRun => "whole-run",
            ShmIsolation::Off => "off",
        }
    }
}

impl std::fmt::Display for ShmIsolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A private mount namespace whose `/dev/shm` is a fresh tmpfs, for one run.
///
/// A *keeper* process (forked, never exec'd) makes the namespace: `unshare(CLONE_NEWNS)` (as
/// root; unprivileged, a user namespace that maps only the caller's own uid and gid comes with
/// it), every mount made private so nothing propagates to the machine, and a tmpfs mounted on
/// `/dev/shm`. The keeper then sleeps, holding the namespace alive: the scenario's program
/// joins it ([`ShmNamespace::join`], between fork and exec), and after the run, when every
/// process of the run is gone, the runner reads and empties the tmpfs through
/// `/proc/<keeper>/root/dev/shm`. Dropping it kills the keeper, which frees the tmpfs. The
/// machine's `/dev/shm` is never touched, and nothing is mounted outside the namespace, so a
/// runner killed at any instruction leaves no mount behind (the keeper dies with its parent
/// thread: `PR_SET_PDEATHSIG`).
///
/// ```no_run
/// # fn main() -> Result<(), String> {
/// let ns = conformance::leak::ShmNamespace::new()?;
/// // ... run a program that joins it ...
/// for path in ns.remove_entries() {
///     println!("left behind: {}", path.display());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ShmNamespace {
    keeper: Pid,
    mnt: OwnedFd,
    user: Option<OwnedFd>,
    /// `/proc/<pid>/ns/mnt`'s link text, e.g. `mnt:[4026532301]`: who is in it.
    id: std::ffi::OsString,
    dir: PathBuf,
}

/// The keeper's report, one byte: the namespace is ready (with or without a user namespace),
/// or which step failed (followed by the errno, 4 bytes).
#[cfg(target_os = "linux")]
const READY: u8 = 0;
#[cfg(target_os = "linux")]
const READY_USERNS: u8 = 1;

/// Whether a private `/dev/shm` can be made here: probed once (a namespace made and dropped).
pub fn namespace_available() -> Result<(), String> {
    static PROBE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    PROBE.get_or_init(|| ShmNamespace::new().map(drop)).clone()
}

impl ShmNamespace {
    /// Make one. Fails (with the step and the system's reason) where Linux does not let this
    /// process make a mount namespace: not root and no unprivileged user namespaces, a seccomp
    /// filter, another operating system.
    pub fn new() -> Result<ShmNamespace, String> {
        Self::make()
    }

    #[cfg(not(target_os = "linux"))]
    fn make() -> Result<ShmNamespace, String> {
        Err("private mount namespaces are Linux only".into())
    }

    #[cfg(target_os = "linux")]
    fn make() -> Result<ShmNamespace, String> {
        use nix::libc;
        use std::ffi::CString;
        // Everything the keeper needs is prepared here: between fork and its sleep it only
        // makes system calls (async-signal-safe; no allocation, no lock).
        let uid_map = CString::new(format!("{0} {0} 1", {
            // SAFETY: geteuid cannot fail and touches no memory.
            unsafe { nix::libc::geteuid() }
        }))
        .map_err(|e| e.to_string())?;
        let gid_map = CString::new(format!("{0} {0} 1", {
            // SAFETY: getegid cannot fail and touches no memory.
            unsafe { nix::libc::getegid() }
        }))
        .map_err(|e| e.to_string())?;
        let parent = nix::unistd::getpid().as_raw();
        let (status_r, status_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| format!("cannot make a pipe: {e}"))?;
        // SAFETY: the child runs only `keeper`, which makes raw system calls on data prepared
        // above and never returns (it ends by `_exit` or by a signal).
        match unsafe { nix::unistd::fork() } {
            Err(e) => Err(format!("cannot fork: {e}")),
            Ok(nix::unistd::ForkResult::Child) => {
                keeper(status_w.as_raw_fd(), parent, &uid_map, &gid_map);
                // SAFETY: _exit is async-signal-safe; never reached.
                unsafe { libc::_exit(127) }
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                drop(status_w);
                let outcome = read_report(&status_r).and_then(|userns| {
                    let open = |what: &str| {
                        fs::File::open(format!("/proc/{child}/ns/{what}"))
                            .map(OwnedFd::from)
                            .map_err(|e| format!("cannot open the namespace: {e}"))
                    };
                    let mnt = open("mnt")?;
                    let user = if userns { Some(open("user")?) } else { None };
                    let id = fs::read_link(format!("/proc/{child}/ns/mnt"))
                        .map_err(|e| format!("cannot read the namespace's id: {e}"))?
                        .into_os_string();
                    Ok((mnt, user, id))
                });
                match outcome {
                    Ok((mnt, user, id)) => Ok(ShmNamespace {
                        keeper: child,
                        mnt,
                        user,
                        id,
                        dir: PathBuf::from(format!("/proc/{child}/root/dev/shm")),
                    }),
                    Err(e) => {
                        let _ = kill(child, Signal::SIGKILL);
                        let _ = nix::sys::wait::waitpid(child, None);
                        Err(e)
                    }
                }
            }
        }
    }

    /// Whether it came with a user namespace (made unprivileged).
    pub fn has_user_namespace(&self) -> bool {
        self.user.is_some()
    }

    /// The descriptors a program joins it with, for [`join`] between fork and exec: the user
    /// namespace (when there is one), then the mount namespace.
    pub fn fds(&self) -> (Option<i32>, i32) {
        (
            self.user.as_ref().map(|f| f.as_raw_fd()),
            self.mnt.as_raw_fd(),
        )
    }

    /// The live processes in it (its keeper aside).
    pub fn members(&self) -> Vec<StrayProcess> {
        all_pids()
            .into_iter()
            .filter(|&pid| pid != self.keeper.as_raw())
            .filter(|pid| {
                fs::read_link(format!("/proc/{pid}/ns/mnt")).is_ok_and(|l| l.as_os_str() == self.id)
            })
            .filter_map(|pid| {
                let st = read_stat(pid)?;
                (st.state != 'Z' && st.state != 'X').then_some(StrayProcess { pid, comm: st.comm })
            })
            .collect()
    }

    /// Remove everything in its `/dev/shm`; returns what was there, as the run saw it
    /// (`/dev/shm/<name>`), sorted.
    pub fn remove_entries(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        if let Ok(dir) = fs::read_dir(&self.dir) {
            for entry in dir.flatten() {
                let path = entry.path();
                let gone = match entry.file_type() {
                    Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
                    _ => fs::remove_file(&path),
                };
                if gone.is_ok() {
                    found.push(Path::new("/dev/shm").join(entry.file_name()));
                }
            }
        }
        found.sort();
        found
    }
}

impl Drop for ShmNamespace {
    fn drop(&mut self) {
        let _ = kill(self.keeper, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.keeper, None);
    }
}

/// Join the namespace whose [`ShmNamespace::fds`] these are. Called between fork and exec: it
/// makes only `setns` calls (async-signal-safe).
#[cfg(not(target_os = "linux"))]
pub fn join(_fds: (Option<i32>, i32)) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Join the namespace whose [`ShmNamespace::fds`] these are. Called between fork and exec: it
/// makes only `setns` calls (async-signal-safe).
#[cfg(target_os = "linux")]
pub fn join(fds: (Option<i32>, i32)) -> std::io::Result<()> {
    use nix::libc;
    let (user, mnt) = fds;
    if let Some(user) = user {
        // SAFETY: setns on a descriptor this process holds; no memory is touched.
        if unsafe { libc::setns(user, libc::CLONE_NEWUSER) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    // SAFETY: as above.
    if unsafe { libc::setns(mnt, libc::CLONE_NEWNS) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The keeper's first word: whether it made a user namespace too, or why it failed.
#[cfg(target_os = "linux")]
fn read_report(status: &OwnedFd) -> Result<bool, String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(status.as_fd(), PollFlags::POLLIN)];
    // The keeper answers at once; 10 s is a hang guard for a machine under heavy load.
    match poll(&mut fds, PollTimeout::from(10_000u16)) {
        Ok(n) if n > 0 => {}
        _ => return Err("the namespace's keeper did not answer".into()),
    }
    let mut buf = [0u8; 5];
    let n = nix::unistd::read(status, &mut buf).unwrap_or(0);
    match (n, buf[0]) {
        (1.., READY) => Ok(false),
        (1.., READY_USERNS) => Ok(true),
        (5, step) => {
            let errno = i32::from_ne_bytes([buf[1], buf[2], buf[3], buf[4]]);
            let what = match step {
                2 => "unshare(CLONE_NEWNS), and an unprivileged user namespace",
                3 => "writing the user namespace's uid and gid maps",
                4 => "making the mounts private",
                _ => "mounting a tmpfs on /dev/shm",
            };
            Err(format!(
                "{what} failed: {}",
                nix::errno::Errno::from_raw(errno).desc()
            ))
        }
        _ => Err("the namespace's keeper ended without a word".into()),
    }
}

/// The keeper, in the forked child: make the namespace, report, sleep until killed.
///
/// Async-signal-safety: only raw system calls (prctl, setpgid, unshare, open, write, close,
/// mount, close_range, pause, _exit) on the stack and on data prepared before the fork.
#[cfg(target_os = "linux")]
fn keeper(status: i32, parent: i32, uid_map: &std::ffi::CStr, gid_map: &std::ffi::CStr) {
    use nix::libc;
    // SAFETY (all blocks below): raw system calls on valid, NUL-terminated strings and on
    // buffers of the stated length; nothing allocates or takes a lock.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        // What `ps` shows for it (it is a copy of the runner, never exec'd).
        libc::prctl(libc::PR_SET_NAME, c"shm-ns-keeper".as_ptr());
        if libc::getppid() != parent {
            libc::_exit(1);
        }
        // Out of the terminal's process group: a Ctrl-C meant for the runner must not end the
        // keeper before the runner has read what the run left.
        libc::setpgid(0, 0);
        let fail = |step: u8| {
            let errno = *libc::__errno_location();
            let e = errno.to_ne_bytes();
            let msg = [step, e[0], e[1], e[2], e[3]];
            libc::write(status, msg.as_ptr().cast(), msg.len());
            libc::_exit(1);
        };
        let mut word = READY;
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) != 0 {
                fail(2);
            }
            word = READY_USERNS;
            let write_file = |path: &std::ffi::CStr, text: &[u8]| {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 || libc::write(fd, text.as_ptr().cast(), text.len()) < 0 {
                    fail(3);
                }
                libc::close(fd);
            };
            write_file(c"/proc/self/setgroups", b"deny");
            write_file(c"/proc/self/uid_map", uid_map.to_bytes());
            write_file(c"/proc/self/gid_map", gid_map.to_bytes());
        }
        if libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            fail(4);
        }
        if libc::mount(
            c"tmpfs".as_ptr(),
            c"/dev/shm".as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            c"mode=1777".as_ptr().cast(),
        ) != 0
        {
            fail(5);
        }
        libc::write(status, [word].as_ptr().cast(), 1);
        // Hold no descriptor of the runner's (another run's pipes, namespaces).
        libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
        loop {
            libc::pause();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The processes of one run.

/// The processes of one run: the members of its session and, when it has a private `/dev/shm`,
/// every process in that namespace (which a process cannot leave by `setsid`).
#[derive(Debug, Clone, Copy)]
pub struct RunProcesses<'a> {
    /// The session id (the pid of the program, which called `setsid`).
    pub sid: i32,
    /// Its namespace, if it has one.
    pub namespace: Option<&'a ShmNamespace>,
}

/// How a session that had to be ended ended (see [`RunProcesses::terminate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    /// The processes that were sent SIGTERM.
    pub termed: Vec<StrayProcess>,
    /// Those still alive after the grace: SIGKILLed.
    pub killed: Vec<StrayProcess>,
}

impl RunProcesses<'_> {
    /// The live (not zombie) processes of the run.
    pub fn alive(&self) -> Vec<StrayProcess> {
        let mut out = session_members(self.sid);
        if let Some(ns) = self.namespace {
            for p in ns.members() {
                if !out.iter().any(|q| q.pid == p.pid) {
                    out.push(p);
                }
            }
        }
        out
    }

    fn signal(&self, members: &[StrayProcess], signal: Signal) {
        let _ = killpg(Pid::from_raw(self.sid), signal);
        for m in members {
            let _ = kill(Pid::from_raw(m.pid), signal);
        }
    }

    /// SIGKILL every process of the run, repeating while new ones appear (a process may fork
    /// while being killed). Returns those found.
    pub fn kill(&self) -> Vec<StrayProcess> {
        let mut found: Vec<StrayProcess> = Vec::new();
        for round in 0..50 {
            // List before killing: a killed process may vanish before a later listing.
            let members = self.alive();
            if round == 0 {
                let _ = killpg(Pid::from_raw(self.sid), Signal::SIGKILL);
            }
            if members.is_empty() {
                break;
            }
            self.signal(&members, Signal::SIGKILL);
            for m in members {
                if !found.iter().any(|f| f.pid == m.pid) {
                    found.push(m);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        found
    }

    /// Wait for the run's processes to end by themselves. Returns those still alive once none
    /// of them has done anything for `quiet` (every thread asleep, no CPU time used: they wait
    /// for something that will not come), or once `bound` has passed. A process that is
    /// runnable (under load, waiting for a CPU), in the kernel, or using CPU is on its way, so
    /// a loaded machine delays the answer but does not change it.
    pub fn settle(&self, quiet: Duration, bound: Duration) -> Vec<StrayProcess> {
        let start = Instant::now();
        let mut last_active = start;
        let mut last: Vec<(i32, u64)> = Vec::new();
        loop {
            let members = self.alive();
            if members.is_empty() {
                return members;
            }
            let mut busy = false;
            let mut now_seen: Vec<(i32, u64)> = members
                .iter()
                .map(|m| {
                    let (b, cpu) = activity(m.pid);
                    busy |= b;
                    (m.pid, cpu)
                })
                .collect();
            now_seen.sort_unstable();
            let now = Instant::now();
            if busy || now_seen != last {
                last_active = now;
            }
            last = now_seen;
            if now - last_active >= quiet || now - start >= bound {
                return members;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// End the run: SIGTERM to its process group and to every other process of the run, so
    /// that an implementation can remove its named semaphores and segments; then, for those
    /// still alive once they settle (see [`RunProcesses::settle`]) or after `grace`, SIGKILL.
    pub fn terminate(&self, grace: Duration) -> Termination {
        let termed = self.alive();
        self.signal(&termed, Signal::SIGTERM);
        let left = self.settle(grace.min(Duration::from_secs(1)), grace);
        let killed = if left.is_empty() {
            Vec::new()
        } else {
            self.kill()
        };
        Termination { termed, killed }
    }
}

/// Whether any thread of `pid` is runnable or in the kernel (`R`, `D`), and the CPU time its
/// threads have used (nanoseconds from `schedstat`, else clock ticks from `stat`).
fn activity(pid: i32) -> (bool, u64) {
    let mut busy = false;
    let mut cpu = 0u64;
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return (false, 0);
    };
    for task in tasks.flatten() {
        let dir = task.path();
        if let Some(st) = fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|t| parse_stat(&t))
        {
            busy |= matches!(st.state, 'R' | 'D' | 'W');
            cpu = cpu.wrapping_add(st.cpu_ticks);
        }
        if let Some(ns) = fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse::<u64>().ok())
        {
            cpu = cpu.wrapping_add(ns);
        }
    }
    (busy, cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_last_parenthesis() {
        let st = parse_stat("4242 (a) b (c)) S 1 4200 4100 0 -1 4194560 105").unwrap();
        assert_eq!(st.comm, "a) b (c)");
        assert_eq!(st.state, 'S');
        assert_eq!(st.ppid, 1);
        assert_eq!(st.session, 4100);
        assert!(parse_stat("4242 (sleep").is_none());
    }

    #[test]
    fn this_process_is_in_its_own_session_listing() {
        let sid = nix::unistd::getsid(None).map(|p| p.as_raw()).unwrap_or(-1);
        let me = std::process::id() as i32;
        assert!(session_members(sid).iter().any(|p| p.pid == me));
    }
}
