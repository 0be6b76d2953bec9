"""thread-lock-argument (informative, SER-5): whether a threading.Lock can be an argument under
spawn and forkserver depends on the serializer; CPython's pickle refuses it, so start() fails with
Serialization and no child process exists."""
import multiprocessing
import pickle
import sys
import threading

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def child(lock):
    print(f"child got a lock, acquire: {lock.acquire(timeout=1)}", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    p = ctx.Process(target=child, args=(threading.Lock(),))
    try:
        p.start()
    except (pickle.PicklingError, TypeError):  # cannot pickle '_thread.lock' object
        print("start: Serialization", flush=True)
        print(f"pid: {p.pid}", flush=True)
        print(f"active_children: {multiprocessing.active_children()}", flush=True)
    else:
        p.join()
        print("start: ok", flush=True)
        print(f"exitcode: {p.exitcode}", flush=True)
