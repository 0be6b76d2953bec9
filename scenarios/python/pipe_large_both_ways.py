"""pipe-large-both-ways: the parent and a child each send a 16 MiB message to the other at the
same time; both arrive intact and nothing deadlocks.

CPython's send blocks until the other side reads, so each side here sends from a thread while its
main thread receives (two sends in a row with no reader would deadlock CPython). The reference
buffers what arrives while it sends, so its program simply sends, then receives."""
import multiprocessing
import sys
import threading

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)

SIZE = 16 * 1024 * 1024


def payload(seed):
    return bytes((i * 7 + seed) % 256 for i in range(256)) * (SIZE // 256)


def exchange(conn, seed_out, seed_in):
    sender = threading.Thread(target=conn.send_bytes, args=(payload(seed_out),))
    sender.start()
    got = conn.recv_bytes()
    sender.join()
    return len(got), got == payload(seed_in)


def child(conn):
    n, intact = exchange(conn, 2, 1)
    print(f"child received {n} bytes, intact: {intact}", flush=True)
    conn.close()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    here, there = ctx.Pipe()
    p = ctx.Process(target=child, args=(there,))
    p.start()
    there.close()
    n, intact = exchange(here, 1, 2)
    p.join()
    print(f"parent received {n} bytes, intact: {intact}", flush=True)
    print(f"exitcode: {p.exitcode}", flush=True)
