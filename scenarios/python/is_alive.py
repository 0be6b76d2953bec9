"""is-alive: is_alive() is False before start, True while the child runs, False after join."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def blocked(conn):
    conn.send("ready")
    conn.recv()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    here, there = ctx.Pipe()
    p = ctx.Process(target=blocked, args=(there,))
    print(f"before start: {p.is_alive()}", flush=True)
    p.start()
    here.recv()
    print(f"while running: {p.is_alive()}", flush=True)
    here.send("go")
    p.join()
    print(f"after join: {p.is_alive()}", flush=True)
