"""pool-worker-killed: a worker killed in the middle of a map. CPython's Pool replaces the worker
but never completes the map: get(timeout) times out (without a timeout it waits for ever). The
reference fails the lost task with WorkerLost instead (SPEC.md 12, deviations.toml)."""
import multiprocessing
import os
import signal
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def die_on_two(x):
    if x == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def square(x):
    return x * x


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    with ctx.Pool(2) as pool:
        r = pool.map_async(die_on_two, range(5), chunksize=1)
        try:
            r.get(5)
            print("get: ok", flush=True)
        except multiprocessing.TimeoutError:
            print("get: Timeout", flush=True)
        except Exception as e:  # what an implementation that does not hang raises
            print(f"get: {type(e).__name__}", flush=True)
        print(f"map after: {pool.map(square, range(4))}", flush=True)
