"""join() without a timeout returns at once, before the child has ended; LIFE-10 should catch it."""
from multiprocessing.process import BaseProcess

from _stdlib import reexport

_join = BaseProcess.join


def _broken_join(self, timeout=None):
    return _join(self, 0 if timeout is None else timeout)


BaseProcess.join = _broken_join

reexport(globals())
