"""missing-guard: without the main guard, module-level code that starts a process works under fork;
under spawn the child, re-running that code while bootstrapping, fails with the Bootstrapping
error (exitcode 1) instead of starting processes endlessly.

Under forkserver it depends on the version (the catalog's variants):
* 3.15+: the server's load of the main module fails with Bootstrapping, is reported and ignored
  (gh-141860); the child re-runs this file, fails the same way and exits with 1.
* 3.13.8+ and 3.14.1+ before 3.15 (variant `server-fails`): the server loads the main module once
  (gh-126631), fails with Bootstrapping and exits; the parent's start() fails (EOFError on 3.13,
  ConnectionResetError on 3.14) and no child exists.
* before (variant `reruns-per-child`): as spawn.

Deliberately NO `if __name__ == '__main__':` guard."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def work():
    print("hello", flush=True)


ctx = multiprocessing.get_context(sys.argv[1])
p = ctx.Process(target=work)
try:
    p.start()
except RuntimeError as e:
    # Only reached where this file is re-run while bootstrapping: a spawn or forkserver child, or
    # the forkserver itself. The first sentence of the message is part of the contract; it is
    # printed to the trace (stderr_contains cannot be given per method, and under fork nothing is
    # written to stderr).
    message = " ".join(str(e).split())
    print("in the child, start: Bootstrapping", flush=True)
    print(f"message: {message[:message.index('.') + 1]}", flush=True)
    raise
except Exception:
    if __name__ != '__main__':
        raise
    # The parent, whose forkserver failed while it loaded this file.
    print("in the parent, start failed: no child was started", flush=True)
    sys.exit(1)
p.join()
print(f"exitcode: {p.exitcode}", flush=True)
