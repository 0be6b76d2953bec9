"""lock-mutual-exclusion: four processes each enter a critical section guarded by one Lock 500
times; inside, each checks that nobody else is inside (a shared RawValue counter) and does an
unsynchronized read-modify-write of a shared RawValue: no overlap is ever seen and no update is
lost."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)

PROCESSES = 4
N = 500


def worker(lock, inside, overlaps, total):
    for _ in range(N):
        with lock:
            inside.value += 1
            if inside.value != 1:
                overlaps.value += 1
            total.value = total.value + 1
            inside.value -= 1


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    lock = ctx.Lock()
    inside, overlaps, total = (ctx.RawValue('i', 0) for _ in range(3))
    processes = [ctx.Process(target=worker, args=(lock, inside, overlaps, total))
                 for _ in range(PROCESSES)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    print(f"overlaps seen: {overlaps.value}", flush=True)
    print(f"total: {total.value} (expected {PROCESSES * N})", flush=True)
    print(f"lock free after: {lock.acquire(block=False)}", flush=True)
    lock.release()
    print(f"exitcodes: {[p.exitcode for p in processes]}", flush=True)
