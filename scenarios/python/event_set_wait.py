"""event-set-wait: a child's Event.wait(timeout) returns False while the event is clear; after the
parent sets it, the child's wait() returns True; clear() makes it clear again for both."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def waiter(event, conn):
    print(f"child is_set before: {event.is_set()}", flush=True)
    print(f"child wait(0.2) before set: {event.wait(0.2)}", flush=True)
    conn.send("waiting")
    print(f"child wait() after set: {event.wait()}", flush=True)
    conn.send("saw it")
    conn.recv()
    print(f"child is_set after the parent's clear: {event.is_set()}", flush=True)
    conn.close()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    event = ctx.Event()
    here, there = ctx.Pipe()
    p = ctx.Process(target=waiter, args=(event, there))
    p.start()
    there.close()
    here.recv()
    event.set()
    here.recv()
    print(f"parent set it, is_set: {event.is_set()}", flush=True)
    event.clear()
    print(f"parent cleared it, is_set: {event.is_set()}", flush=True)
    here.send("look again")
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
