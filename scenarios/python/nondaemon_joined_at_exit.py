"""nondaemon-joined-at-exit: when the main process ends, it waits for its non-daemonic children:
`child done` appears, printed 4 s after main's last line. That is longer than the runner waits for
a program's other processes once its main process has exited (its leak grace, 2 s): a main process
that does not join its child ends the run as a leak, with the child killed before its line, and
cannot pass as one whose child merely finished in time.

The go signal is a Pipe, not an Event: the main process's exit runs multiprocessing's finalizers
(which unlink an Event's semaphore under spawn/forkserver) before it joins the children."""
import multiprocessing
import sys
import time

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def child(go):
    go.recv()
    time.sleep(4)
    print("child done", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    go_recv, go_send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=child, args=(go_recv,))
    p.start()
    print("main: end of main, no join", flush=True)
    go_send.send("go")
