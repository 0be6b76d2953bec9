"""exitcode-sys-exit: sys.exit(3) in the target gives exitcode 3."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def work():
    sys.exit(3)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    p = ctx.Process(target=work)
    p.start()
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
