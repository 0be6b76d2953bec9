"""active-children-own-only: a child's active_children() lists only its own children, not the
siblings its parent started before it (under fork too, where the child starts as a copy of its
parent), and the child's end does not wait for them."""
import multiprocessing
import sys


def first(go):
    go.recv()


def second():
    names = sorted(c.name for c in multiprocessing.active_children())
    print(f"second child: active_children() {names}", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    go_recv, go_send = ctx.Pipe(duplex=False)
    a = ctx.Process(target=first, args=(go_recv,), name='first')
    a.start()
    b = ctx.Process(target=second, name='second')
    b.start()
    b.join()
    print(f"second child exitcode: {b.exitcode}", flush=True)
    go_send.send("go")
    a.join()
    print(f"first child exitcode: {a.exitcode}", flush=True)
