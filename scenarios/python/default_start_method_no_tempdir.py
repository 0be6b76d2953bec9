"""default-start-method-no-tempdir: on Linux, where no temporary directory is writable, the default
start method is spawn (CPython 3.14.9+, gh-155717: its forkserver needs a socket file). Before
3.14 it is fork (variant `fork-before-3-14`); 3.14.0 to 3.14.8 keep forkserver (variant
`no-fallback`).

The program makes every candidate of `tempfile` unwritable in a mount namespace of its own:
read-only tmpfs over /tmp and /var/tmp, no TMPDIR/TEMP/TMP, and /proc as its current directory.
It needs root or unprivileged user namespaces. The start-method argument is ignored."""
import ctypes
import os
import multiprocessing

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)

CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
MS_RDONLY, MS_REC, MS_PRIVATE = 1, 0x4000, 1 << 18


def without_writable_tempdir():
    libc = ctypes.CDLL(None, use_errno=True)
    flags = CLONE_NEWNS if os.geteuid() == 0 else CLONE_NEWNS | CLONE_NEWUSER
    if libc.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "unshare: a mount namespace is needed")
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    for d in (b"/tmp", b"/var/tmp", b"/usr/tmp"):
        if os.path.isdir(d) and libc.mount(b"tmpfs", d, b"tmpfs", MS_RDONLY, None) != 0:
            raise OSError(ctypes.get_errno(), f"mount a read-only tmpfs on {d}")
    for name in ("TMPDIR", "TEMP", "TMP"):
        os.environ.pop(name, None)
    os.chdir("/proc")


if __name__ == '__main__':
    without_writable_tempdir()
    print(f"default start method: {multiprocessing.get_start_method()}", flush=True)
