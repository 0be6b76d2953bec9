"""active-children: active_children() is empty before start, lists a running child, and is empty
after join."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def blocked(conn):
    conn.send("ready")
    conn.recv()


def names():
    return sorted(c.name for c in multiprocessing.active_children())


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    here, there = ctx.Pipe()
    p = ctx.Process(target=blocked, args=(there,), name='worker')
    print(f"before start: {names()}", flush=True)
    p.start()
    here.recv()
    print(f"while running: {names()}", flush=True)
    here.send("go")
    p.join()
    print(f"after join: {names()}", flush=True)
