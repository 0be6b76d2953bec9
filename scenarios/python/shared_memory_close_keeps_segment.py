"""shared-memory-close-keeps-segment: close() unmaps a handle and never unlinks, not even the
creator's last handle: the creator closes its segment, attaches to it again by name and reads what
it wrote; a child attaches too. Only unlink() removes the name."""
import multiprocessing
import sys
from multiprocessing import shared_memory

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def attach(name):
    try:
        shm = shared_memory.SharedMemory(name=name)
        print(f"child attach: ok, reads {bytes(shm.buf[:4]).decode()}", flush=True)
        shm.close()
    except FileNotFoundError:
        print("child attach: NotFound", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    shm = shared_memory.SharedMemory(create=True, size=16)
    shm.buf[:4] = b"data"
    name = shm.name
    shm.close()
    print("creator closed its only handle", flush=True)
    again = shared_memory.SharedMemory(name=name)
    print(f"attach after close: ok, reads {bytes(again.buf[:4]).decode()}", flush=True)
    again.close()
    p = ctx.Process(target=attach, args=(name,))
    p.start()
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
    last = shared_memory.SharedMemory(name=name)
    last.unlink()
    last.close()
    try:
        shared_memory.SharedMemory(name=name)
        print("attach after unlink: ok", flush=True)
    except FileNotFoundError:
        print("attach after unlink: NotFound", flush=True)
