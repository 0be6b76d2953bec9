"""exitcode-exception: a target that raises gives exitcode 1; the child reports
`Process <name>:` and the traceback on stderr."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def work():
    raise ValueError("boom")


if __name__ == '__main__':
    multiprocessing.set_start_method(sys.argv[1])
    p = multiprocessing.Process(target=work)
    p.start()
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
