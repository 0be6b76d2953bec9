"""queue-no-loss-four-producers: four producers each put 10,000 items on one Queue; the parent
gets all 40,000, each exactly once, and each producer's items in the order it put them."""
import multiprocessing
import queue as stdqueue
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)

PRODUCERS = 4
N = 10_000


def producer(queue, who):
    for i in range(N):
        queue.put((who, i))


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    queue = ctx.Queue()
    processes = [ctx.Process(target=producer, args=(queue, who)) for who in range(PRODUCERS)]
    for p in processes:
        p.start()
    seen = {who: [] for who in range(PRODUCERS)}
    for _ in range(PRODUCERS * N):
        who, i = queue.get(timeout=60)  # get everything before joining: producers flush at exit
        seen[who].append(i)
    for p in processes:
        p.join()
    print(f"items got: {sum(len(items) for items in seen.values())}", flush=True)
    for who in range(PRODUCERS):
        items = seen[who]
        print(f"producer {who}: count {len(items)}, sum {sum(items)}, "
              f"in order: {items == list(range(N))}", flush=True)
    try:
        queue.get(timeout=0.1)
        print("one more get: ok", flush=True)
    except stdqueue.Empty:
        print("one more get: Empty", flush=True)
    print(f"exitcodes: {[p.exitcode for p in processes]}", flush=True)
