"""names-context: a context's Process class names its processes <ClassName>-N
(ForkProcess, SpawnProcess, ForkServerProcess)."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def report():
    print(f"child: {multiprocessing.current_process().name}", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    for _ in range(2):
        p = ctx.Process(target=report)
        p.start()
        p.join()
        print(f"parent: {p.name}", flush=True)
