"""pipe-unserializable-message: sending an object that cannot be pickled (a threading.Lock) fails
at send() with Serialization; nothing is sent, and the pipe stays usable: the next message is the
one the child receives."""
import multiprocessing
import pickle
import sys
import threading


def child(conn):
    print(f"child received: {conn.recv()}", flush=True)
    conn.close()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    here, there = ctx.Pipe()
    p = ctx.Process(target=child, args=(there,))
    p.start()
    there.close()
    try:
        here.send(threading.Lock())
        print("send(lock): ok", flush=True)
    except (pickle.PicklingError, TypeError, AttributeError):  # cannot pickle '_thread.lock'
        print("send(lock): Serialization", flush=True)
    here.send("after the failed send")
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
