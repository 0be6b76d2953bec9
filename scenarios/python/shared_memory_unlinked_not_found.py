"""shared-memory-unlinked-not-found: a child attaches to a segment by name while it exists; after
the parent has unlinked it, a second child's attach by the same name fails with NotFound."""
import multiprocessing
import sys
from multiprocessing import shared_memory

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def attach(name):
    try:
        shm = shared_memory.SharedMemory(name=name)
        print(f"child attach: ok, reads {bytes(shm.buf[:2]).decode()}", flush=True)
        shm.close()
    except FileNotFoundError:
        print("child attach: NotFound", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    shm = shared_memory.SharedMemory(create=True, size=16)
    shm.buf[:2] = b"hi"
    name = shm.name
    for when in ("before unlink", "after unlink"):
        if when == "after unlink":
            shm.close()
            shm.unlink()
            print("parent unlinked the segment", flush=True)
        p = ctx.Process(target=attach, args=(name,))
        p.start()
        p.join()
        print(f"{when}: exitcode {p.exitcode}", flush=True)
    try:
        shared_memory.SharedMemory(name=name)
        print("parent attach after unlink: ok", flush=True)
    except FileNotFoundError:
        print("parent attach after unlink: NotFound", flush=True)
