"""pool-initializer-once: the initializer runs once in each worker, before its tasks, and its
arguments may carry a Queue."""
import multiprocessing
import os
import queue as stdqueue
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def announce(q):
    q.put(os.getpid())


def pid(_):
    return os.getpid()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    q = ctx.Queue()
    with ctx.Pool(3, initializer=announce, initargs=(q,)) as pool:
        task_pids = set(pool.map(pid, range(30), chunksize=1))
        init_pids = [q.get(timeout=60) for _ in range(3)]
        print(f"initializer calls: {len(init_pids)} in {len(set(init_pids))} workers", flush=True)
        print(f"tasks ran in initialized workers: {task_pids <= set(init_pids)}", flush=True)
        try:
            q.get(timeout=0.2)
            print("a fourth call: yes", flush=True)
        except stdqueue.Empty:
            print("a fourth call: Empty", flush=True)
