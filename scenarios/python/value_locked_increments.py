"""value-locked-increments: four processes each add 1 to a shared Value('i') 2,000 times, each
read-modify-write under the Value's get_lock(); the total is exactly 8,000."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)

PROCESSES = 4
N = 2000


def add(counter):
    for _ in range(N):
        with counter.get_lock():
            counter.value += 1


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    counter = ctx.Value('i', 0)
    processes = [ctx.Process(target=add, args=(counter,)) for _ in range(PROCESSES)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    print(f"value: {counter.value} (expected {PROCESSES * N})", flush=True)
    print(f"exitcodes: {[p.exitcode for p in processes]}", flush=True)
