"""lock-release-by-other-process: a Lock has no owner in CPython: the parent may release the Lock a
child acquired, and it is then free (the parent's acquire(block=False) succeeds). The reference
deviates: only the holder may release (InvalidOperation), see SPEC 12."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def holder(lock, conn):
    print(f"child acquire: {lock.acquire()}", flush=True)
    conn.send("holding")
    conn.recv()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    lock = ctx.Lock()
    here, there = ctx.Pipe()
    p = ctx.Process(target=holder, args=(lock, there))
    p.start()
    print(f"child says: {here.recv()}", flush=True)
    try:
        lock.release()
        print("parent release of the child's Lock: ok", flush=True)
    except ValueError:  # "semaphore or lock released too many times": CPython, when not held
        print("parent release of the child's Lock: InvalidOperation", flush=True)
    got = lock.acquire(block=False)
    print(f"parent acquire(block=False): {got}", flush=True)
    if got:
        lock.release()
    here.send("go")
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
