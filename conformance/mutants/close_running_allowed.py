"""close() of a running process is silently ignored, not a ValueError; MISUSE-3 should catch it."""
from multiprocessing.process import BaseProcess

from _stdlib import reexport

_close = BaseProcess.close


def _broken_close(self):
    try:
        _close(self)
    except ValueError:
        pass


BaseProcess.close = _broken_close

reexport(globals())
