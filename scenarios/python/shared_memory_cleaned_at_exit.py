"""shared-memory-cleaned-at-exit: a child creates a SharedMemory segment, puts its name on a queue,
closes its handle and exits; the parent attaches, reads and closes, and nobody ever unlinks it.
The segment does not outlive the program: the resource tracker unlinks it once the program has
ended, with a warning on stderr (the runner checks /dev/shm).

As in shared-memory-outlives-creator, the parent uses shared memory before it starts the child, so
that under fork the child shares the parent's tracker in CPython."""
import multiprocessing
import sys
from multiprocessing import shared_memory

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def creator(names):
    shm = shared_memory.SharedMemory(create=True, size=16)
    shm.buf[:4] = b"left"
    names.put(shm.name)
    shm.close()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    own = shared_memory.SharedMemory(create=True, size=16)
    own.close()
    own.unlink()
    names = ctx.Queue()
    p = ctx.Process(target=creator, args=(names,))
    p.start()
    name = names.get(timeout=60)
    p.join()
    print(f"creator exitcode: {p.exitcode}", flush=True)
    shm = shared_memory.SharedMemory(name=name)
    print(f"parent attached to {{shm:{name}}}, reads {bytes(shm.buf[:4]).decode()}", flush=True)
    shm.close()
    print("nobody unlinks it", flush=True)
