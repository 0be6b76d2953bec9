"""pipe-fifo-both-directions: on a duplex Pipe, messages arrive whole and in the order they were
sent, in both directions: the parent sends 100 messages to a child, which sends 100 of its own
back; each side checks the order it received."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)

N = 100


def child(conn):
    got = [conn.recv() for _ in range(N)]
    print(f"child received {len(got)} messages in order: {got == [('to child', i) for i in range(N)]}",
          flush=True)
    for i in range(N):
        conn.send(("to parent", i))
    conn.close()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    here, there = ctx.Pipe()
    p = ctx.Process(target=child, args=(there,))
    p.start()
    there.close()
    for i in range(N):
        here.send(("to child", i))
    got = [here.recv() for _ in range(N)]
    p.join()
    print(f"parent received {len(got)} messages in order: {got == [('to parent', i) for i in range(N)]}",
          flush=True)
    print(f"first: {got[0]}, last: {got[-1]}", flush=True)
    print(f"exitcode: {p.exitcode}", flush=True)
