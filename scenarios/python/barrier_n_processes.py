"""barrier-n-processes: three processes wait on a Barrier(3); none passes before all three have
arrived, and their wait() calls return the arrival indices 0, 1 and 2, one each."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)

PARTIES = 3


def party(barrier, arrived, results):
    with arrived.get_lock():
        arrived.value += 1
    index = barrier.wait(timeout=60)
    results.put((index, arrived.value))


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    barrier = ctx.Barrier(PARTIES)
    arrived = ctx.Value('i', 0)
    results = ctx.Queue()
    processes = [ctx.Process(target=party, args=(barrier, arrived, results))
                 for _ in range(PARTIES)]
    for p in processes:
        p.start()
    got = [results.get(timeout=60) for _ in range(PARTIES)]
    for p in processes:
        p.join()
    print(f"parties: {barrier.parties}", flush=True)
    print(f"indices returned: {sorted(index for index, _ in got)}", flush=True)
    print(f"arrivals each saw after passing: {[seen for _, seen in got]}", flush=True)
    print(f"broken: {barrier.broken}", flush=True)
    print(f"exitcodes: {[p.exitcode for p in processes]}", flush=True)
