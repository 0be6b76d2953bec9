"""lock-locked: Lock.locked() and RLock.locked() (new in 3.14) say whether the lock is held, by
any process: False while free, True while the parent holds it (as a child sees it, and the parent
itself), an RLock still True after one of two releases, False again once released."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def observer(lock, rlock, conn):
    while True:
        when = conn.recv()
        if when is None:
            break
        sys.stdout.write(f"child sees, {when}: Lock {lock.locked()}, RLock {rlock.locked()}\n")
        sys.stdout.flush()
        conn.send("seen")


def ask(conn, when):
    conn.send(when)
    conn.recv()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    lock, rlock = ctx.Lock(), ctx.RLock()
    here, there = ctx.Pipe()
    p = ctx.Process(target=observer, args=(lock, rlock, there))
    p.start()
    print(f"parent sees, free: Lock {lock.locked()}, RLock {rlock.locked()}", flush=True)
    ask(here, "free")
    lock.acquire()
    rlock.acquire()
    rlock.acquire()
    print(f"parent sees, held: Lock {lock.locked()}, RLock {rlock.locked()}", flush=True)
    ask(here, "held by the parent (RLock twice)")
    rlock.release()
    ask(here, "RLock released once of twice")
    rlock.release()
    lock.release()
    ask(here, "released")
    print(f"parent sees, released: Lock {lock.locked()}, RLock {rlock.locked()}", flush=True)
    here.send(None)
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
