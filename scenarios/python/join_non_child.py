"""join-non-child: join(), join(timeout) and is_alive() of a process this process did not start
(a sibling's Process object, inherited under fork) fail with NotAChild (CPython:
AssertionError "can only join a child process" / "can only test a child process"), also for a
Process object created by the parent and never started; its exitcode there is None (CPython's
poll() finds no such child of its own)."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def blocked(conn):
    conn.send("ready")
    conn.recv()


def outcome(call):
    try:
        return f"ok, {call()}"
    except AssertionError:  # "can only join a child process", "can only test a child process"
        return "NotAChild"


def sibling(first, unstarted):
    print(f"sibling: join(): {outcome(first.join)}", flush=True)
    print(f"sibling: join(timeout=0.1): {outcome(lambda: first.join(0.1))}", flush=True)
    print(f"sibling: is_alive(): {outcome(first.is_alive)}", flush=True)
    print(f"sibling: exitcode: {first.exitcode}", flush=True)
    print(f"sibling: join() of an unstarted process: {outcome(unstarted.join)}", flush=True)
    print(f"sibling: is_alive() of an unstarted process: {outcome(unstarted.is_alive)}", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    here, there = ctx.Pipe()
    first = ctx.Process(target=blocked, args=(there,))
    first.start()
    here.recv()
    unstarted = ctx.Process(target=blocked, args=(there,))
    second = ctx.Process(target=sibling, args=(first, unstarted))
    second.start()
    second.join()
    print(f"sibling exitcode: {second.exitcode}", flush=True)
    print(f"parent: first is_alive(): {first.is_alive()}", flush=True)
    here.send("go")
    first.join()
    print(f"first exitcode: {first.exitcode}", flush=True)
