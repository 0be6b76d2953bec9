"""child-default-start-method: a child's default start method is the method that started it,
whether it was started from an explicit context or from the default one."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def report(how):
    print(f"child started {how}: get_start_method(allow_none=True) is "
          f"{multiprocessing.get_start_method(allow_none=True)}", flush=True)


if __name__ == '__main__':
    method = sys.argv[1]
    p = multiprocessing.get_context(method).Process(target=report, args=("from a context",))
    p.start()
    p.join()
    multiprocessing.set_start_method(method, force=True)
    p = multiprocessing.Process(target=report, args=("from the default context",))
    p.start()
    p.join()
