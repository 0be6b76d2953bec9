"""Queue.get(timeout=t) reads t as milliseconds, so it gives up a thousand times too early; IPC-2 should catch it."""
from multiprocessing import queues

from _stdlib import reexport

_get = queues.Queue.get


def _broken_get(self, block=True, timeout=None):
    if block and timeout is not None:
        timeout = timeout / 1000
    return _get(self, block, timeout)


queues.Queue.get = _broken_get

reexport(globals())
