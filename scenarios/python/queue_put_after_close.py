"""queue-put-after-close: after close(), put() on that Queue in this process fails with
InvalidOperation; the items put before close() still reach a child that gets them."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def consumer(q, conn):
    conn.send([q.get(timeout=60) for _ in range(2)])
    conn.close()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    q = ctx.Queue()
    q.put("one")
    q.put("two")
    here, there = ctx.Pipe()
    p = ctx.Process(target=consumer, args=(q, there))
    p.start()
    there.close()
    q.close()
    try:
        q.put("three")
        print("put after close: ok", flush=True)
    except ValueError:  # "Queue <...> is closed"
        print("put after close: InvalidOperation", flush=True)
    print(f"the child got: {here.recv()}", flush=True)
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
