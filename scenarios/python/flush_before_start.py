"""flush-before-start: what the parent wrote to stdout before start() comes out before what the
child writes, under every method (stdout is made block-buffered first, whatever PYTHONUNBUFFERED
or -u say: without that, this program could not tell a start() that flushes from one that does
not)."""
import io
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def child():
    print("the child's line", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    raw = io.FileIO(sys.stdout.fileno(), 'w', closefd=False)
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(raw), encoding='utf-8')
    sys.stdout.write("the parent's unfinished line, then ")
    p = ctx.Process(target=child)
    p.start()
    p.join()
    print("the parent's last line", flush=True)
