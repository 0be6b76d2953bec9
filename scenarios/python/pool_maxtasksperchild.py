"""pool-maxtasksperchild: with maxtasksperchild=1 every task runs in a new worker, and the pool
keeps its size."""
import multiprocessing
import os
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def pid(_):
    return os.getpid()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    pool = ctx.Pool(2, maxtasksperchild=1)
    pids = pool.map(pid, range(6), chunksize=1)
    pool.close()
    pool.join()
    # Printed only now: while the pool runs, its worker-handler thread forks replacements, and a
    # fork while this thread holds stdout's lock (printing) can leave the new worker stuck on
    # that lock when it flushes at exit, so join() waits for ever (a hang here was seen once on
    # CPython 3.15.2, after the first line).
    print(f"distinct workers: {len(set(pids))}", flush=True)
    print(f"active children after join: {len(multiprocessing.active_children())}", flush=True)
