"""join-before-start: join() on a Process that was never started fails with NotStarted."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def work():
    pass


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    p = ctx.Process(target=work)
    try:
        p.join()
        print("join: ok", flush=True)
    except AssertionError:  # "can only join a started process"
        print("join: NotStarted", flush=True)
