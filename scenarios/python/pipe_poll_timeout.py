"""pipe-poll-timeout: poll(timeout) on a connection with nothing to receive returns False after
about the timeout; poll() returns True once the other process has sent, and poll() does not
consume the message."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def child(conn, control):
    control.recv()  # wait until the parent has polled the empty pipe
    conn.send("hello")
    control.recv()  # stay alive until the parent is done


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    here, there = ctx.Pipe()
    control_here, control_there = ctx.Pipe()
    p = ctx.Process(target=child, args=(there, control_there))
    p.start()
    there.close()
    control_there.close()
    print(f"poll() with nothing sent: {here.poll()}", flush=True)
    print(f"poll(0.2) with nothing sent: {here.poll(0.2)}", flush=True)
    control_here.send("send now")
    print(f"poll(30) after the child sent: {here.poll(30)}", flush=True)
    print(f"poll(0) again: {here.poll(0)}", flush=True)
    print(f"recv: {here.recv()}", flush=True)
    print(f"poll(0) after recv: {here.poll(0)}", flush=True)
    control_here.send("done")
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
