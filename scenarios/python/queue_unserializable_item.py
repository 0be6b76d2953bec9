"""queue-unserializable-item: put() of an item no serializer can encode (its reduction raises).

CPython pickles in the queue's feeder thread: put() returns normally, the feeder thread prints the
error on stderr, the item is silently dropped, and the next item is the one a consumer gets. (The
reference deliberately reports Serialization from put() instead: SPEC 12, deviations.toml.)"""
import multiprocessing
import queue as stdqueue
import sys

from _support import Unserializable, kind, shown


def consumer(q, conn):
    conn.send(shown(q.get(timeout=60)))
    try:
        conn.send(shown(q.get(timeout=0.2)))
    except stdqueue.Empty:
        conn.send("Empty")
    conn.close()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    q = ctx.Queue()
    here, there = ctx.Pipe()
    p = ctx.Process(target=consumer, args=(q, there))
    # Started before the first put, so no fork happens while the queue's feeder thread is
    # reporting the failed item (a fork child can inherit a lock that thread held: it hung once
    # in 3 400 runs, on 3.13.18 under fork).
    p.start()
    there.close()
    try:
        q.put(Unserializable())
        print("put(unserializable): ok", flush=True)
    except Exception as e:
        print(f"put(unserializable): {kind(e)}", flush=True)
    q.put("next item")
    print(f"the child got: {here.recv()}", flush=True)
    print(f"the child's second get: {here.recv()}", flush=True)
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
