"""active-children-reaps-ended: a child that has ended but was not joined leaves active_children()
by itself: the call reaps it (LIFE-8). Its sentinel says it has ended; nothing else polls it."""
import multiprocessing
import sys
import time
from multiprocessing.connection import wait


def work():
    pass


def listed():
    return [c.name for c in multiprocessing.active_children()]


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    p = ctx.Process(target=work, name='worker')
    p.start()
    print(f"sentinel ready: {wait([p.sentinel], timeout=60) == [p.sentinel]}", flush=True)
    # The sentinel may be ready a moment before the child can be reaped: ask again for a while.
    deadline = time.monotonic() + 10
    while listed() and time.monotonic() < deadline:
        time.sleep(0.01)
    print(f"active_children() once it has ended: {listed()}", flush=True)
    print(f"exitcode before join: {p.exitcode}", flush=True)
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
