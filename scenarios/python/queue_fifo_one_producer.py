"""queue-fifo-one-producer: the items one producer puts on a Queue are got by another process
exactly once each, in the order they were put."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)

N = 1000


def producer(queue):
    for i in range(N):
        queue.put(("item", i))


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    queue = ctx.Queue()
    p = ctx.Process(target=producer, args=(queue,))
    p.start()
    got = [queue.get(timeout=60) for _ in range(N)]  # get before join: the producer flushes
    p.join()
    print(f"got {len(got)} items", flush=True)
    print(f"in the order put: {got == [('item', i) for i in range(N)]}", flush=True)
    print(f"first: {got[0]}, last: {got[-1]}", flush=True)
    print(f"empty after: {queue.empty()}", flush=True)
    print(f"exitcode: {p.exitcode}", flush=True)
