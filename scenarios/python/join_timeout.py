"""join-timeout: join(timeout) on a child that keeps running returns after the timeout, leaving it
alive with exitcode None."""
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
    result = p.join(timeout=0.1)
    print(f"join(timeout=0.1) returned: {result}", flush=True)
    print(f"is_alive: {p.is_alive()}", flush=True)
    print(f"exitcode: {p.exitcode}", flush=True)
    p.terminate()
    p.join()
    print(f"after terminate and join, exitcode: {p.exitcode}", flush=True)
