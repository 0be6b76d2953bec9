"""daemon-no-children: a daemonic process may not start children: start() there fails with
DaemonicChildren; the daemon catches it and ends normally (exitcode 0)."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def noop():
    pass


def daemon_body(method):
    print(f"daemon: {multiprocessing.current_process().daemon}", flush=True)
    g = multiprocessing.get_context(method).Process(target=noop)
    try:
        g.start()
        g.join()
        print("start in daemon: ok", flush=True)
    except AssertionError:  # "daemonic processes are not allowed to have children"
        print("start in daemon: DaemonicChildren", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    p = ctx.Process(target=daemon_body, args=(sys.argv[1],), daemon=True)
    p.start()
    p.join()
    print(f"daemon exitcode: {p.exitcode}", flush=True)
