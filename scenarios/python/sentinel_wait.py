"""sentinel-wait: multiprocessing.connection.wait() on two sentinels returns when one child ends,
with only that child's sentinel."""
import multiprocessing
import sys
from multiprocessing.connection import wait

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def quick():
    pass


def blocked(conn):
    conn.recv()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    here, there = ctx.Pipe()
    a = ctx.Process(target=quick, name='quick')
    b = ctx.Process(target=blocked, args=(there,), name='blocked')
    b.start()
    a.start()
    ready = wait([a.sentinel, b.sentinel])
    print(f"ready: {[p.name for p in (a, b) if p.sentinel in ready]}", flush=True)
    here.send("go")
    a.join()
    b.join()
    print(f"exitcodes: {a.exitcode} {b.exitcode}", flush=True)
