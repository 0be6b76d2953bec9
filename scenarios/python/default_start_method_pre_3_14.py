"""default-start-method-pre-3-14: before Python 3.14 the default start method on Linux is fork.

default_start_method.py and default_start_method_pre_3_14.py are the same program; the catalog
gives them different profiles ("<3.14" expects fork, ">=3.14" expects forkserver). The 3.14
expectation is written from the documented 3.14 behaviour (What's New in 3.14, cpython issue
#84559: the default start method on POSIX other than macOS changed from fork to forkserver); it
was not run, no 3.14 interpreter being available here.
The start-method argument is ignored."""
import multiprocessing

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


if __name__ == '__main__':
    default = multiprocessing.get_start_method()
    print(f"default start method: {default}", flush=True)
    print(f"get_all_start_methods() lists it first: "
          f"{multiprocessing.get_all_start_methods()[0] == default}", flush=True)
