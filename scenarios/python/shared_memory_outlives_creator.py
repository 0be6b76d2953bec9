"""shared-memory-outlives-creator: a child creates a SharedMemory segment, writes into it, puts its
name on a queue, closes its handle and exits. After joining it, the parent attaches to the segment
by name, reads what the child wrote, and unlinks it: closing a handle never unlinks, and a segment
lives until unlink() or until the program ends, not until its creator ends.

The parent creates a segment of its own first (the request the child reads). Under fork, CPython's
child then shares the parent's resource tracker; a fork child of a parent that has never used
shared memory (nor started a spawn or forkserver child) starts a tracker of its own, which unlinks
the child's segments once the child has gone: a race with the parent's attach."""
import multiprocessing
import sys
from multiprocessing import shared_memory

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def creator(request_name, names):
    request = shared_memory.SharedMemory(name=request_name)
    size = request.buf[0]
    request.close()
    reply = shared_memory.SharedMemory(create=True, size=size)
    reply.buf[:5] = b"kept!"
    names.put(reply.name)
    reply.close()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    request = shared_memory.SharedMemory(create=True, size=1)
    request.buf[0] = 16
    names = ctx.Queue()
    p = ctx.Process(target=creator, args=(request.name, names))
    p.start()
    name = names.get(timeout=60)
    p.join()
    print(f"creator exitcode: {p.exitcode}", flush=True)
    try:
        reply = shared_memory.SharedMemory(name=name)
    except FileNotFoundError:
        print("parent attach after the creator exited: NotFound", flush=True)
    else:
        print(f"parent attach after the creator exited: ok, {{shm:{name}}} reads "
              f"{bytes(reply.buf[:5]).decode()}", flush=True)
        reply.close()
        reply.unlink()
    request.close()
    request.unlink()
    try:
        shared_memory.SharedMemory(name=name)
        print("attach after unlink: ok", flush=True)
    except FileNotFoundError:
        print("attach after unlink: NotFound", flush=True)
