"""pool-imap-complete: imap yields every result in the items' order; imap_unordered yields every
result exactly once, in any order."""
import multiprocessing
import sys

import _support  # noqa: F401  (ends the children if the program fails unexpectedly)


def square(x):
    return x * x


if __name__ == '__main__':
    ctx = multiprocessing.get_context(sys.argv[1])
    with ctx.Pool(3) as pool:
        ordered = list(pool.imap(square, range(50)))
        print(f"imap in order: {ordered == [x * x for x in range(50)]}", flush=True)
        for chunksize in (1, 4):
            got = list(pool.imap_unordered(square, range(50), chunksize))
            print(f"imap_unordered chunksize={chunksize}: {len(got)} results, "
                  f"each once: {sorted(got) == ordered}", flush=True)
