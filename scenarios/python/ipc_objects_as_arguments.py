"""ipc-objects-as-arguments: every IPC object (a Pipe end, Queue, SimpleQueue, JoinableQueue,
Value, Array, Lock, RLock, Condition, Semaphore, BoundedSemaphore, Event, Barrier and SharedMemory)
passed to a child as a Process argument is the same object there, under every start method: what
the child does with each is seen by the parent, and what the parent holds the child finds held."""
import multiprocessing
import sys
from multiprocessing import shared_memory


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def child(conn, q, sq, jq, value, array, lock, rlock, cond, sem, bsem, event, barrier, shm):
    conn.send("from the child")
    say("child: Pipe end: sent")
    say(f"child: Queue got: {q.get(timeout=60)}")
    q.put("from the child")
    sq.put("from the child")
    say("child: SimpleQueue: put")
    say(f"child: JoinableQueue got: {jq.get(timeout=60)}")
    jq.task_done()
    value.value = 42
    array[:] = [1, 2, 3]
    say("child: Value and Array: written")
    say(f"child: Lock acquire(block=False) while the parent holds it: {lock.acquire(block=False)}")
    say(f"child: RLock acquire(block=False) while the parent holds it: "
        f"{rlock.acquire(block=False)}")
    say(f"child: Condition acquire(block=False) while the parent holds it: "
        f"{cond.acquire(block=False)}")
    say(f"child: BoundedSemaphore acquire(block=False) while the parent holds it: "
        f"{bsem.acquire(block=False)}")
    sem.release()
    event.set()
    shm.buf[:6] = b"shared"
    say("child: Semaphore released, Event set, SharedMemory written")
    barrier.wait(timeout=60)
    shm.close()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    here, there = ctx.Pipe()
    q, sq, jq = ctx.Queue(), ctx.SimpleQueue(), ctx.JoinableQueue()
    value, array = ctx.Value('i', 0), ctx.Array('i', 3)
    lock, rlock, cond = ctx.Lock(), ctx.RLock(), ctx.Condition()
    sem, bsem, event, barrier = ctx.Semaphore(0), ctx.BoundedSemaphore(1), ctx.Event(), ctx.Barrier(2)
    shm = shared_memory.SharedMemory(create=True, size=16)
    q.put("to the child")
    jq.put("a task")
    for held in (lock, rlock, cond, bsem):
        held.acquire()
    p = ctx.Process(target=child, args=(there, q, sq, jq, value, array, lock, rlock, cond, sem,
                                        bsem, event, barrier, shm))
    p.start()
    there.close()
    barrier.wait(timeout=60)
    say("parent: Barrier passed")
    say(f"parent: Pipe end received: {here.recv()}")
    say(f"parent: Queue got: {q.get(timeout=60)}")
    say(f"parent: SimpleQueue got: {sq.get()}")
    jq.join()
    say("parent: JoinableQueue join() returned")
    say(f"parent: Value {value.value}, Array {array[:]}")
    say(f"parent: Semaphore acquire(block=False): {sem.acquire(block=False)}")
    say(f"parent: Event is_set: {event.is_set()}")
    say(f"parent: SharedMemory reads: {bytes(shm.buf[:6]).decode()}")
    for held in (lock, rlock, cond, bsem):
        held.release()
    p.join()
    shm.close()
    shm.unlink()
    say(f"exitcode: {p.exitcode}")
