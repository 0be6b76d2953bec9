"""default-start-method: from Python 3.14 the default start method on Linux is forkserver.

default_start_method.py and default_start_method_pre_3_14.py are the same program; the catalog
gives them different profiles ("<3.14" expects fork, ">=3.14" expects forkserver). Measured on
CPython 3.14.10 and 3.15.2 (and fork on 3.8.18 to 3.13.18).
The start-method argument is ignored."""
import multiprocessing

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


if __name__ == '__main__':
    default = multiprocessing.get_start_method()
    print(f"default start method: {default}", flush=True)
    print(f"get_all_start_methods() lists it first: "
          f"{multiprocessing.get_all_start_methods()[0] == default}", flush=True)
