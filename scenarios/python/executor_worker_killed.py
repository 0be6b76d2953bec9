"""executor-worker-killed: a worker killed during a task breaks the executor: that future and every
later submit fail with BrokenProcessPool."""
import concurrent.futures
import concurrent.futures.process
import multiprocessing
import os
import signal
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def die(_):
    os.kill(os.getpid(), signal.SIGKILL)


def cube(x):
    return x * x * x


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    executor = concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=ctx)
    print(f"before: {executor.submit(cube, 2).result(60)}", flush=True)
    try:
        executor.submit(die, 0).result(60)
        print("result: ok", flush=True)
    except concurrent.futures.process.BrokenProcessPool:
        print("result: BrokenProcessPool", flush=True)
    try:
        executor.submit(cube, 1).result(60)
        print("submit after: ok", flush=True)
    except concurrent.futures.process.BrokenProcessPool:
        print("submit after: BrokenProcessPool", flush=True)
    executor.shutdown(wait=True)
    print(f"active children: {len(multiprocessing.active_children())}", flush=True)
