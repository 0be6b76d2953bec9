"""nondaemon-joined-at-exit: when the main process ends, it waits for its non-daemonic children:
`child done` (printed ~0.3 s after main's last line) appears.

The go signal is a Pipe, not an Event: the main process's exit runs multiprocessing's finalizers
(which unlink an Event's semaphore under spawn/forkserver) before it joins the children."""
import multiprocessing
import sys
import time


def child(go):
    go.recv()
    time.sleep(0.3)
    print("child done", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    go_recv, go_send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=child, args=(go_recv,))
    p.start()
    print("main: end of main, no join", flush=True)
    go_send.send("go")
