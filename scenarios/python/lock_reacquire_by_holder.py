"""lock-reacquire-by-holder: a blocking acquire() of a Lock by the process that holds it waits for
ever in CPython (a Lock is not reentrant): the parent's join(timeout=1) finds the child still
alive, and terminate() ends it (-15). The reference deviates: the second acquire() fails at once
with InvalidOperation, see SPEC 12."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def reacquire(lock, conn):
    print(f"child acquire: {lock.acquire()}", flush=True)
    conn.send("holding")
    print(f"child acquire again: {lock.acquire()}", flush=True)  # never printed by CPython


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    lock = ctx.Lock()
    here, there = ctx.Pipe()
    p = ctx.Process(target=reacquire, args=(lock, there))
    p.start()
    print(f"child says: {here.recv()}", flush=True)
    p.join(timeout=1)
    print(f"alive after join(timeout=1): {p.is_alive()}", flush=True)
    p.terminate()
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
