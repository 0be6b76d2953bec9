"""missing-guard: without the main guard, module-level code that starts a process works under fork;
under spawn and forkserver the child, re-running that code while bootstrapping, fails with the
Bootstrapping error (exitcode 1) instead of starting processes endlessly.

Deliberately NO `if __name__ == '__main__':` guard."""
import multiprocessing
import sys


def work():
    print("hello", flush=True)


ctx = multiprocessing.get_context(sys.argv[1])
p = ctx.Process(target=work)
try:
    p.start()
except RuntimeError as e:
    # Only reached in a spawn/forkserver child re-running this file. The first sentence of the
    # message is part of the contract; it is printed to the trace (stderr_contains cannot be
    # given per method, and under fork nothing is written to stderr).
    message = " ".join(str(e).split())
    print("in the child, start: Bootstrapping", flush=True)
    print(f"message: {message[:message.index('.') + 1]}", flush=True)
    raise
p.join()
print(f"exitcode: {p.exitcode}", flush=True)
