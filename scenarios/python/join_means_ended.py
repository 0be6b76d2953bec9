"""join-means-ended: once join() has returned, the child is gone with everything it held. Thirty
children in turn each send one message on a one-way pipe whose write end only the child holds
(the parent closes its copy after start); after each join the parent's end reads the message,
then end-of-file at once: poll(0) is True and recv() raises EOFError."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)

CHILDREN = 30


def child(writer):
    writer.send("last words")


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    exit_codes, messages, eof_at_once, eof_errors = set(), 0, 0, 0
    for _ in range(CHILDREN):
        reader, writer = ctx.Pipe(duplex=False)
        p = ctx.Process(target=child, args=(writer,))
        p.start()
        writer.close()
        p.join()
        exit_codes.add(p.exitcode)
        messages += reader.recv() == "last words"
        eof_at_once += reader.poll(0)
        try:
            reader.recv()
        except EOFError:
            eof_errors += 1
        reader.close()
    print(f"children joined: {CHILDREN}, exit codes: {sorted(exit_codes)}", flush=True)
    print(f"last words received: {messages} of {CHILDREN}", flush=True)
    print(f"end-of-file ready at once after join: {eof_at_once} of {CHILDREN}", flush=True)
    print(f"recv after the last words: Eof {eof_errors} of {CHILDREN}", flush=True)
