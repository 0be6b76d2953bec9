"""pipe-end-held-by-fork-child: a fork child holds copies of the parent's pipe ends, so after the
parent closes its write end the read end sees no EOF while the child runs; spawn and forkserver
children hold no copy, so EOF is visible at once."""
import multiprocessing
import os
import select
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def child(conn):
    conn.recv()  # wait until the parent has looked


def eof_visible(fd, timeout):
    readable, _, _ = select.select([fd], [], [], timeout)
    return bool(readable) and os.read(fd, 1) == b''


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    r, w = os.pipe()
    here, there = ctx.Pipe()
    p = ctx.Process(target=child, args=(there,))
    p.start()
    os.close(w)
    print(f"EOF visible while the child runs: {eof_visible(r, 0.5)}", flush=True)
    here.send("done")
    p.join()
    print(f"EOF visible after join: {eof_visible(r, 5)}", flush=True)
    os.close(r)
    print(f"exitcode: {p.exitcode}", flush=True)
