"""queue-put-nowait-full: on a Queue(maxsize=2) holding two items, put_nowait() and put(timeout)
fail with Full; once a child has got an item, there is room for one more."""
import multiprocessing
import queue as stdqueue
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def consumer(q, conn):
    conn.send(q.get(timeout=60))
    conn.close()


def attempt(what, call):
    try:
        call()
        print(f"{what}: ok", flush=True)
    except stdqueue.Full:
        print(f"{what}: Full", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    q = ctx.Queue(maxsize=2)
    q.put("a")
    q.put("b")
    print(f"full: {q.full()}", flush=True)
    attempt("put_nowait('c')", lambda: q.put_nowait("c"))
    attempt("put('c', timeout=0.2)", lambda: q.put("c", timeout=0.2))
    attempt("put('c', block=False)", lambda: q.put("c", block=False))
    here, there = ctx.Pipe()
    p = ctx.Process(target=consumer, args=(q, there))
    p.start()
    there.close()
    print(f"the child got: {here.recv()}", flush=True)
    attempt("put_nowait('c') after the child's get", lambda: q.put_nowait("c"))
    attempt("put_nowait('d')", lambda: q.put_nowait("d"))
    p.join()
    print(f"left: {q.get(timeout=60)}, {q.get(timeout=60)}", flush=True)
    print(f"exitcode: {p.exitcode}", flush=True)
