"""Event.wait(timeout) returns at once instead of waiting up to timeout; IPC-16 should catch it."""
from multiprocessing import synchronize

from _stdlib import reexport

_wait = synchronize.Event.wait


def _broken_wait(self, timeout=None):
    return _wait(self, 0 if timeout is not None else None)


synchronize.Event.wait = _broken_wait

reexport(globals())
