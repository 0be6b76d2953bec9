"""bounded-semaphore-over-release: releasing a BoundedSemaphore(2) beyond its initial value fails
with InvalidOperation, in the parent and in a child, and the value stays at 2: two acquires
succeed, a third does not."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def attempt(who, sem):
    try:
        sem.release()
        print(f"{who} release beyond the bound: ok", flush=True)
    except ValueError:  # "semaphore or lock released too many times"
        print(f"{who} release beyond the bound: InvalidOperation", flush=True)


def child(sem):
    print(f"child acquire: {sem.acquire(timeout=60)}", flush=True)
    sem.release()
    print("child release of what it acquired: ok", flush=True)
    attempt("child", sem)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    sem = ctx.BoundedSemaphore(2)
    attempt("parent", sem)
    p = ctx.Process(target=child, args=(sem,))
    p.start()
    p.join()
    print(f"acquires after the child: {[sem.acquire(block=False) for _ in range(3)]}", flush=True)
    print(f"exitcode: {p.exitcode}", flush=True)
