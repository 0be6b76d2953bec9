"""shared-memory-as-argument: a SharedMemory passed to a child as a Process argument is the same
segment there, under every start method: what the child writes, the parent reads."""
import multiprocessing
import sys
from multiprocessing import shared_memory

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def child(shm):
    shm.buf[:6] = b"shared"
    print("child: SharedMemory written", flush=True)
    shm.close()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    shm = shared_memory.SharedMemory(create=True, size=16)
    try:
        p = ctx.Process(target=child, args=(shm,))
        p.start()
        p.join()
        print(f"parent: SharedMemory reads: {bytes(shm.buf[:6]).decode()}", flush=True)
        print(f"exitcode: {p.exitcode}", flush=True)
    finally:
        shm.close()
        shm.unlink()
