"""nondaemon-main-waits: a non-daemonic child still running when the main process ends finds the
main process still there, waiting for it (EXIT-1: the main process joins it before exiting, rather
than leaving it to finish on its own)."""
import multiprocessing
import sys
from multiprocessing.connection import wait


def child(go):
    go.recv()
    ended = wait([multiprocessing.parent_process().sentinel], timeout=1.0)
    print(f"child: the main process still there 1 s after its end: {not ended}", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    go_recv, go_send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=child, args=(go_recv,))
    p.start()
    print("main: end of main, no join", flush=True)
    go_send.send("go")
