"""Connection.poll(timeout) reads timeout as milliseconds, so it gives up a thousand times too early; IPC-6 should catch it."""
from multiprocessing import connection

from _stdlib import reexport

_poll = connection._ConnectionBase.poll


def _broken_poll(self, timeout=0.0):
    return _poll(self, timeout / 1000 if timeout is not None else None)


connection._ConnectionBase.poll = _broken_poll

reexport(globals())
