"""before-start: before start(), pid and exitcode are None and is_alive() is False."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def work():
    pass


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    p = ctx.Process(target=work)
    print(f"pid: {p.pid}", flush=True)
    print(f"exitcode: {p.exitcode}", flush=True)
    print(f"is_alive: {p.is_alive()}", flush=True)
