"""current-process-main: the main process is MainProcess and has no parent_process(); in a child
current_process() is the child."""
import multiprocessing
import sys
from multiprocessing import current_process

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def child():
    print(f"child current_process: {current_process().name}", flush=True)
    print(f"child parent_process: {multiprocessing.parent_process().name}", flush=True)


if __name__ == '__main__':
    multiprocessing.set_start_method(sys.argv[1])
    print(f"main current_process: {current_process().name}", flush=True)
    print(f"main parent_process: {multiprocessing.parent_process()}", flush=True)
    p = multiprocessing.Process(target=child)
    p.start()
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
