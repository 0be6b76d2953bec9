"""interrupt: Process.interrupt() (new in 3.14) sends SIGINT; the child, blocked in its target,
gets KeyboardInterrupt: `Process <name>:` and a traceback ending in `KeyboardInterrupt` on its
stderr, and exit code 1."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def blocked(conn):
    conn.send("ready")
    conn.recv()  # nobody ever sends


if __name__ == '__main__':
    multiprocessing.set_start_method(sys.argv[1])
    here, there = multiprocessing.Pipe()
    p = multiprocessing.Process(target=blocked, args=(there,))
    p.start()
    print(f"child says: {here.recv()}", flush=True)
    p.interrupt()
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
