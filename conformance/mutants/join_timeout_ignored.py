"""join(timeout) ignores its timeout and waits for the child to end; LIFE-6 should catch it."""
from multiprocessing.process import BaseProcess

from _stdlib import reexport

_join = BaseProcess.join


def _broken_join(self, timeout=None):
    return _join(self, None)


BaseProcess.join = _broken_join

reexport(globals())
