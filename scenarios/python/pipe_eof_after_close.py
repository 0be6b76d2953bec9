"""pipe-eof-after-close: once the other end is closed, recv() still returns every message sent
before, then fails with Eof instead of blocking; the child that closed its end is still running
(it waits for `go` on a second pipe) when the parent sees Eof."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def child(conn, control):
    for i in range(3):
        conn.send(f"message {i}")
    conn.close()
    control.send("closed")
    control.recv()  # go: stay alive until the parent has seen EOF


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    here, there = ctx.Pipe()
    control_here, control_there = ctx.Pipe()
    p = ctx.Process(target=child, args=(there, control_there))
    p.start()
    there.close()
    control_there.close()
    print(f"child says: {control_here.recv()}", flush=True)
    for _ in range(3):
        print(f"recv: {here.recv()}", flush=True)
    for attempt in (1, 2):
        try:
            print(f"recv: {here.recv()}", flush=True)
        except EOFError:
            print(f"recv after everything was read ({attempt}): Eof", flush=True)
    print(f"child alive while the parent saw EOF: {p.is_alive()}", flush=True)
    control_here.send("go")
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
