"""global-after-start: a global changed by the main process (after its import, before start()) is
seen changed by a fork child, but with its import-time value by spawn and forkserver children."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)

VALUE = 'original'


def child():
    print(f"child sees: {VALUE}", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    VALUE = 'changed'
    print(f"parent sees: {VALUE}", flush=True)
    p = ctx.Process(target=child)
    p.start()
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
