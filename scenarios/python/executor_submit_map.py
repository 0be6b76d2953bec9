"""executor-submit-map: ProcessPoolExecutor's submit and map return results; a task's exception
is the future's; submit after shutdown is refused."""
import concurrent.futures
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def cube(x):
    return x * x * x


def boom(x):
    raise ValueError(f"boom {x}")


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    executor = concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=ctx)
    f = executor.submit(cube, 3)
    print(f"result: {f.result(60)}", flush=True)
    print(f"done: {f.done()}, cancelled: {f.cancelled()}", flush=True)
    print(f"map: {list(executor.map(cube, range(5), timeout=60, chunksize=2))}", flush=True)
    try:
        executor.submit(boom, 7).result(60)
    except ValueError as e:
        print(f"failed: TaskFailed: {e}", flush=True)
    executor.shutdown(wait=True)
    try:
        executor.submit(cube, 1)
        print("submit after shutdown: ok", flush=True)
    except RuntimeError:
        print("submit after shutdown: InvalidOperation", flush=True)
