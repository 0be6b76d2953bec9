"""daemon-terminated-at-exit: when the main process ends, a still running daemonic child is
terminated, not waited for: `daemon survived` is never printed."""
import multiprocessing
import sys
import time

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def daemon_body(conn):
    conn.send("ready")
    time.sleep(2)
    print("daemon survived", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    here, there = ctx.Pipe()
    p = ctx.Process(target=daemon_body, args=(there,), daemon=True)
    p.start()
    here.recv()
    print("main: daemon is running", flush=True)
    print("main: end of main, no join", flush=True)
