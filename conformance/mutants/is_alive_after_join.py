"""is_alive() stays true after join() has returned; LIFE-7 should catch it."""
from multiprocessing.process import BaseProcess

from _stdlib import reexport

_join = BaseProcess.join
_is_alive = BaseProcess.is_alive


def _broken_join(self, timeout=None):
    _join(self, timeout)
    if self._popen is not None and self._popen.returncode is not None:
        self._mutant_joined = True


def _broken_is_alive(self):
    return getattr(self, "_mutant_joined", False) or _is_alive(self)


BaseProcess.join = _broken_join
BaseProcess.is_alive = _broken_is_alive

reexport(globals())
