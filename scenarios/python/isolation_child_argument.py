"""isolation-child-argument: a child that mutates its list argument does not change the parent's list."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def child(items):
    items.append(4)
    print(f"child sees: {items}", flush=True)


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    data = [1, 2, 3]
    p = ctx.Process(target=child, args=(data,))
    p.start()
    p.join()
    print(f"parent sees after join: {data}", flush=True)
