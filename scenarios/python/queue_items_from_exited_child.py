"""queue-items-from-exited-child: a child puts 100 items on a Queue and exits; after the parent
has joined it, every item is still delivered, in order.

(The items fit in the pipe's buffer, so CPython's child can flush its feeder thread and exit before
anyone reads; with more data than that, joining first would deadlock CPython, as its documentation
warns.)"""
import multiprocessing
import queue as stdqueue
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)

N = 100


def producer(q):
    for i in range(N):
        q.put(i)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    q = ctx.Queue()
    p = ctx.Process(target=producer, args=(q,))
    p.start()
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
    got = [q.get(timeout=60) for _ in range(N)]
    print(f"got after the child exited: {len(got)} items, sum {sum(got)}, "
          f"in order: {got == list(range(N))}", flush=True)
    try:
        q.get(timeout=0.1)
        print("one more get: ok", flush=True)
    except stdqueue.Empty:
        print("one more get: Empty", flush=True)
