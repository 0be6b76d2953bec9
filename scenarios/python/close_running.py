"""close-running: close() on a running child fails with StillRunning; once the child has ended and
been joined, close() succeeds."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def blocked(conn):
    conn.send("ready")
    conn.recv()  # nobody ever sends


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    here, there = ctx.Pipe()
    p = ctx.Process(target=blocked, args=(there,))
    p.start()
    here.recv()
    try:
        p.close()
        print("close while running: ok", flush=True)
    except ValueError:  # "Cannot close a process while it is still running. ..."
        print("close while running: StillRunning", flush=True)
    print(f"is_alive: {p.is_alive()}", flush=True)
    p.terminate()
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
    p.close()
    print("close after join: ok", flush=True)
