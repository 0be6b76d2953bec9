"""child-pid-and-parent: the child runs in another process; parent_process() is the starting
process under every method; the OS parent is the fork server under forkserver."""
import multiprocessing
import os
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def child():
    print(f"child pid: {{pid:{os.getpid()}}}", flush=True)
    print(f"child parent_process().pid: {{pid:{multiprocessing.parent_process().pid}}}", flush=True)
    print(f"child os.getppid(): {{pid:{os.getppid()}}}", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    print(f"parent pid: {{pid:{os.getpid()}}}", flush=True)
    p = ctx.Process(target=child)
    p.start()
    p.join()
    print(f"parent sees child pid: {{pid:{p.pid}}}", flush=True)
    print(f"exitcode: {p.exitcode}", flush=True)
