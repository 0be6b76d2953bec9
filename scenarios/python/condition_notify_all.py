"""condition-notify-all: a child's Condition.wait(timeout) with nobody notifying returns False;
two children then wait on the Condition, and the parent's notify_all() wakes both, whose wait()
returns True."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def lonely(cond):
    with cond:
        say(f"lonely child wait(0.2) without notify: {cond.wait(0.2)}")


def waiter(cond, conn, who):
    with cond:
        conn.send("ready")  # sent while holding the lock, which only wait() releases
        woken = cond.wait()
        say(f"waiter {who} woken: {woken}")
    conn.close()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    cond = ctx.Condition()
    p = ctx.Process(target=lonely, args=(cond,))
    p.start()
    p.join()
    waiters = []
    for who in ("A", "B"):
        here, there = ctx.Pipe()
        w = ctx.Process(target=waiter, args=(cond, there, who))
        w.start()
        there.close()
        waiters.append((w, here))
    for _, here in waiters:
        here.recv()
    with cond:  # both waiters have released the lock: both are in wait()
        cond.notify_all()
    for w, _ in waiters:
        w.join()
    say(f"exitcodes: {p.exitcode} {[w.exitcode for w, _ in waiters]}")
