"""fd-inheritance: a file descriptor the parent opened before start() is open (on the same file)
in a fork child, and not in spawn or forkserver children."""
import multiprocessing
import os
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def child(fd, path):
    try:
        st = os.fstat(fd)
    except OSError:
        same = False
    else:
        ref = os.stat(path)
        same = (st.st_dev, st.st_ino) == (ref.st_dev, ref.st_ino)
    print(f"child: descriptor open on the parent's file: {same}", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    path = os.path.abspath('inherited.txt')
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    p = ctx.Process(target=child, args=(fd, path))
    p.start()
    p.join()
    os.close(fd)
    os.unlink(path)
    print(f"exitcode: {p.exitcode}", flush=True)
