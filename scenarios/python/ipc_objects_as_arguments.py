"""ipc-objects-as-arguments: every IPC object (a Pipe end, Queue, SimpleQueue, JoinableQueue,
Value, Array, Lock, RLock, Condition, Semaphore, BoundedSemaphore, Event and Barrier) passed to a
child as a Process argument is the same object there, under every start method: what the child
does with each is seen by the parent, and what the parent holds the child finds held.

Each kind is checked on its own: one that is missing or fails changes only its own lines
(`<Kind>: unavailable: <error>`, `unexpected <error>`), so the diff names it. SharedMemory is
`shared-memory-as-argument`."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def attempt(label, action):
    """Print `label: <what action returns>`, or what it raised; None actions are unavailable."""
    try:
        result = action()
    except Exception as e:
        say(f"{label}: unexpected {type(e).__name__}")
    else:
        if result is not None:
            say(f"{label}: {result}")


def held(obj):
    return f"{obj.acquire(block=False)}"


def child(conn, q, sq, jq, value, array, lock, rlock, cond, sem, bsem, event, barrier):
    def step(label, obj, action):
        if obj is not None:
            attempt(label, action)

    step("child: Pipe end", conn, lambda: conn.send("from the child") or "sent")
    step("child: Queue got", q, lambda: q.get(timeout=60))
    step("child: Queue", q, lambda: q.put("from the child"))
    step("child: SimpleQueue", sq, lambda: sq.put("from the child") or "put")
    step("child: JoinableQueue got", jq, lambda: jq.get(timeout=60))
    step("child: JoinableQueue", jq, lambda: jq.task_done())
    step("child: Value", value, lambda: setattr(value, "value", 42) or "written")
    step("child: Array", array, lambda: array.__setitem__(slice(None), [1, 2, 3]) or "written")
    for name, obj in (("Lock", lock), ("RLock", rlock), ("Condition", cond),
                      ("BoundedSemaphore", bsem)):
        step(f"child: {name} acquire(block=False) while the parent holds it", obj,
             lambda obj=obj: held(obj))
    step("child: Semaphore", sem, lambda: sem.release() or "released")
    step("child: Event", event, lambda: event.set() or "set")
    step("child: Barrier", barrier, lambda: barrier.wait(timeout=60) and None)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    made = {}

    def make(name, factory):
        try:
            made[name] = factory()
        except Exception as e:
            say(f"parent: {name} unavailable: {type(e).__name__}")
            made[name] = None
        return made[name]

    here, there = make("Pipe", ctx.Pipe) or (None, None)
    q, sq, jq = make("Queue", ctx.Queue), make("SimpleQueue", ctx.SimpleQueue), \
        make("JoinableQueue", ctx.JoinableQueue)
    value, array = make("Value", lambda: ctx.Value('i', 0)), make("Array", lambda: ctx.Array('i', 3))
    lock, rlock, cond = make("Lock", ctx.Lock), make("RLock", ctx.RLock), \
        make("Condition", ctx.Condition)
    sem, bsem = make("Semaphore", lambda: ctx.Semaphore(0)), \
        make("BoundedSemaphore", lambda: ctx.BoundedSemaphore(1))
    event, barrier = make("Event", ctx.Event), make("Barrier", lambda: ctx.Barrier(2))
    if q is not None:
        q.put("to the child")
    if jq is not None:
        jq.put("a task")
    holding = [obj for obj in (lock, rlock, cond, bsem) if obj is not None]
    for obj in holding:
        obj.acquire()
    p = ctx.Process(target=child, args=(there, q, sq, jq, value, array, lock, rlock, cond, sem,
                                        bsem, event, barrier))
    p.start()
    if there is not None:
        there.close()
    if barrier is not None:
        attempt("parent: Barrier", lambda: barrier.wait(timeout=60) and None or "passed")
    else:
        p.join(60)
    if here is not None:
        attempt("parent: Pipe end received", here.recv)
    if q is not None:
        attempt("parent: Queue got", lambda: q.get(timeout=60))
    if sq is not None:
        attempt("parent: SimpleQueue got", sq.get)
    if jq is not None:
        attempt("parent: JoinableQueue", lambda: jq.join() or "join() returned")
    if value is not None:
        attempt("parent: Value", lambda: value.value)
    if array is not None:
        attempt("parent: Array", lambda: array[:])
    if sem is not None:
        attempt("parent: Semaphore acquire(block=False)", lambda: sem.acquire(block=False))
    if event is not None:
        attempt("parent: Event is_set", event.is_set)
    for obj in holding:
        obj.release()
    p.join()
    say(f"exitcode: {p.exitcode}")
