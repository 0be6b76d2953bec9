"""exitcode-kill: a blocked child ended by kill() has exitcode -9 (minus the signal number)."""
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
    p.kill()
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
