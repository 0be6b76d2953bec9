"""interrupt-joins-children: a child ended by interrupt() (KeyboardInterrupt, new in 3.14) still
runs its exit function, which joins its own non-daemonic child first: while that grandchild waits,
the parent's join(timeout=1) finds the child alive; once the grandchild ends, the child exits
with 1. The reference deviates: its child ends from the signal handler at once, see SPEC 12."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def grandchild(conn):
    conn.recv()  # the main process says when


def child(for_grandchild, conn):
    g = multiprocessing.Process(target=grandchild, args=(for_grandchild,))
    g.start()
    conn.send("ready")
    conn.recv()  # nobody ever sends


if __name__ == '__main__':
    multiprocessing.set_start_method(sys.argv[1])
    to_grandchild, for_grandchild = multiprocessing.Pipe()
    here, there = multiprocessing.Pipe()
    p = multiprocessing.Process(target=child, args=(for_grandchild, there))
    p.start()
    for_grandchild.close()
    print(f"child says: {here.recv()}", flush=True)
    p.interrupt()
    p.join(timeout=1)
    print(f"child alive after join(timeout=1): {p.is_alive()}", flush=True)
    to_grandchild.send("go")
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
    try:
        to_grandchild.recv()
    except EOFError:
        print("grandchild's end of the pipe: Eof", flush=True)
