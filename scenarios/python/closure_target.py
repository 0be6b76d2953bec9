"""closure-target: a lambda target works under fork; under spawn and forkserver start() fails with
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
    except (pickle.PicklingError, TypeError, AttributeError):
        print("start: Serialization", flush=True)
        print(f"pid: {p.pid}", flush=True)
        print(f"active_children: {multiprocessing.active_children()}", flush=True)
    else:
        p.join()
        print("start: ok", flush=True)
        print(f"exitcode: {p.exitcode}", flush=True)
