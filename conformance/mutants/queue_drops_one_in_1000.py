"""Queue.put drops every thousandth item a process puts; IPC-2 should catch it."""
import itertools

from multiprocessing import queues

from _stdlib import reexport

_put = queues.Queue.put
_puts = itertools.count(1)


def _broken_put(self, obj, block=True, timeout=None):
    if next(_puts) % 1000 == 0:
        return None
    return _put(self, obj, block, timeout)


queues.Queue.put = _broken_put

reexport(globals())
