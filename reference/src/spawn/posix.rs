//! `spawn` on Unix: `posix_spawn` of this executable, with the preparation data on a socket at
//! descriptor 3 and the handed descriptors at 4, 5, ...: the arguments' IPC objects, then the
//! program's resource tracker connection, always last.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::unistd::Pid;

use super::Prepared;
use crate::bootstrap;
use crate::error::{Error, Result};
use crate::popen::{Popen, Reaper};
use crate::sys;

/// Spawns a child and hands it its preparation data.
pub(crate) fn start(prepared: &Prepared) -> Result<Popen> {
    let (parent_end, child_end) = sys::socketpair().map_err(|e| Error::os("socketpair", e))?;
    let entry = bootstrap::entry_for_children();
    let mut fds = vec![child_end.as_raw_fd()];
    fds.extend(&prepared.fds);
    // The last handed descriptor: the program's resource tracker (`bootstrap::take_over`).
    fds.push(crate::resource_tracker::fd()?);
    let pid = spawn_program(&bootstrap::spawn_value(entry, fds.len() - 1), &fds)?;
    drop(child_end);
    // A child that died before reading shows up in its exit code; the write error adds nothing.
    let _ = sys::write_frame(parent_end.as_fd(), &prepared.bytes);
    // The child keeps its end open until it exits: `parent_end` is the sentinel.
    Ok(Popen::new(pid, parent_end, Reaper::Parent))
}

/// The program to re-execute: this very executable.
fn current_exe() -> Result<CString> {
    #[cfg(target_os = "linux")]
    {
        // The running image, even if the file was replaced on disk since.
        Ok(c"/proc/self/exe".to_owned())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let path = std::env::current_exe().map_err(|e| Error::os("current_exe", e))?;
        CString::new(path.as_os_str().as_bytes())
            .map_err(|e| Error::os("current_exe", std::io::Error::other(e)))
    }
}

fn cstring(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|e| {
        Error::os(
            "building the child's argv/environment",
            std::io::Error::other(e),
        )
    })
}

/// Executes this program again with `bootstrap` in the bootstrap environment variable, the
/// parent's argv, and `fds` placed at 3, 4, ... in the child. Every other descriptor but 1 and 2
/// is closed in the child; 0 is `/dev/null`.
pub(crate) fn spawn_program(bootstrap: &str, fds: &[RawFd]) -> Result<Pid> {
    if bootstrap::secure_execution() {
        // The copy would ignore the variable, run `main` as a program of its own and start
        // children of its own: endlessly.
        return Err(Error::InvalidOperation(
            "this program runs in secure-execution mode (set-user-ID, set-group-ID or file \
             capabilities), where a copy of it ignores the bootstrap variable so that nobody can \
             forge a child: it cannot start spawn or forkserver children here. Use the fork \
             start method, or run the program without set-user-ID."
                .to_owned(),
        ));
    }
    let exe = current_exe()?;
    let argv: Vec<CString> = std::env::args_os()
        .map(|arg| cstring(arg.as_bytes()))
        .collect::<Result<_>>()?;
    let mut envp: Vec<CString> = std::env::vars_os()
        .filter(|(key, _)| key != bootstrap::ENV)
        .map(|(key, value)| {
            let mut pair = key;
            pair.push("=");
            pair.push(value);
            cstring(pair.as_bytes())
        })
        .collect::<Result<_>>()?;
    envp.push(cstring(
        format!("{}={bootstrap}", bootstrap::ENV).as_bytes(),
    )?);
    if bootstrap.split(' ').any(|word| word == bootstrap::BIND_NOW) {
        envp.push(cstring(b"LD_BIND_NOW=1")?);
    }

    // Move the descriptors above the range they go to, so no dup2 is a no-op that would leave
    // FD_CLOEXEC set. These copies are close-on-exec and closed again when this returns.
    let first_free = 3 + fds.len() as RawFd;
    let lifted: Vec<OwnedFd> = fds
        .iter()
        .map(|&fd| {
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor the caller keeps open; the new
            // descriptor is owned by the returned OwnedFd.
            let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, first_free) };
            if dup < 0 {
                Err(Error::os(
                    "fcntl(F_DUPFD_CLOEXEC)",
                    std::io::Error::last_os_error(),
                ))
            } else {
                // SAFETY: `dup` is a fresh descriptor nobody else owns.
                Ok(unsafe { sys::adopt(dup) })
            }
        })
        .collect::<Result<_>>()?;

    let mut argv_ptrs: Vec<*mut libc::c_char> =
        argv.iter().map(|s| s.as_ptr().cast_mut()).collect();
    argv_ptrs.push(std::ptr::null_mut());
    let mut envp_ptrs: Vec<*mut libc::c_char> =
        envp.iter().map(|s| s.as_ptr().cast_mut()).collect();
    envp_ptrs.push(std::ptr::null_mut());

    let actions = FileActions::new(&lifted, first_free)?;
    let attributes = Attributes::new()?;
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is valid for the call: `exe`, `argv` and `envp` own their strings and
    // the pointer arrays are NULL-terminated; `actions` and `attributes` are initialized.
    let rc = unsafe {
        libc::posix_spawn(
            &mut pid,
            exe.as_ptr(),
            &actions.0,
            &attributes.0,
            argv_ptrs.as_ptr(),
            envp_ptrs.as_ptr(),
        )
    };
    checked("posix_spawn", rc)?;
    Ok(Pid::from_raw(pid))
}

/// The `posix_spawn` family returns an error number instead of setting `errno`.
fn checked(operation: &'static str, rc: libc::c_int) -> Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::os(operation, std::io::Error::from_raw_os_error(rc)))
    }
}

struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new(fds: &[OwnedFd], first_free: RawFd) -> Result<FileActions> {
        let check = |rc| checked("posix_spawn_file_actions", rc);
        // SAFETY: zeroed storage is what posix_spawn_file_actions_init expects to initialize.
        let mut actions = FileActions(unsafe { std::mem::zeroed() });
        // SAFETY: initializing the storage we own; destroyed in Drop.
        check(unsafe { libc::posix_spawn_file_actions_init(&mut actions.0) })?;
        // SAFETY (all calls below): `actions.0` is initialized; the path is a C literal; the
        // descriptors are open in the parent for the duration of posix_spawn.
        unsafe {
            check(libc::posix_spawn_file_actions_addopen(
                &mut actions.0,
                0,
                c"/dev/null".as_ptr(),
                libc::O_RDONLY,
                0,
            ))?;
            for (i, fd) in fds.iter().enumerate() {
                check(libc::posix_spawn_file_actions_adddup2(
                    &mut actions.0,
                    fd.as_raw_fd(),
                    3 + i as RawFd,
                ))?;
            }
            close_from(&mut actions.0, first_free).map_err(|rc| {
                Error::os(
                    "posix_spawn_file_actions_addclosefrom_np",
                    std::io::Error::from_raw_os_error(rc),
                )
            })?;
        }
        Ok(actions)
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialized in `new`, destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

/// Closes every descriptor from `first` up in the child (glibc 2.34+).
///
/// # Safety
/// `actions` must be initialized.
#[cfg(target_os = "linux")]
unsafe fn close_from(
    actions: &mut libc::posix_spawn_file_actions_t,
    first: RawFd,
) -> Result<(), libc::c_int> {
    extern "C" {
        fn posix_spawn_file_actions_addclosefrom_np(
            actions: *mut libc::posix_spawn_file_actions_t,
            from: libc::c_int,
        ) -> libc::c_int;
    }
    // SAFETY: guaranteed by the caller.
    match unsafe { posix_spawn_file_actions_addclosefrom_np(actions, first) } {
        0 => Ok(()),
        rc => Err(rc),
    }
}

/// On macOS `POSIX_SPAWN_CLOEXEC_DEFAULT` (set in [`Attributes`]) closes every descriptor that no
/// file action names; stdout and stderr are kept with `addinherit_np`.
///
/// # Safety
/// `actions` must be initialized.
#[cfg(target_os = "macos")]
unsafe fn close_from(
    actions: &mut libc::posix_spawn_file_actions_t,
    _first: RawFd,
) -> Result<(), libc::c_int> {
    extern "C" {
        fn posix_spawn_file_actions_addinherit_np(
            actions: *mut libc::posix_spawn_file_actions_t,
            fd: libc::c_int,
        ) -> libc::c_int;
    }
    for fd in [1, 2] {
        // SAFETY: guaranteed by the caller.
        match unsafe { posix_spawn_file_actions_addinherit_np(actions, fd) } {
            0 => {}
            rc => return Err(rc),
        }
    }
    Ok(())
}

/// Other Unix: no portable "close the rest" action; descriptors the program opened without
/// close-on-exec may leak into the child (Rust opens all of its own with close-on-exec).
///
/// # Safety
/// `actions` must be initialized.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
unsafe fn close_from(
    _actions: &mut libc::posix_spawn_file_actions_t,
    _first: RawFd,
) -> Result<(), libc::c_int> {
    Ok(())
}

struct Attributes(libc::posix_spawnattr_t);

impl Attributes {
    fn new() -> Result<Attributes> {
        let check = |rc| checked("posix_spawnattr", rc);
        // SAFETY: zeroed storage is what posix_spawnattr_init expects to initialize.
        let mut attributes = Attributes(unsafe { std::mem::zeroed() });
        // SAFETY: initializing storage we own; destroyed in Drop.
        check(unsafe { libc::posix_spawnattr_init(&mut attributes.0) })?;
        #[allow(unused_mut)]
        let mut flags = libc::POSIX_SPAWN_SETSIGMASK;
        #[cfg(target_os = "macos")]
        {
            flags |= 0x4000; // POSIX_SPAWN_CLOEXEC_DEFAULT
        }
        // SAFETY: `attributes.0` is initialized; `empty` is a valid, initialized signal set.
        unsafe {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            check(libc::posix_spawnattr_setsigmask(&mut attributes.0, &empty))?;
            check(libc::posix_spawnattr_setflags(
                &mut attributes.0,
                flags as libc::c_short,
            ))?;
        }
        Ok(attributes)
    }
}

impl Drop for Attributes {
    fn drop(&mut self) {
        // SAFETY: initialized in `new`, destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}
