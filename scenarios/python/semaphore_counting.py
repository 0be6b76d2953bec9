"""semaphore-counting: a Semaphore(3) admits three acquires and refuses a fourth; a child's
non-blocking acquire fails while the count is 0 and its blocking acquire succeeds once the parent
releases one; the child's releases count for the parent (a semaphore has no owner)."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def child(sem, conn):
    print(f"child acquire(block=False) at 0: {sem.acquire(block=False)}", flush=True)
    conn.send("tried")
    print(f"child acquire(timeout=60) after the parent's release: {sem.acquire(timeout=60)}",
          flush=True)
    sem.release()
    sem.release()
    conn.send("released two")
    conn.close()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    sem = ctx.Semaphore(3)
    print(f"acquires: {[sem.acquire(block=False) for _ in range(4)]}", flush=True)
    print(f"acquire(timeout=0.2) at 0: {sem.acquire(timeout=0.2)}", flush=True)
    here, there = ctx.Pipe()
    p = ctx.Process(target=child, args=(sem, there))
    p.start()
    there.close()
    print(f"child says: {here.recv()}", flush=True)
    sem.release()
    print(f"child says: {here.recv()}", flush=True)
    p.join()
    print(f"acquires after the child: {[sem.acquire(block=False) for _ in range(3)]}", flush=True)
    print(f"exitcode: {p.exitcode}", flush=True)
