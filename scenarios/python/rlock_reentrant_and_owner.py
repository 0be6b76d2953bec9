"""rlock-reentrant-and-owner: a child acquires an RLock twice (reentrant); while it holds it, the
parent cannot acquire it and its release() fails with InvalidOperation; the lock is free only after
the child has released it as many times as it acquired it."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def holder(rlock, conn):
    print(f"child acquire: {rlock.acquire()}", flush=True)
    print(f"child acquire again: {rlock.acquire(timeout=5)}", flush=True)
    conn.send("held twice")
    conn.recv()
    rlock.release()
    conn.send("released once")
    conn.recv()
    rlock.release()
    conn.send("released twice")
    conn.close()


def parent_try(rlock, when):
    got = rlock.acquire(block=False)
    print(f"parent acquire(block=False) {when}: {got}", flush=True)
    if got:
        rlock.release()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    rlock = ctx.RLock()
    here, there = ctx.Pipe()
    p = ctx.Process(target=holder, args=(rlock, there))
    p.start()
    there.close()
    print(f"child says: {here.recv()}", flush=True)
    parent_try(rlock, "while the child holds it twice")
    try:
        rlock.release()
        print("parent release of the child's lock: ok", flush=True)
    except AssertionError:  # "attempt to release recursive lock not owned by thread"
        print("parent release of the child's lock: InvalidOperation", flush=True)
    here.send("go")
    print(f"child says: {here.recv()}", flush=True)
    parent_try(rlock, "while the child holds it once")
    here.send("go")
    print(f"child says: {here.recv()}", flush=True)
    parent_try(rlock, "after the child released it twice")
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
