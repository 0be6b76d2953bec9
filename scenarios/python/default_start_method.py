"""default-start-method: from Python 3.14 the default start method on Linux is forkserver.

default_start_method.py and default_start_method_pre_3_14.py are the same program; the catalog
gives them different profiles ("<3.14" expects fork, ">=3.14" expects forkserver). The 3.14
expectation is written from the documented 3.14 behaviour (What's New in 3.14, cpython issue
#84559: the default start method on POSIX other than macOS changed from fork to forkserver); it
was not run, no 3.14 interpreter being available here.
The start-method argument is ignored."""
import multiprocessing


if __name__ == '__main__':
    print(f"default start method: {multiprocessing.get_start_method()}", flush=True)
