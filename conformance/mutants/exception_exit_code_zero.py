"""A child whose target raises prints the traceback but exits with 0, not 1; LIFE-2 should catch it."""
import sys
import traceback

from multiprocessing.process import BaseProcess

from _stdlib import reexport

_run = BaseProcess.run


def _broken_run(self):
    try:
        _run(self)
    except Exception:
        sys.stderr.write("Process %s:\n" % self.name)
        traceback.print_exc()


BaseProcess.run = _broken_run

reexport(globals())
