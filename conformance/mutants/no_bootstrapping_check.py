"""No bootstrapping check: a spawned child re-running unguarded code starts processes (3 deep, not endlessly); GUARD-2 should catch it."""
import os

import multiprocessing as _mp
from multiprocessing import spawn

from _stdlib import reexport

_check = spawn._check_not_importing_main
_DEPTH = "MUTANT_NO_BOOTSTRAPPING_CHECK_DEPTH"  # the cap that keeps this mutant from a fork bomb


def _broken_check():
    if getattr(_mp.current_process(), "_inheriting", False):
        depth = int(os.environ.get(_DEPTH, "0"))
        if depth >= 3:
            return _check()
        os.environ[_DEPTH] = str(depth + 1)
    return None


spawn._check_not_importing_main = _broken_check

reexport(globals())
