"""fork-threads-warning: from Python 3.12, forking while another thread runs emits a
DeprecationWarning "This process (pid=...) is multi-threaded, use of fork() may lead to deadlocks
in the child." (hidden by default; this program shows it with warnings.simplefilter)."""
import multiprocessing
import sys
import threading
import warnings

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def noop():
    pass


if __name__ == '__main__':
    warnings.simplefilter('always', DeprecationWarning)
    ctx = multiprocessing.get_context(sys.argv[1])
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    p = ctx.Process(target=noop)
    p.start()
    p.join()
    stop.set()
    t.join()
    print(f"exitcode: {p.exitcode}", flush=True)
