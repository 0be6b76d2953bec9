"""timeouts-wait: a call given a timeout on something not ready waits about that long before it
gives up: Queue.get(timeout=0.3) fails with Empty, Connection.poll(0.3) and Event.wait(0.3) return
False, each after at least half the timeout (only this lower bound is checked: a loaded machine may
take longer)."""
import multiprocessing
import queue as stdqueue
import sys
import time

TIMEOUT = 0.3


def waited(what, call):
    start = time.monotonic()
    try:
        result = call()
    except stdqueue.Empty:
        result = "Empty"
    long_enough = time.monotonic() - start >= TIMEOUT / 2
    print(f"{what}: {result}, waited at least half the timeout: {long_enough}", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    q = ctx.Queue()
    here, there = ctx.Pipe()
    event = ctx.Event()
    waited("Queue.get(timeout=0.3)", lambda: q.get(timeout=TIMEOUT))
    waited("Connection.poll(0.3)", lambda: here.poll(TIMEOUT))
    waited("Event.wait(0.3)", lambda: event.wait(TIMEOUT))
