"""join() of a process never started returns at once, not an error; MISUSE-2 should catch it."""
from multiprocessing.process import BaseProcess

from _stdlib import reexport

_join = BaseProcess.join


def _broken_join(self, timeout=None):
    if self._popen is None:
        return None
    return _join(self, timeout)


BaseProcess.join = _broken_join

reexport(globals())
