"""pipe-one-way-direction: Pipe(duplex=False) returns (reader, writer): the reader cannot send and
the writer cannot receive (InvalidOperation), in the parent and in a child that holds the writer,
and the right direction still works."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def child(writer):
    print(f"child: writer readable {writer.readable}, writable {writer.writable}", flush=True)
    try:
        writer.recv()
        print("child: writer.recv(): ok", flush=True)
    except OSError:  # "connection is write-only"
        print("child: writer.recv(): InvalidOperation", flush=True)
    writer.send("from the child")
    writer.close()


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    reader, writer = ctx.Pipe(duplex=False)
    print(f"reader readable {reader.readable}, writable {reader.writable}", flush=True)
    try:
        reader.send("wrong way")
        print("reader.send(): ok", flush=True)
    except OSError:  # "connection is read-only"
        print("reader.send(): InvalidOperation", flush=True)
    p = ctx.Process(target=child, args=(writer,))
    p.start()
    writer.close()
    p.join()
    print(f"reader.recv(): {reader.recv()}", flush=True)
    print(f"exitcode: {p.exitcode}", flush=True)
