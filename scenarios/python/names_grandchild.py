"""names-grandchild: the first child created by Process-1 is named Process-1:1."""
import multiprocessing
import sys
from multiprocessing import current_process

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def grandchild():
    print(f"grandchild: name {current_process().name}", flush=True)


def child(method):
    multiprocessing.set_start_method(method, force=True)
    g = multiprocessing.Process(target=grandchild)
    print(f"child {current_process().name} created {g.name}", flush=True)
    g.start()
    g.join()
    print(f"grandchild exitcode: {g.exitcode}", flush=True)


if __name__ == '__main__':
    multiprocessing.set_start_method(sys.argv[1])
    p = multiprocessing.Process(target=child, args=(sys.argv[1],))
    p.start()
    p.join()
    print(f"child exitcode: {p.exitcode}", flush=True)
