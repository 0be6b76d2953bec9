"""pool-task-exception: a task that raises (panics) fails the map with its message; the other
tasks' results are still there through imap, and the pool goes on."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def fail_on_three(x):
    if x == 3:
        raise ValueError(f"bad item {x}")
    return x


def add(a, b):
    return a + b


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    with ctx.Pool(2) as pool:
        try:
            pool.map(fail_on_three, range(6), chunksize=1)
            print("map: ok", flush=True)
        except ValueError as e:
            print(f"map: TaskFailed: {e}", flush=True)
        it = pool.imap(fail_on_three, range(6))
        for i in range(6):
            try:
                print(f"imap {i}: {it.next(60)}", flush=True)
            except ValueError as e:
                print(f"imap {i}: TaskFailed: {e}", flush=True)
        r = pool.apply_async(fail_on_three, (3,))
        r.wait(60)
        print(f"successful: {r.successful()}", flush=True)
        print(f"apply after: {pool.apply(add, (1, 1))}", flush=True)
