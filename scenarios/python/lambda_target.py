"""lambda-target (informative, SER-5): whether a lambda can be the target under spawn and
forkserver depends on the serializer; CPython's pickle refuses it, so start() fails with
Serialization and no child process exists."""
import multiprocessing
import pickle
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    p = ctx.Process(target=lambda: print("child ran", flush=True))
    try:
        p.start()
    except (pickle.PicklingError, AttributeError):  # Can't pickle <lambda>: attribute lookup
        print("start: Serialization", flush=True)
        print(f"pid: {p.pid}", flush=True)
        print(f"active_children: {multiprocessing.active_children()}", flush=True)
    else:
        p.join()
        print("start: ok", flush=True)
        print(f"exitcode: {p.exitcode}", flush=True)
