"""unserializable-argument: an argument no serializer can encode (its reduction raises) is passed
as is under fork; under spawn and forkserver start() fails with Serialization and no child process
exists."""
import multiprocessing
import sys

from _support import Unserializable, kind


def child(obj):
    print(f"child got: {type(obj).__name__}", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    p = ctx.Process(target=child, args=(Unserializable(),))
    try:
        p.start()
    except Exception as e:
        print(f"start: {kind(e)}", flush=True)
        print(f"pid: {p.pid}", flush=True)
        print(f"active_children: {multiprocessing.active_children()}", flush=True)
    else:
        p.join()
        print("start: ok", flush=True)
        print(f"exitcode: {p.exitcode}", flush=True)
