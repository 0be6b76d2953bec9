"""pool-map-order: Pool.map returns the results in the order of the items, whatever the chunk size;
starmap unpacks argument tuples; apply runs one call."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def square(x):
    return x * x


def add(a, b):
    return a + b


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    with ctx.Pool(2) as pool:
        for chunksize in (None, 1, 7, 1000):
            print(f"map chunksize={chunksize}: {pool.map(square, range(20), chunksize)}", flush=True)
        print(f"map of nothing: {pool.map(square, [])}", flush=True)
        print(f"starmap: {pool.starmap(add, [(1, 2), (3, 4)])}", flush=True)
        print(f"apply: {pool.apply(add, (20, 22))}", flush=True)
        print(f"map_async: {pool.map_async(square, [1, 2, 3]).get(60)}", flush=True)
