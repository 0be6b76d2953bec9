"""isolation-child-global: a child's assignment to a module global is not seen by the parent."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)

COUNTER = 0


def child():
    global COUNTER
    COUNTER = 99
    print(f"child sees: {COUNTER}", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    p = ctx.Process(target=child)
    p.start()
    p.join()
    print(f"parent sees after join: {COUNTER}", flush=True)
