"""names-default: multiprocessing.Process objects are named Process-N, N counting every Process
object created (started or not, explicitly named or not)."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def report():
    print(f"child: {multiprocessing.current_process().name}", flush=True)


def run(p):
    p.start()
    p.join()


if __name__ == '__main__':
    multiprocessing.set_start_method(sys.argv[1])
    first = multiprocessing.Process(target=report)
    run(first)
    print(f"first: {first.name}", flush=True)
    second = multiprocessing.Process(target=report)
    run(second)
    print(f"second: {second.name}", flush=True)
    unstarted = multiprocessing.Process(target=report)
    print(f"created, never started: {unstarted.name}", flush=True)
    named = multiprocessing.Process(target=report, name='explicit')
    print(f"created with name=: {named.name}", flush=True)
    last = multiprocessing.Process(target=report)
    run(last)
    print(f"last: {last.name}", flush=True)
