"""pipe-unserializable-message: sending an object no serializer can encode (its reduction raises)
fails at send() with Serialization; nothing is sent, and the pipe stays usable: the next message
is the one the child receives."""
import multiprocessing
import sys

from _support import Unserializable, kind, shown


def child(conn):
    print(f"child received: {shown(conn.recv())}", flush=True)
    conn.close()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    here, there = ctx.Pipe()
    p = ctx.Process(target=child, args=(there,))
    p.start()
    there.close()
    try:
        here.send(Unserializable())
        print("send(unserializable): ok", flush=True)
    except Exception as e:
        print(f"send(unserializable): {kind(e)}", flush=True)
    here.send("after the failed send")
    p.join()
    print(f"exitcode: {p.exitcode}", flush=True)
