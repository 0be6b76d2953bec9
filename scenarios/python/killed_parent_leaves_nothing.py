"""killed-parent-leaves-nothing: a program killed with SIGKILL, after its child was joined, leaves
nothing running: under forkserver the server exits by itself once its parent is gone (the runner
checks the program's session for survivors)."""
import multiprocessing
import os
import signal
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def work():
    pass


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    p = ctx.Process(target=work)
    p.start()
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
