"""fork-lock-held-by-thread: a lock held by another thread of the parent at fork time stays held
in a fork child (nobody there can release it); spawn and forkserver children get a fresh lock."""
import multiprocessing
import sys
import threading

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)

LOCK = threading.Lock()


def holder(held, release):
    with LOCK:
        held.set()
        release.wait()


def child():
    print(f"child LOCK.acquire(timeout=0.2): {LOCK.acquire(timeout=0.2)}", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    held, release = threading.Event(), threading.Event()
    t = threading.Thread(target=holder, args=(held, release))
    t.start()
    held.wait()
    p = ctx.Process(target=child)
    p.start()
    p.join()
    release.set()
    t.join()
    print(f"exitcode: {p.exitcode}", flush=True)
