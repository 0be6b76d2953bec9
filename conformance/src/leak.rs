//! Finding what a scenario left behind: processes of its session, processes holding its output
//! pipes, and new entries in `/dev/shm`. Linux only (it reads `/proc`); elsewhere the scans find
//! nothing.
//!
//! # Attribution of `/dev/shm` entries
//!
//! `/dev/shm` is shared by everything on the machine, and an entry does not record who made it.
//! The check therefore compares a listing taken before the scenario started with one taken after
//! it (and its whole session) ended, and blames the scenario for the new entries that no live
//! process has open or mapped (an entry in use belongs to something still running, so it is left
//! alone). That is exact when nothing else creates entries meanwhile; when several scenarios run
//! at once, one that leaks may have its entry noticed by another that ended after it. So
//! [`crate::Suite`] checks per run only with `jobs = 1`, and with more jobs it does one check over
//! the whole suite (see [`crate::Report::stray_shm`]); re-run with one job to learn which
//! scenario leaked. Unrelated programs creating entries concurrently (another test suite, say)
//! can still be blamed; the in-use filter makes that rare, not impossible.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
    Some(Stat {
        comm,
        state,
        ppid,
        session,
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
    let mut found: Vec<StrayProcess> = Vec::new();
    for round in 0..50 {
        // List before killing: a killed process may vanish before a later listing.
        let members = session_members(sid);
        if round == 0 {
            let _ = killpg(Pid::from_raw(sid), Signal::SIGKILL);
        }
        if members.is_empty() {
            break;
        }
        for m in members {
            let _ = kill(Pid::from_raw(m.pid), Signal::SIGKILL);
            if !found.iter().any(|f| f.pid == m.pid) {
                found.push(m);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    found
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
