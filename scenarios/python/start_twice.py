"""start-twice: a second start() of the same Process fails with AlreadyStarted; the child runs once."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def work():
    print("child ran", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    p = ctx.Process(target=work)
    p.start()
    try:
        p.start()
        outcome = "ok"
    except AssertionError:  # "cannot start a process twice"
        outcome = "AlreadyStarted"
    p.join()
    print(f"second start: {outcome}", flush=True)
    print(f"exitcode: {p.exitcode}", flush=True)
