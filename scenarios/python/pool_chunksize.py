"""pool-chunksize: the items of one chunk run in one worker, one after the other."""
import multiprocessing
import os
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def pid(_):
    return os.getpid()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    with ctx.Pool(2) as pool:
        pids = pool.map(pid, range(12), chunksize=4)
        chunks = [pids[i:i + 4] for i in range(0, 12, 4)]
        print(f"each chunk in one worker: {[len(set(c)) == 1 for c in chunks]}", flush=True)
        pids = list(pool.imap(pid, range(12), chunksize=6))
        print(f"imap chunks in one worker: {[len(set(pids[:6])) == 1, len(set(pids[6:])) == 1]}", flush=True)
