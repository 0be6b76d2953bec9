"""pool-terminate-running: terminate() stops a worker in the middle of a task; after join() no
worker is left."""
import multiprocessing
import os
import sys
import time

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)

started = None


def remember(q):
    global started
    started = q


def sleep_long(_):
    started.put(os.getpid())
    time.sleep(600)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    q = ctx.Queue()
    pool = ctx.Pool(2, initializer=remember, initargs=(q,))
    pool.apply_async(sleep_long, (0,))
    pid = q.get(timeout=60)
    print(f"task running in {{pid:{pid}}}", flush=True)
    pool.terminate()
    pool.join()
    try:
        os.kill(pid, 0)
        print("worker alive: True", flush=True)
    except ProcessLookupError:
        print("worker alive: False", flush=True)
    print(f"active children: {len(multiprocessing.active_children())}", flush=True)
