"""guard-reruns-top-level: spawn and forkserver children re-run the main module's top-level code
(not what is under the main guard); fork children do not."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)

# one write per line: spawn and forkserver children print this concurrently
sys.stdout.write("top\n")
sys.stdout.flush()


def noop():
    pass


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    children = [ctx.Process(target=noop) for _ in range(3)]
    for p in children:
        p.start()
    for p in children:
        p.join()
    print(f"joined 3 children, exitcodes {[p.exitcode for p in children]}", flush=True)
