"""queue-get-timeout-empty: get(timeout=t) on an empty Queue fails with Empty after about t, and
get_nowait() and get(block=False) fail with Empty at once; an item a child puts afterwards is then
got normally."""
import multiprocessing
import queue as stdqueue
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def producer(q):
    q.put("late item")


def attempt(what, call):
    try:
        print(f"{what}: {call()}", flush=True)
    except stdqueue.Empty:
        print(f"{what}: Empty", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    q = ctx.Queue()
    attempt("get(timeout=0.2)", lambda: q.get(timeout=0.2))
    attempt("get_nowait()", q.get_nowait)
    attempt("get(block=False)", lambda: q.get(block=False))
    p = ctx.Process(target=producer, args=(q,))
    p.start()
    attempt("get(timeout=60) after a child put", lambda: q.get(timeout=60))
    p.join()
    attempt("get(timeout=0.1) again", lambda: q.get(timeout=0.1))
    print(f"exitcode: {p.exitcode}", flush=True)
