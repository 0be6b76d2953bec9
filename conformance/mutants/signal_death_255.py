"""A child ended by a signal reports exit code 255 instead of -N; LIFE-4 should catch it."""
from multiprocessing.process import BaseProcess

from _stdlib import reexport

_exitcode = BaseProcess.exitcode.fget


def _broken_exitcode(self):
    code = _exitcode(self)
    return 255 if code is not None and code < 0 else code


BaseProcess.exitcode = property(_broken_exitcode)

reexport(globals())
