"""joinable-queue-task-done: join() on a JoinableQueue returns once a worker process has called
task_done() for every item put; one task_done() too many is InvalidOperation."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def worker(tasks, done):
    while True:
        item = tasks.get()
        if item is None:
            tasks.task_done()
            break
        done.put(item)  # record the work before saying it is done
        tasks.task_done()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    tasks, done = ctx.JoinableQueue(), ctx.Queue()
    p = ctx.Process(target=worker, args=(tasks, done))
    p.start()
    for i in range(5):
        tasks.put(i)
    tasks.put(None)
    tasks.join()
    print("join() returned", flush=True)
    print(f"items the worker marked done: {sorted(done.get(timeout=60) for _ in range(5))}",
          flush=True)
    p.join()
    try:
        tasks.task_done()
        print("task_done() once too often: ok", flush=True)
    except ValueError:  # "task_done() called too many times"
        print("task_done() once too often: InvalidOperation", flush=True)
    print(f"exitcode: {p.exitcode}", flush=True)
