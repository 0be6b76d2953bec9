"""A child that calls sys.exit(n) has exit code 0; LIFE-3 should catch it."""
from multiprocessing.process import BaseProcess

from _stdlib import reexport

_run = BaseProcess.run


def _broken_run(self):
    try:
        _run(self)
    except SystemExit as e:
        if isinstance(e.code, int):
            raise SystemExit(0)
        raise


BaseProcess.run = _broken_run

reexport(globals())
