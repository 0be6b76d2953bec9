"""Pool.map loses the result of the last item; POOL-1 should catch it."""
from multiprocessing import pool

from _stdlib import reexport

_map = pool.Pool.map


def _broken_map(self, func, iterable, chunksize=None):
    return _map(self, func, iterable, chunksize)[:-1]


pool.Pool.map = _broken_map

reexport(globals())
