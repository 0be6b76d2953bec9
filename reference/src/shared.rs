//! Shared memory between processes: named segments (CPython's
//! `multiprocessing.shared_memory.SharedMemory`) and typed shared values (CPython's
//! `multiprocessing.sharedctypes`: `Value`, `Array`, `RawValue`, `RawArray`).
//!
//! # Named segments
//!
//! A [`SharedMemory`] is a POSIX shared-memory object (`shm_open`, an entry in `/dev/shm` on
//! Linux) that any process can attach to by name. Its lifetime is CPython's: a segment lives
//! until some process calls [`unlink`](SharedMemory::unlink), or until the program ends.
//! Dropping a handle ([`close`](SharedMemory::close)) only unmaps it, even the creator's last
//! one, so a worker may create a segment, send its name, and exit, and its parent then attaches
//! by name. What nobody unlinked is unlinked when the last process of the program has gone, by
//! the program's *resource tracker*: a helper process, started by the main process at its first
//! `create` or its first child, shared by every process of the program, that records the
//! segments the program created and unlinks those still registered, with a warning on stderr,
//! once every process holding its connection has exited, however it ended (`SIGKILL`
//! included). So nothing named outlives the program. [`SharedMemory::keep`] takes a segment off
//! the tracker's list (CPython's `track=False`): it then outlives the program until someone
//! unlinks it. See `resource_tracker.rs` for exactly when the tracker ends.
//!
//! # Typed values
//!
//! [`Value`], [`Array`], [`RawValue`] and [`RawArray`] hold plain data ([`Pod`]) in an anonymous
//! shared mapping (a sealed `memfd` on Linux): nothing is named, so nothing can leak into
//! `/dev/shm`, and the memory is freed when the last process using it unmaps it. They cross into
//! a child as `Process` arguments under every start method: a `fork` child inherits the mapping,
//! a `spawn` or `forkserver` child is handed the descriptor and maps it. `Value` and `Array` carry
//! a process-shared [`RLock`] (CPython's default `lock=True`); `RawValue` and `RawArray` have none.
//!
//! ```
//! use multiprocessing::shared::Value;
//!
//! let counter = Value::new(0u64)?;
//! {
//!     let guard = counter.lock()?; // one lock for the read-modify-write
//!     guard.set(guard.get() + 1);
//! }
//! assert_eq!(counter.get()?, 1);
//! # Ok::<(), multiprocessing::Error>(())
//! ```

use std::ffi::CString;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::sync::{LockGuard, RLock};
use crate::{resource_tracker, sys, wire};

// ---------------------------------------------------------------------------------------------
// Regions: anonymous shared mappings that carry their descriptor.

/// A shared mapping of a whole file (a memfd, or a shm object) and the descriptor behind it, so
/// it can be handed to a `spawn` child. Dropping it unmaps it, unless a robust mutex inside it is
/// held by a thread of this process (see [`Region::pin`]).
pub(crate) struct Region {
    ptr: NonNull<u8>,
    len: usize,
    fd: OwnedFd,
    /// Mutexes inside this mapping currently held by threads of this process. glibc links a
    /// held robust mutex into its thread's robust list *through the mapping*, so unmapping it
    /// while held would leave that list pointing at unmapped (or reused) memory.
    pinned: AtomicUsize,
}

// SAFETY: a `Region` is an address range and a descriptor. The pointer stays valid until drop;
// every access through it is an atomic operation or a raw copy that the callers synchronize, so
// sharing the handle between threads adds nothing that sharing between processes does not.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page)
        .ok()
        .filter(|&p| p > 0)
        .unwrap_or(4096)
}

impl Region {
    /// A new zero-filled anonymous region of at least `len` bytes (a whole number of pages).
    pub(crate) fn new(len: usize) -> Result<Arc<Region>> {
        let page = page_size();
        let len = len
            .max(1)
            .checked_next_multiple_of(page)
            .ok_or_else(|| Error::InvalidOperation(format!("cannot map {len} bytes")))?;
        let fd = anonymous_fd(len)?;
        Ok(Arc::new(Region::map(fd, len)?))
    }

    /// Maps all `len` bytes of `fd`, shared and writable.
    fn map(fd: OwnedFd, len: usize) -> Result<Region> {
        // SAFETY: a fresh mapping chosen by the kernel (null hint): it aliases no Rust object.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(Error::os("mmap", io::Error::last_os_error()));
        }
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| Error::os("mmap", io::Error::other("mapped at address 0")))?;
        Ok(Region {
            ptr,
            len,
            fd,
            pinned: AtomicUsize::new(0),
        })
    }

    /// The region a descriptor handed to this process refers to. On Linux one file is mapped
    /// once per process: two objects received together that share a region (a `Condition` and
    /// its lock, say) get the same mapping.
    pub(crate) fn adopt(fd: OwnedFd) -> Result<Arc<Region>> {
        // SAFETY: an all-zero `stat` is a valid value to be overwritten by fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open; `st` is a valid out-pointer.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(Error::os("fstat", io::Error::last_os_error()));
        }
        let len = usize::try_from(st.st_size).unwrap_or(0);
        if len == 0 {
            return Err(Error::InvalidOperation(
                "the shared memory handed to this process is empty".to_owned(),
            ));
        }
        let key = (st.st_dev as u64, st.st_ino as u64);
        let mut known = adopted();
        if cfg!(any(target_os = "linux", target_os = "android")) {
            let found = known.iter().find(|(k, _)| *k == key);
            if let Some(region) = found.and_then(|(_, weak)| weak.upgrade()) {
                return Ok(region);
            }
        }
        let region = Arc::new(Region::map(fd, len)?);
        known.retain(|(_, weak)| weak.strong_count() > 0);
        known.push((key, Arc::downgrade(&region)));
        Ok(region)
    }

    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The atomic word at `offset`.
    ///
    /// # Safety
    /// `offset + 4 <= self.len()` and `offset` is a multiple of 4.
    pub(crate) unsafe fn atomic_u32(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: in bounds and aligned (the caller's contract; the mapping is page-aligned); the
        // memory lives as long as `self`, and other processes only access it atomically.
        unsafe { AtomicU32::from_ptr(self.ptr().add(offset).cast()) }
    }

    /// A robust mutex inside this region was acquired by a thread of this process.
    pub(crate) fn pin(&self) {
        self.pinned.fetch_add(1, Ordering::Relaxed);
    }

    /// A mutex pinned with [`Region::pin`] was released.
    pub(crate) fn unpin(&self) {
        let _ = self
            .pinned
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if self.pinned.load(Ordering::Relaxed) > 0 {
            // A thread of this process still holds a robust mutex in here (it acquired it and
            // dropped every handle without releasing it): keep the memory mapped for ever
            // rather than let glibc's robust list point at unmapped memory.
            return;
        }
        // SAFETY: the mapping was created by `map` with this length and is unmapped once; no
        // reference into it outlives `self`.
        unsafe { libc::munmap(self.ptr().cast(), self.len) };
    }
}

/// Regions mapped from descriptors handed to this process, by (device, inode). A handful at
/// most (a child's arguments), so a list.
type Adopted = Vec<((u64, u64), Weak<Region>)>;

fn adopted() -> std::sync::MutexGuard<'static, Adopted> {
    static ADOPTED: Mutex<Adopted> = Mutex::new(Vec::new());
    ADOPTED.lock().unwrap_or_else(|p| p.into_inner())
}

/// A descriptor for `len` bytes of fresh, zeroed, anonymous shared memory, close-on-exec.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn anonymous_fd(len: usize) -> Result<OwnedFd> {
    // SAFETY: a NUL-terminated literal name; the flags ask for a close-on-exec descriptor.
    let fd = unsafe {
        libc::memfd_create(
            c"multiprocessing".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(Error::os("memfd_create", io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    truncate(&fd, len)?;
    // Fix the size for good, so that no process can shrink the file under another's mapping.
    // SAFETY: fcntl on an open descriptor with integer arguments.
    let sealed = unsafe {
        libc::fcntl(
            fd.as_raw_fd(),
            libc::F_ADD_SEALS,
            libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL,
        )
    };
    if sealed != 0 {
        return Err(Error::os("sealing a memfd", io::Error::last_os_error()));
    }
    Ok(fd)
}

/// Elsewhere (macOS): a shm object with a random name, unlinked at once, so only descriptors
/// refer to it. (Not compiled in this project's CI.)
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn anonymous_fd(len: usize) -> Result<OwnedFd> {
    loop {
        let name = format!("/mp-{}", random_hex(6)?);
        let path = CString::new(name).map_err(|e| Error::os("shm_open", io::Error::other(e)))?;
        // SAFETY: a NUL-terminated path; the descriptor is owned below.
        let fd = unsafe {
            libc::shm_open(
                path.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
                0o600 as libc::c_uint,
            )
        };
        if fd < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EEXIST) {
                continue;
            }
            return Err(Error::os("shm_open", io::Error::last_os_error()));
        }
        // SAFETY: `fd` is fresh and ours; the path is NUL-terminated.
        let fd = unsafe {
            libc::shm_unlink(path.as_ptr());
            OwnedFd::from_raw_fd(fd)
        };
        sys::set_cloexec(fd.as_raw_fd(), true).map_err(|e| Error::os("fcntl", e))?;
        truncate(&fd, len)?;
        return Ok(fd);
    }
}

fn truncate(fd: &OwnedFd, len: usize) -> Result<()> {
    let len = libc::off_t::try_from(len)
        .map_err(|_| Error::InvalidOperation(format!("cannot allocate {len} bytes")))?;
    loop {
        // SAFETY: ftruncate on an open descriptor.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len) } == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(Error::os("ftruncate", err));
        }
    }
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    sys::random_bytes(&mut buf).map_err(|e| Error::os("getrandom", e))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        wire::serialize_fd(self.fd(), serializer)
    }
}

/// A region received as part of a process's arguments.
pub(crate) struct RegionRef(pub(crate) Arc<Region>);

impl<'de> Deserialize<'de> for RegionRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fd = wire::deserialize_fd(deserializer)?;
        Region::adopt(fd)
            .map(RegionRef)
            .map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Named segments.

/// The longest name a segment may have, without the leading `/`: macOS allows 31 bytes with it
/// (`PSHMNAMLEN`); Linux makes the name a file in `/dev/shm` (`NAME_MAX`).
#[cfg(target_os = "macos")]
const MAX_NAME: usize = 30;
#[cfg(not(target_os = "macos"))]
const MAX_NAME: usize = 255;

/// A named shared-memory segment (CPython's `multiprocessing.shared_memory.SharedMemory`).
///
/// [`create`](Self::create) makes a new segment with a generated name (`psm_` and 8 hex digits,
/// short enough for macOS), [`create_named`](Self::create_named) with a given one, and
/// [`attach`](Self::attach) maps an existing one by name. Clones share one mapping.
///
/// **Lifetime**, as in CPython: the segment lives until a process (any process, through any
/// handle) calls [`unlink`](Self::unlink), or until the program ends, when the resource tracker
/// unlinks what is left, with a warning (see the [module docs](self)). Dropping a handle, or
/// [`close`](Self::close), never unlinks, not even the creator's last handle, nor when its
/// process exits. [`keep`](Self::keep) takes the segment off the tracker's list, so it outlives
/// the program.
///
/// **Access.** The bytes are shared with other processes, which may write them at any time, so
/// safe access copies: [`read_at`](Self::read_at) and [`write_at`](Self::write_at) (a `memcpy`).
/// Borrowing them as a slice is `unsafe` ([`as_slice`](Self::as_slice)), as it is for
/// memory-mapped files. If another program truncates the segment, touching the lost pages raises
/// `SIGBUS`, as in CPython.
///
/// ```
/// use multiprocessing::shared::SharedMemory;
///
/// let shm = SharedMemory::create(16)?;
/// shm.write_at(0, b"hello")?;
/// let other = SharedMemory::attach(shm.name())?; // what another process would do
/// let mut buf = [0u8; 5];
/// other.read_at(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// drop(other);
/// let name = shm.name().to_owned();
/// shm.close(); // the creator's last handle: unmapped, not unlinked
/// let again = SharedMemory::attach(&name)?;
/// again.read_at(0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// again.unlink()?; // the name is gone now
/// assert!(matches!(
///     SharedMemory::attach(&name),
///     Err(multiprocessing::Error::NotFound { .. })
/// ));
/// # Ok::<(), multiprocessing::Error>(())
/// ```
///
/// As a `Process` argument it crosses by descriptor (the child maps the same segment even if the
/// name is unlinked meanwhile) and arrives as a non-owning handle.
#[derive(Clone)]
pub struct SharedMemory {
    inner: Arc<ShmInner>,
}

struct ShmInner {
    /// Without the leading `/`.
    name: String,
    size: usize,
    region: Region,
    /// The pid of the process that created the segment, if this handle was made there by
    /// `create`: a `fork` child inherits the handle but is not its creator.
    creator: Option<u32>,
    /// `unlink` or `keep` was called through this handle (or a clone).
    released: AtomicBool,
}

impl std::fmt::Debug for SharedMemory {
    /// Like CPython's repr: `SharedMemory("psm_1a2b3c4d", size=16)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedMemory({:?}, size={})", self.name(), self.size())
    }
}

fn shm_path(name: &str) -> Result<CString> {
    CString::new(format!("/{name}")).map_err(|_| invalid_name(name, "it contains a NUL byte"))
}

fn invalid_name(name: &str, problem: &str) -> Error {
    Error::InvalidOperation(format!(
        "invalid shared memory name {name:?}: {problem}. A name is 1 to {MAX_NAME} bytes \
         without '/' (one leading '/' is allowed and ignored), such as \"psm_1a2b3c4d\"; omit \
         the name to have one generated"
    ))
}

/// Checks a user-given name; returns it without its optional leading `/`.
fn validate_name(name: &str) -> Result<&str> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let problem = if bare.is_empty() {
        Some("it is empty".to_owned())
    } else if bare.contains('/') {
        Some("it contains '/' after the first character".to_owned())
    } else if bare.contains('\0') {
        Some("it contains a NUL byte".to_owned())
    } else if bare == "." || bare == ".." {
        Some("'.' and '..' are not names".to_owned())
    } else if bare.len() > MAX_NAME {
        Some(format!(
            "it is {} bytes long, and this platform allows {MAX_NAME}",
            bare.len()
        ))
    } else {
        None
    };
    match problem {
        Some(problem) => Err(invalid_name(name, &problem)),
        None => Ok(bare),
    }
}

impl SharedMemory {
    /// Creates a new segment of `size` bytes, zero-filled, with a generated name
    /// (CPython's `SharedMemory(create=True, size=size)`).
    ///
    /// ```
    /// let shm = multiprocessing::shared::SharedMemory::create(4096)?;
    /// assert!(shm.name().starts_with("psm_"));
    /// assert_eq!(shm.size(), 4096);
    /// shm.unlink()?; // else the resource tracker does it at the program's end, with a warning
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn create(size: usize) -> Result<SharedMemory> {
        SharedMemory::create_impl(None, size)
    }

    /// Creates a new segment of `size` bytes named `name`; [`Error::AlreadyExists`] if the name
    /// is taken (CPython's `SharedMemory(name, create=True, size=size)`). An invalid name (empty,
    /// with a `/` inside, or too long for the platform: 30 bytes on macOS) is
    /// [`Error::InvalidOperation`].
    ///
    /// ```
    /// use multiprocessing::shared::SharedMemory;
    /// let name = format!("doc_create_named_{}", std::process::id());
    /// let shm = SharedMemory::create_named(&name, 8)?;
    /// assert_eq!(shm.name(), name);
    /// assert!(matches!(
    ///     SharedMemory::create_named(&name, 8),
    ///     Err(multiprocessing::Error::AlreadyExists { .. })
    /// ));
    /// shm.unlink()?;
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn create_named(name: &str, size: usize) -> Result<SharedMemory> {
        SharedMemory::create_impl(Some(name), size)
    }

    fn create_impl(name: Option<&str>, size: usize) -> Result<SharedMemory> {
        if size == 0 {
            return Err(Error::InvalidOperation(
                "'size' must be a positive number different from zero".to_owned(),
            ));
        }
        let generated = name.is_none();
        let (name, path, fd) = loop {
            let name = match name {
                Some(name) => validate_name(name)?.to_owned(),
                None => format!("psm_{}", random_hex(4)?),
            };
            let path = shm_path(&name)?;
            // SAFETY: a NUL-terminated path; the descriptor is owned below.
            let fd = unsafe {
                libc::shm_open(
                    path.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC,
                    0o600 as libc::c_uint, // a variadic argument: promoted, as C does
                )
            };
            if fd >= 0 {
                // SAFETY: a fresh descriptor nothing else owns.
                break (name, path, unsafe { OwnedFd::from_raw_fd(fd) });
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                // A generated name that happens to exist: draw another (as CPython does).
                Some(libc::EEXIST) if generated => continue,
                Some(libc::EEXIST) => return Err(Error::AlreadyExists { name }),
                Some(libc::ENAMETOOLONG) => {
                    return Err(invalid_name(&name, "the system says it is too long"))
                }
                _ => return Err(Error::os("shm_open", err)),
            }
        };
        // From here on the name exists: remove it again if anything fails.
        let unlink_on_error = |err: Error| {
            // SAFETY: a NUL-terminated path.
            unsafe { libc::shm_unlink(path.as_ptr()) };
            err
        };
        truncate(&fd, size).map_err(unlink_on_error)?;
        let region = Region::map(fd, size).map_err(unlink_on_error)?;
        resource_tracker::register(&format!("/{name}")).map_err(unlink_on_error)?;
        Ok(SharedMemory {
            inner: Arc::new(ShmInner {
                name,
                size,
                region,
                creator: Some(std::process::id()),
                released: AtomicBool::new(false),
            }),
        })
    }

    /// Attaches to the existing segment `name` (CPython's `SharedMemory(name)`):
    /// [`Error::NotFound`] if there is none (never created, or already unlinked).
    ///
    /// ```
    /// use multiprocessing::{shared::SharedMemory, Error};
    /// assert!(matches!(SharedMemory::attach("psm_nonexistent"), Err(Error::NotFound { .. })));
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn attach(name: &str) -> Result<SharedMemory> {
        let name = validate_name(name)?.to_owned();
        let path = shm_path(&name)?;
        // SAFETY: a NUL-terminated path; the descriptor is owned below.
        let fd = unsafe {
            libc::shm_open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC,
                0o600 as libc::c_uint, // a variadic argument: promoted, as C does
            )
        };
        if fd < 0 {
            let err = io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::ENOENT) => Error::NotFound { name },
                _ => Error::os("shm_open", err),
            });
        }
        // SAFETY: a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero `stat` is a valid value to be overwritten by fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open; `st` is a valid out-pointer.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(Error::os("fstat", io::Error::last_os_error()));
        }
        let size = usize::try_from(st.st_size).unwrap_or(0);
        if size == 0 {
            return Err(Error::InvalidOperation(format!(
                "the shared memory segment '{name}' is empty (its creator has not sized it yet?)"
            )));
        }
        let region = Region::map(fd, size)?;
        Ok(SharedMemory {
            inner: Arc::new(ShmInner {
                name,
                size,
                region,
                creator: None,
                released: AtomicBool::new(false),
            }),
        })
    }

    /// The segment's name, without a leading `/` (CPython's `name`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The size in bytes (CPython's `size`): as created, or as found when attaching (which macOS
    /// rounds up to a whole number of pages).
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Whether this handle created the segment, in this very process, and has neither
    /// [`unlink`](Self::unlink)ed nor [`keep`](Self::keep)ed it: the creator's handle of a
    /// segment the resource tracker will unlink at the program's end if nobody does before.
    ///
    /// ```
    /// let shm = multiprocessing::shared::SharedMemory::create(8)?;
    /// assert!(shm.is_owner());
    /// assert!(!multiprocessing::shared::SharedMemory::attach(shm.name())?.is_owner());
    /// shm.unlink()?;
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn is_owner(&self) -> bool {
        self.inner.is_owner()
    }

    /// The first byte of the mapping. Valid for [`size`](Self::size) bytes as long as a handle
    /// to this mapping is alive in this process.
    pub fn as_ptr(&self) -> *mut u8 {
        self.inner.region.ptr()
    }

    /// The bytes as a slice.
    ///
    /// # Safety
    /// For as long as the slice lives, no process (this one included, through any handle) may
    /// write the segment: other processes' writes are invisible to Rust's aliasing rules, and
    /// would be a data race.
    ///
    /// ```
    /// let shm = multiprocessing::shared::SharedMemory::create(4)?;
    /// shm.write_at(0, &[1, 2, 3, 4])?;
    /// // SAFETY: no other process knows this segment yet.
    /// assert_eq!(unsafe { shm.as_slice() }, &[1, 2, 3, 4]);
    /// shm.unlink()?;
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is valid for `size` bytes while `self` lives; the caller promises
        // that nothing writes it meanwhile.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.size()) }
    }

    /// The bytes as a mutable slice.
    ///
    /// # Safety
    /// For as long as the slice lives, no process (this one included, through any handle) may
    /// read or write the segment.
    ///
    /// ```
    /// let mut shm = multiprocessing::shared::SharedMemory::create(4)?;
    /// // SAFETY: no other process knows this segment yet, and this is the only handle.
    /// unsafe { shm.as_mut_slice() }.copy_from_slice(b"abcd");
    /// let mut buf = [0u8; 4];
    /// shm.read_at(0, &mut buf)?;
    /// assert_eq!(&buf, b"abcd");
    /// shm.unlink()?;
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is valid for `size` bytes while `self` lives; the caller promises
        // exclusive access meanwhile.
        unsafe { std::slice::from_raw_parts_mut(self.as_ptr(), self.size()) }
    }

    fn check_range(&self, offset: usize, len: usize) -> Result<()> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size() => Ok(()),
            _ => Err(Error::InvalidOperation(format!(
                "bytes {offset}..{} are out of range for the shared memory segment '{}' of \
                 size {}",
                offset.saturating_add(len),
                self.name(),
                self.size()
            ))),
        }
    }

    /// Copies `buf.len()` bytes from offset `offset` into `buf`. Bytes that another process
    /// writes meanwhile may be seen half-written: synchronize with a [`crate::sync::Lock`].
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.check_range(offset, buf.len())?;
        // SAFETY: the range is inside the mapping (checked), which lives as long as `self`;
        // `buf` is a distinct, private buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(self.as_ptr().add(offset), buf.as_mut_ptr(), buf.len())
        };
        Ok(())
    }

    /// Copies `data` into the segment at offset `offset` (a `memcpy`).
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<()> {
        self.check_range(offset, data.len())?;
        // SAFETY: the range is inside the mapping (checked), which lives as long as `self`;
        // `data` is a distinct buffer. No Rust reference to the segment exists (the safe API
        // hands out none), so this write invalidates no borrow.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.as_ptr().add(offset), data.len())
        };
        Ok(())
    }

    /// Removes the name (CPython's `unlink()`), and takes it off the resource tracker's list:
    /// attaching by name fails from now on, while existing mappings, in every process, stay
    /// valid until closed. [`Error::NotFound`] if the name is already gone. Any handle, in any
    /// process, may unlink.
    ///
    /// ```
    /// use multiprocessing::{shared::SharedMemory, Error};
    /// let shm = SharedMemory::create(8)?;
    /// SharedMemory::attach(shm.name())?.unlink()?;
    /// assert!(matches!(SharedMemory::attach(shm.name()), Err(Error::NotFound { .. })));
    /// assert!(matches!(shm.unlink(), Err(Error::NotFound { .. })));
    /// shm.write_at(0, b"mapped")?; // this handle's mapping stays valid
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn unlink(&self) -> Result<()> {
        let path = shm_path(self.name())?;
        // SAFETY: a NUL-terminated path.
        if unsafe { libc::shm_unlink(path.as_ptr()) } != 0 {
            let err = io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::ENOENT) => Error::NotFound {
                    name: self.name().to_owned(),
                },
                _ => Error::os("shm_unlink", err),
            });
        }
        self.inner.released.store(true, Ordering::Relaxed);
        resource_tracker::unregister(&format!("/{}", self.name()));
        Ok(())
    }

    /// Takes the segment off the resource tracker's list, so that it outlives the program
    /// (CPython's `track=False`): someone must [`unlink`](Self::unlink) it, in this program or
    /// another. Does nothing on a handle that is not the [owner](Self::is_owner).
    ///
    /// ```
    /// use multiprocessing::shared::SharedMemory;
    /// let shm = SharedMemory::create(8)?;
    /// shm.keep();
    /// assert!(!shm.is_owner());
    /// shm.unlink()?; // only an unlink removes it now
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn keep(&self) {
        if self.inner.is_owner() {
            self.inner.released.store(true, Ordering::Relaxed);
            resource_tracker::unregister(&format!("/{}", self.name()));
        }
    }

    /// Drops this handle (CPython's `close()`): the mapping goes when the last clone in this
    /// process goes. It never unlinks, not even the creator's last handle (see
    /// [lifetime](Self)).
    pub fn close(self) {
        drop(self);
    }
}

impl ShmInner {
    fn is_owner(&self) -> bool {
        self.creator == Some(std::process::id()) && !self.released.load(Ordering::Relaxed)
    }
}

impl Serialize for SharedMemory {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&self.inner.name, self.inner.size as u64, &self.inner.region).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SharedMemory {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fd(OwnedFd);
        impl<'de> Deserialize<'de> for Fd {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                wire::deserialize_fd(deserializer).map(Fd)
            }
        }
        let (name, size, Fd(fd)) = <(String, u64, Fd)>::deserialize(deserializer)?;
        let size = usize::try_from(size).map_err(serde::de::Error::custom)?;
        let region = Region::map(fd, size).map_err(serde::de::Error::custom)?;
        Ok(SharedMemory {
            inner: Arc::new(ShmInner {
                name,
                size,
                region,
                creator: None,
                released: AtomicBool::new(false),
            }),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Plain data.

/// Plain data that can live in memory shared between processes: `Copy`, no pointers, no drop,
/// and valid for every byte pattern other processes can leave in it.
///
/// Implemented for the integers, `f32`, `f64`, `bool`, and arrays of them (CPython's ctypes
/// typecodes). Implement it for your own `#[repr(C)]` structs of such fields.
///
/// # Safety
/// The all-zero byte pattern must be a valid value (shared memory starts zeroed), and so must
/// every mix of the bytes of valid values at the same offsets (what an unsynchronized
/// [`RawValue::get`] may observe while another process writes). The type must contain no
/// references, pointers or handles: their values mean nothing in another process.
///
/// ```
/// #[derive(Clone, Copy)]
/// #[repr(C)]
/// struct Point { x: f64, y: f64 }
/// // SAFETY: two f64s: every byte pattern is valid, and zero is (0.0, 0.0).
/// unsafe impl multiprocessing::shared::Pod for Point {}
///
/// let p = multiprocessing::shared::Value::new(Point { x: 1.0, y: 2.0 })?;
/// assert_eq!(p.get()?.y, 2.0);
/// # Ok::<(), multiprocessing::Error>(())
/// ```
pub unsafe trait Pod: Copy + Send + Sync + 'static {}

macro_rules! pod {
    ($($t:ty),*) => {
        $(
            // SAFETY: a primitive with no invalid byte patterns (bool: every byte a valid
            // `bool` wrote is 0 or 1, and bytes never tear).
            unsafe impl Pod for $t {}
        )*
    };
}
pod!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool);

// SAFETY: an array of `Pod` elements is `Pod` element by element.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

/// `len` elements of `T` at `offset` in a region.
struct Cells<T> {
    region: Arc<Region>,
    offset: usize,
    len: usize,
    _type: PhantomData<T>,
}

impl<T> Clone for Cells<T> {
    fn clone(&self) -> Self {
        Cells {
            region: self.region.clone(),
            offset: self.offset,
            len: self.len,
            _type: PhantomData,
        }
    }
}

impl<T: Pod> Cells<T> {
    /// Checks that `len` elements of `T` at `offset` fit the region, aligned.
    fn new(region: Arc<Region>, offset: usize, len: usize) -> Result<Cells<T>> {
        let size = std::mem::size_of::<T>();
        let fits = len
            .checked_mul(size)
            .and_then(|bytes| bytes.checked_add(offset))
            .is_some_and(|end| end <= region.len());
        if !fits || !offset.is_multiple_of(std::mem::align_of::<T>()) {
            return Err(Error::InvalidOperation(format!(
                "{len} elements of {} at offset {offset} do not fit a shared region of {} bytes",
                std::any::type_name::<T>(),
                region.len()
            )));
        }
        Ok(Cells {
            region,
            offset,
            len,
            _type: PhantomData,
        })
    }

    /// A fresh region for `len` elements after `header` bytes.
    fn allocate(header: usize, len: usize) -> Result<Cells<T>> {
        let offset = header.next_multiple_of(std::mem::align_of::<T>());
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|b| b.checked_add(offset))
            .ok_or_else(|| {
                Error::InvalidOperation(format!("{len} elements do not fit in memory"))
            })?;
        Cells::new(Region::new(bytes)?, offset, len)
    }

    fn ptr(&self) -> *mut T {
        // SAFETY: `offset` is inside the mapping (checked in `new`).
        unsafe { self.region.ptr().add(self.offset).cast() }
    }

    fn check(&self, start: usize, count: usize) -> Result<()> {
        match start.checked_add(count) {
            Some(end) if end <= self.len => Ok(()),
            _ if count == 1 => Err(Error::InvalidOperation(format!(
                "index {start} is out of range for a shared array of length {}",
                self.len
            ))),
            _ => Err(Error::InvalidOperation(format!(
                "elements {start}..{} are out of range for a shared array of length {}",
                start.saturating_add(count),
                self.len
            ))),
        }
    }

    fn get(&self, index: usize) -> Result<T> {
        self.check(index, 1)?;
        // SAFETY: in bounds and aligned (checked); `T: Pod` is valid for whatever bytes are
        // there. Volatile: other processes may have changed it since the last read.
        Ok(unsafe { self.ptr().add(index).read_volatile() })
    }

    fn set(&self, index: usize, value: T) -> Result<()> {
        self.check(index, 1)?;
        // SAFETY: in bounds and aligned (checked); no reference to shared memory exists.
        unsafe { self.ptr().add(index).write_volatile(value) };
        Ok(())
    }

    fn read(&self, start: usize, out: &mut [T]) -> Result<()> {
        self.check(start, out.len())?;
        // SAFETY: in bounds (checked); `out` is private memory, not overlapping the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr().add(start), out.as_mut_ptr(), out.len())
        };
        Ok(())
    }

    fn write(&self, start: usize, data: &[T]) -> Result<()> {
        self.check(start, data.len())?;
        // SAFETY: in bounds (checked); `data` is private memory, not overlapping the mapping.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr().add(start), data.len()) };
        Ok(())
    }

    fn to_vec(&self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        // SAFETY: the whole array is in bounds; `out` has capacity for `len` elements, all of
        // which are initialized by the copy before `set_len`.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr(), out.as_mut_ptr(), self.len);
            out.set_len(self.len);
        }
        out
    }

    /// What crosses a process boundary: the region (unless `shared_with` already carries it),
    /// where the elements are, and their size, to check the receiver's type.
    fn describe<'a>(&'a self, shared_with: Option<&Arc<Region>>) -> CellsWire<'a> {
        let same = shared_with.is_some_and(|r| Arc::ptr_eq(r, &self.region));
        CellsWire {
            region: (!same).then_some(&*self.region),
            offset: self.offset as u64,
            len: self.len as u64,
            size: std::mem::size_of::<T>() as u64,
        }
    }

    fn from_wire(wire: CellsWireOwned, shared_with: Option<&Arc<Region>>) -> Result<Cells<T>> {
        let region = match (wire.region, shared_with) {
            (Some(RegionRef(region)), _) => region,
            (None, Some(region)) => region.clone(),
            (None, None) => {
                return Err(Error::InvalidOperation(
                    "a shared value arrived without its memory".to_owned(),
                ))
            }
        };
        if wire.size != std::mem::size_of::<T>() as u64 {
            return Err(Error::InvalidOperation(format!(
                "a shared value of {}-byte elements arrived as {} ({} bytes)",
                wire.size,
                std::any::type_name::<T>(),
                std::mem::size_of::<T>()
            )));
        }
        let offset = usize::try_from(wire.offset).unwrap_or(usize::MAX);
        let len = usize::try_from(wire.len).unwrap_or(usize::MAX);
        Cells::new(region, offset, len)
    }
}

#[derive(Serialize)]
struct CellsWire<'a> {
    region: Option<&'a Region>,
    offset: u64,
    len: u64,
    size: u64,
}

#[derive(Deserialize)]
struct CellsWireOwned {
    region: Option<RegionRef>,
    offset: u64,
    len: u64,
    size: u64,
}

fn wire_error<E: serde::de::Error>(err: Error) -> E {
    E::custom(err)
}

// ---------------------------------------------------------------------------------------------
// Value and Array (synchronized), RawValue and RawArray.

/// A `T` in shared memory with a process-shared lock (CPython's `multiprocessing.Value`, with
/// its default `lock=True`).
///
/// [`get`](Self::get) and [`set`](Self::set) each take the lock, so they are atomic, but
/// `v.set(v.get()? + 1)` is not: hold the lock across a read-modify-write, either with
/// [`lock`](Self::lock), whose guard reads and writes the value, or with
/// [`get_lock`](Self::get_lock) as in Python (the lock is an [`RLock`], so `get` and `set` still
/// work while it is held):
///
/// ```
/// use multiprocessing::shared::Value;
/// let v = Value::new(10i32)?;
/// {
///     let guard = v.lock()?;
///     guard.set(guard.get() + 1);
/// }
/// {
///     let _held = v.get_lock().lock()?; // Python: `with v.get_lock():`
///     v.set(v.get()? * 2)?;
/// }
/// assert_eq!(v.get()?, 22);
/// # Ok::<(), multiprocessing::Error>(())
/// ```
///
/// Clones share the value. Pass it to a child as a `Process` argument under any start method.
/// If a process dies while holding the lock, the next `get`, `set` or `lock` returns
/// [`Error::OwnerDied`] once (see [`crate::sync`]).
pub struct Value<T: Pod> {
    cells: Cells<T>,
    lock: RLock,
}

impl<T: Pod> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value {
            cells: self.cells.clone(),
            lock: self.lock.clone(),
        }
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.get() {
            Ok(value) => write!(f, "Value({value:?})"),
            Err(_) => write!(f, "Value(<unavailable>)"),
        }
    }
}

impl<T: Pod> Value<T> {
    /// A new shared value with its own [`RLock`], in one shared mapping.
    pub fn new(value: T) -> Result<Value<T>> {
        let cells = Cells::allocate(RLock::AREA, 1)?;
        let lock = RLock::in_region(cells.region.clone(), 0)?;
        cells.set(0, value)?;
        Ok(Value { cells, lock })
    }

    /// A new shared value guarded by an existing lock (CPython's `Value(..., lock=rlock)`), so
    /// several values can be updated under one lock.
    ///
    /// ```
    /// use multiprocessing::{shared::Value, sync::RLock};
    /// let lock = RLock::new()?;
    /// let (a, b) = (Value::with_lock(1u8, lock.clone())?, Value::with_lock(2u8, lock)?);
    /// let _both = a.get_lock().lock()?;
    /// b.set(a.get()? + b.get()?)?;
    /// # Ok::<(), multiprocessing::Error>(())
    /// ```
    pub fn with_lock(value: T, lock: RLock) -> Result<Value<T>> {
        let cells = Cells::allocate(0, 1)?;
        cells.set(0, value)?;
        Ok(Value { cells, lock })
    }

    /// The value, read under the lock.
    pub fn get(&self) -> Result<T> {
        let _guard = self.lock.lock()?;
        self.cells.get(0)
    }

    /// Replaces the value, under the lock.
    pub fn set(&self, value: T) -> Result<()> {
        let _guard = self.lock.lock()?;
        self.cells.set(0, value)
    }

    /// The lock (CPython's `get_lock()`).
    pub fn get_lock(&self) -> &RLock {
        &self.lock
    }

    /// Takes the lock and returns a guard that reads and writes the value while holding it.
    pub fn lock(&self) -> Result<ValueGuard<'_, T>> {
        Ok(ValueGuard {
            cells: &self.cells,
            _guard: self.lock.lock()?,
        })
    }
}

/// The lock of a [`Value`], held: [`get`](Self::get) and [`set`](Self::set) the value.
#[must_use = "the lock is released when the guard is dropped"]
pub struct ValueGuard<'a, T: Pod> {
    cells: &'a Cells<T>,
    _guard: LockGuard<'a>,
}

impl<T: Pod> ValueGuard<'_, T> {
    /// The value.
    pub fn get(&self) -> T {
        // The only index is 0: in range.
        self.cells.get(0).unwrap_or_else(|_| unreachable_value())
    }

    /// Replaces the value.
    pub fn set(&self, value: T) {
        let _ = self.cells.set(0, value);
    }
}

/// Index 0 of a one-element `Cells` is always in range; this is never called.
#[cold]
fn unreachable_value<T: Pod>() -> T {
    // SAFETY: `T: Pod` makes the all-zero pattern a valid value.
    unsafe { std::mem::zeroed() }
}

impl<T: Pod> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&self.lock, self.cells.describe(Some(self.lock.region()))).serialize(serializer)
    }
}

impl<'de, T: Pod> Deserialize<'de> for Value<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (lock, wire) = <(RLock, CellsWireOwned)>::deserialize(deserializer)?;
        let cells = Cells::from_wire(wire, Some(lock.region())).map_err(wire_error)?;
        if cells.len != 1 {
            return Err(wire_error(Error::InvalidOperation(
                "an Array arrived where a Value was expected".to_owned(),
            )));
        }
        Ok(Value { cells, lock })
    }
}

/// A fixed-length array of `T` in shared memory with a process-shared lock (CPython's
/// `multiprocessing.Array`, with `lock=True`).
///
/// Element access ([`get`](Self::get), [`set`](Self::set)) and bulk copies
/// ([`read`](Self::read), [`write`](Self::write), [`to_vec`](Self::to_vec)) each take the lock;
/// [`lock`](Self::lock) holds it across several. An index out of range is
/// [`Error::InvalidOperation`] (CPython: `IndexError`).
///
/// ```
/// use multiprocessing::shared::Array;
/// let a = Array::from_slice(&[1.0f64, 2.0, 3.0])?;
/// a.set(1, 20.0)?;
/// assert_eq!(a.to_vec()?, vec![1.0, 20.0, 3.0]);
/// assert!(a.get(3).is_err());
/// # Ok::<(), multiprocessing::Error>(())
/// ```
pub struct Array<T: Pod> {
    cells: Cells<T>,
    lock: RLock,
}

impl<T: Pod> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            cells: self.cells.clone(),
            lock: self.lock.clone(),
        }
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Array(len={})", self.len())
    }
}

impl<T: Pod> Array<T> {
    /// `len` zeroed elements with their own [`RLock`] (CPython's `Array(typecode, len)`).
    pub fn new(len: usize) -> Result<Array<T>> {
        let cells = Cells::allocate(RLock::AREA, len)?;
        let lock = RLock::in_region(cells.region.clone(), 0)?;
        Ok(Array { cells, lock })
    }

    /// A copy of `values` (CPython's `Array(typecode, sequence)`).
    pub fn from_slice(values: &[T]) -> Result<Array<T>> {
        let array = Array::new(values.len())?;
        array.cells.write(0, values)?;
        Ok(array)
    }

    /// `len` zeroed elements guarded by an existing lock.
    pub fn with_lock(len: usize, lock: RLock) -> Result<Array<T>> {
        Ok(Array {
            cells: Cells::allocate(0, len)?,
            lock,
        })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.cells.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.cells.len == 0
    }

    /// Element `index`, under the lock.
    pub fn get(&self, index: usize) -> Result<T> {
        let _guard = self.lock.lock()?;
        self.cells.get(index)
    }

    /// Replaces element `index`, under the lock.
    pub fn set(&self, index: usize, value: T) -> Result<()> {
        let _guard = self.lock.lock()?;
        self.cells.set(index, value)
    }

    /// Copies `out.len()` elements starting at `start` into `out`, under the lock.
    pub fn read(&self, start: usize, out: &mut [T]) -> Result<()> {
        let _guard = self.lock.lock()?;
        self.cells.read(start, out)
    }

    /// Copies `data` into the array starting at `start`, under the lock (a `memcpy`).
    pub fn write(&self, start: usize, data: &[T]) -> Result<()> {
        let _guard = self.lock.lock()?;
        self.cells.write(start, data)
    }

    /// All elements, copied under the lock (CPython's `a[:]`).
    pub fn to_vec(&self) -> Result<Vec<T>> {
        let _guard = self.lock.lock()?;
        Ok(self.cells.to_vec())
    }

    /// The lock (CPython's `get_lock()`).
    pub fn get_lock(&self) -> &RLock {
        &self.lock
    }

    /// Takes the lock and returns a guard that accesses the elements while holding it.
    pub fn lock(&self) -> Result<ArrayGuard<'_, T>> {
        Ok(ArrayGuard {
            cells: &self.cells,
            _guard: self.lock.lock()?,
        })
    }
}

/// The lock of an [`Array`], held: access the elements without taking it again.
#[must_use = "the lock is released when the guard is dropped"]
pub struct ArrayGuard<'a, T: Pod> {
    cells: &'a Cells<T>,
    _guard: LockGuard<'a>,
}

impl<T: Pod> ArrayGuard<'_, T> {
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.cells.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.cells.len == 0
    }

    /// Element `index`.
    pub fn get(&self, index: usize) -> Result<T> {
        self.cells.get(index)
    }

    /// Replaces element `index`.
    pub fn set(&self, index: usize, value: T) -> Result<()> {
        self.cells.set(index, value)
    }

    /// Copies elements from `start` into `out`.
    pub fn read(&self, start: usize, out: &mut [T]) -> Result<()> {
        self.cells.read(start, out)
    }

    /// Copies `data` into the array from `start`.
    pub fn write(&self, start: usize, data: &[T]) -> Result<()> {
        self.cells.write(start, data)
    }

    /// All elements.
    pub fn to_vec(&self) -> Vec<T> {
        self.cells.to_vec()
    }
}

impl<T: Pod> Serialize for Array<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (&self.lock, self.cells.describe(Some(self.lock.region()))).serialize(serializer)
    }
}

impl<'de, T: Pod> Deserialize<'de> for Array<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (lock, wire) = <(RLock, CellsWireOwned)>::deserialize(deserializer)?;
        let cells = Cells::from_wire(wire, Some(lock.region())).map_err(wire_error)?;
        Ok(Array { cells, lock })
    }
}

/// A `T` in shared memory without a lock (CPython's `RawValue`, or `Value(..., lock=False)`).
///
/// Reads and writes are single copies, not synchronized: a `T` wider than the machine word may
/// be seen half-written while another process writes it. Use a [`Value`] or a separate lock for
/// read-modify-write.
///
/// ```
/// let flag = multiprocessing::shared::RawValue::new(false)?;
/// flag.set(true);
/// assert!(flag.get());
/// # Ok::<(), multiprocessing::Error>(())
/// ```
pub struct RawValue<T: Pod> {
    cells: Cells<T>,
}

impl<T: Pod> Clone for RawValue<T> {
    fn clone(&self) -> Self {
        RawValue {
            cells: self.cells.clone(),
        }
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawValue({:?})", self.get())
    }
}

impl<T: Pod> RawValue<T> {
    /// A new shared value.
    pub fn new(value: T) -> Result<RawValue<T>> {
        let cells = Cells::allocate(0, 1)?;
        cells.set(0, value)?;
        Ok(RawValue { cells })
    }

    /// The value.
    pub fn get(&self) -> T {
        self.cells.get(0).unwrap_or_else(|_| unreachable_value())
    }

    /// Replaces the value.
    pub fn set(&self, value: T) {
        let _ = self.cells.set(0, value);
    }
}

impl<T: Pod> Serialize for RawValue<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.cells.describe(None).serialize(serializer)
    }
}

impl<'de, T: Pod> Deserialize<'de> for RawValue<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = CellsWireOwned::deserialize(deserializer)?;
        let cells = Cells::from_wire(wire, None).map_err(wire_error)?;
        if cells.len != 1 {
            return Err(wire_error(Error::InvalidOperation(
                "a RawArray arrived where a RawValue was expected".to_owned(),
            )));
        }
        Ok(RawValue { cells })
    }
}

/// A fixed-length array of `T` in shared memory without a lock (CPython's `RawArray`).
///
/// ```
/// let a = multiprocessing::shared::RawArray::<u8>::new(1 << 20)?;
/// a.write(0, b"bulk data")?;
/// assert_eq!(a.get(0)?, b'b');
/// # Ok::<(), multiprocessing::Error>(())
/// ```
pub struct RawArray<T: Pod> {
    cells: Cells<T>,
}

impl<T: Pod> Clone for RawArray<T> {
    fn clone(&self) -> Self {
        RawArray {
            cells: self.cells.clone(),
        }
    }
}

impl<T: Pod> std::fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawArray(len={})", self.len())
    }
}

impl<T: Pod> RawArray<T> {
    /// `len` zeroed elements.
    pub fn new(len: usize) -> Result<RawArray<T>> {
        Ok(RawArray {
            cells: Cells::allocate(0, len)?,
        })
    }

    /// A copy of `values`.
    pub fn from_slice(values: &[T]) -> Result<RawArray<T>> {
        let array = RawArray::new(values.len())?;
        array.cells.write(0, values)?;
        Ok(array)
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.cells.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.cells.len == 0
    }

    /// Element `index`.
    pub fn get(&self, index: usize) -> Result<T> {
        self.cells.get(index)
    }

    /// Replaces element `index`.
    pub fn set(&self, index: usize, value: T) -> Result<()> {
        self.cells.set(index, value)
    }

    /// Copies elements from `start` into `out`.
    pub fn read(&self, start: usize, out: &mut [T]) -> Result<()> {
        self.cells.read(start, out)
    }

    /// Copies `data` into the array from `start` (a `memcpy`).
    pub fn write(&self, start: usize, data: &[T]) -> Result<()> {
        self.cells.write(start, data)
    }

    /// All elements.
    pub fn to_vec(&self) -> Vec<T> {
        self.cells.to_vec()
    }
}

impl<T: Pod> Serialize for RawArray<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.cells.describe(None).serialize(serializer)
    }
}

impl<'de, T: Pod> Deserialize<'de> for RawArray<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = CellsWireOwned::deserialize(deserializer)?;
        Ok(RawArray {
            cells: Cells::from_wire(wire, None).map_err(wire_error)?,
        })
    }
}
