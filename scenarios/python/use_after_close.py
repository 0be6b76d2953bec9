"""use-after-close: after close(), pid, exitcode, is_alive() and join() fail with Closed."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def work():
    pass


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    p = ctx.Process(target=work)
    p.start()
    p.join()
    p.close()
    for what, use in [("pid", lambda: p.pid),
                      ("exitcode", lambda: p.exitcode),
                      ("is_alive()", lambda: p.is_alive()),
                      ("join()", lambda: p.join())]:
        try:
            value = use()
            print(f"{what}: ok {value}", flush=True)
        except ValueError:  # "process object is closed"
            print(f"{what}: Closed", flush=True)
