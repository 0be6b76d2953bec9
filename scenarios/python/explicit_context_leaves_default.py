"""explicit-context-leaves-default: starting a child from an explicit context does not fix the
global default start method: afterwards get_start_method(allow_none=True) is still None and
set_start_method() works. Before gh-109263 (3.13.12, 3.14.3), preparing a spawn or forkserver
child called get_start_method(), which fixed the default (variant `fixes-default`)."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def noop():
    pass


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    p = ctx.Process(target=noop)
    p.start()
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
    print(f"default fixed: {multiprocessing.get_start_method(allow_none=True) is not None}",
          flush=True)
    try:
        multiprocessing.set_start_method(sys.argv[1])
        print("set_start_method: ok", flush=True)
    except RuntimeError:  # "context has already been set"
        print("set_start_method: ContextAlreadySet", flush=True)
