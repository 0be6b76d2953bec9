"""child-takes-parent-cwd: a child starts in its parent's current directory at start(), under
every method; under forkserver too, although the server was started earlier, elsewhere."""
import multiprocessing
import os
import sys
import tempfile

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def report(parent_cwd):
    print(f"child's current directory is the parent's at start(): {os.getcwd() == parent_cwd}",
          flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    first = ctx.Process(target=report, args=(os.getcwd(),))  # starts the forkserver, if any
    first.start()
    first.join()
    home = os.getcwd()
    elsewhere = os.path.realpath(tempfile.mkdtemp())
    os.chdir(elsewhere)
    try:
        second = ctx.Process(target=report, args=(os.getcwd(),))
        second.start()
        second.join()
    finally:
        os.chdir(home)
        os.rmdir(elsewhere)
