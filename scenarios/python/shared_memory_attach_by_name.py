"""shared-memory-attach-by-name: the parent creates a SharedMemory segment; a child attaches to it
by name and writes into it; the parent reads what the child wrote. The parent then unlinks it."""
import multiprocessing
import sys
from multiprocessing import shared_memory

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def writer(name):
    shm = shared_memory.SharedMemory(name=name)
    print(f"child attached to {{shm:{shm.name}}}", flush=True)
    shm.buf[:5] = b"hello"
    shm.close()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    shm = shared_memory.SharedMemory(create=True, size=64)
    print(f"parent created {{shm:{shm.name}}}, size at least 64: {shm.size >= 64}", flush=True)
    print(f"initially zero: {bytes(shm.buf[:5]) == bytes(5)}", flush=True)
    p = ctx.Process(target=writer, args=(shm.name,))
    p.start()
    p.join()
    print(f"parent reads: {bytes(shm.buf[:5]).decode()}", flush=True)
    shm.close()
    shm.unlink()
    print(f"exitcode: {p.exitcode}", flush=True)
