"""A second start() of a started process is silently ignored, not an error; MISUSE-1 should catch it."""
from multiprocessing.process import BaseProcess

from _stdlib import reexport

_start = BaseProcess.start


def _broken_start(self):
    if self._popen is not None:
        return None
    return _start(self)


BaseProcess.start = _broken_start

reexport(globals())
