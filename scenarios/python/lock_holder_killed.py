"""lock-holder-killed: a Lock whose holder was killed stays held for ever in CPython: every
acquire(timeout=0.2) returns False. The reference deviates: the next acquire reports OwnerDied
(and holds the lock), see SPEC 12."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def holder(lock, conn):
    lock.acquire()
    conn.send("holding")
    conn.recv()  # nobody ever sends


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    lock = ctx.Lock()
    here, there = ctx.Pipe()
    p = ctx.Process(target=holder, args=(lock, there))
    p.start()
    print(f"child says: {here.recv()}", flush=True)
    p.kill()
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
    print(f"acquire(timeout=0.2): {lock.acquire(timeout=0.2)}", flush=True)
    print(f"acquire(timeout=0.2) again: {lock.acquire(timeout=0.2)}", flush=True)
