"""array-shared: a child's writes to a shared Array('i') are seen by the parent, and a second
child sees what the parent wrote."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def squares(arr):
    for i in range(len(arr)):
        arr[i] = i * i


def report(arr):
    print(f"second child sees: {arr[:]}", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    arr = ctx.Array('i', 8)
    print(f"initially: {arr[:]}", flush=True)
    p = ctx.Process(target=squares, args=(arr,))
    p.start()
    p.join()
    print(f"parent sees: {arr[:]}", flush=True)
    with arr.get_lock():
        arr[0] = -1
    q = ctx.Process(target=report, args=(arr,))
    q.start()
    q.join()
    print(f"exitcodes: {p.exitcode} {q.exitcode}", flush=True)
