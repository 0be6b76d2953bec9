"""shared-memory-creator-killed: a child creates a SharedMemory segment and is killed with SIGKILL
before it can unlink it; the segment is not left behind once the program has ended (the runner
checks /dev/shm). The parent attaches by name while the child lives and reads what it wrote."""
import multiprocessing
import sys
from multiprocessing import shared_memory

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def creator(conn):
    shm = shared_memory.SharedMemory(create=True, size=16)
    shm.buf[:5] = b"alive"
    conn.send(shm.name)
    conn.recv()  # never comes: the parent kills this process


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    here, there = ctx.Pipe()
    p = ctx.Process(target=creator, args=(there,))
    p.start()
    there.close()
    name = here.recv()
    seen = shared_memory.SharedMemory(name=name)
    print(f"parent attached to {{shm:{name}}}, reads: {bytes(seen.buf[:5]).decode()}", flush=True)
    seen.close()
    p.kill()
    p.join()
    print(f"creator exitcode: {p.exitcode}", flush=True)
