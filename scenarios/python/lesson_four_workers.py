"""lesson-four-workers: four processes named Worker-0..Worker-3 each print `Process: <name>`."""
import multiprocessing
import os
import sys
from multiprocessing import current_process

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def say(line):
    # one write per line: children print concurrently (and with PYTHONUNBUFFERED=1 print()
    # would write the text and the newline separately)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def worker():
    say(f"Process: {current_process().name}")
    say(f"{current_process().name} runs as {{pid:{os.getpid()}}}")


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    processes = [ctx.Process(target=worker, name=f"Worker-{i}") for i in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    for p in processes:
        print(f"{p.name} was started as {{pid:{p.pid}}}, exitcode {p.exitcode}", flush=True)
