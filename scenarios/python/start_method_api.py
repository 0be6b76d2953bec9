"""start-method-api: the start method is unset at first; set_start_method sets it once
(ContextAlreadySet after that, unless force=True); Linux offers fork, forkserver and spawn."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


if __name__ == '__main__':
    method = sys.argv[1]
    print(f"initially: {multiprocessing.get_start_method(allow_none=True)}", flush=True)
    multiprocessing.set_start_method(method)
    print(f"after set_start_method(argument), get_start_method() is the argument: "
          f"{multiprocessing.get_start_method() == method}", flush=True)
    try:
        multiprocessing.set_start_method(method)
        print("set_start_method again: ok", flush=True)
    except RuntimeError:  # "context has already been set"
        print("set_start_method again: ContextAlreadySet", flush=True)
    other = 'fork' if method == 'spawn' else 'spawn'
    multiprocessing.set_start_method(other, force=True)
    print(f"set_start_method(another, force=True), get_start_method() is it: "
          f"{multiprocessing.get_start_method() == other}", flush=True)
    print(f"all start methods: {sorted(multiprocessing.get_all_start_methods())}", flush=True)
