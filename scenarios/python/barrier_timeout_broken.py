"""barrier-timeout-broken: a child alone at a Barrier(2) times out with BrokenBarrier, which
breaks the barrier for everyone: the parent sees it broken and its own wait() fails with
BrokenBarrier too; after reset() it is whole again."""
import multiprocessing
import sys
import threading

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def alone(barrier):
    try:
        barrier.wait(timeout=0.2)
        print("child wait(timeout=0.2): ok", flush=True)
    except threading.BrokenBarrierError:
        print("child wait(timeout=0.2): BrokenBarrier", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    barrier = ctx.Barrier(2)
    print(f"broken at first: {barrier.broken}", flush=True)
    p = ctx.Process(target=alone, args=(barrier,))
    p.start()
    p.join()
    print(f"broken after the child's timeout: {barrier.broken}", flush=True)
    try:
        barrier.wait(timeout=60)
        print("parent wait(): ok", flush=True)
    except threading.BrokenBarrierError:
        print("parent wait(): BrokenBarrier", flush=True)
    barrier.reset()
    print(f"broken after reset(): {barrier.broken}", flush=True)
    print(f"exitcode: {p.exitcode}", flush=True)
