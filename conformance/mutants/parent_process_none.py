"""parent_process() is None in a child too; PROC-2 and PROC-7 should catch it."""
import multiprocessing as _mp
from multiprocessing import context, process

from _stdlib import reexport


def _broken_parent_process():
    return None


process.parent_process = _broken_parent_process
context.BaseContext.parent_process = staticmethod(_broken_parent_process)
_mp.parent_process = _broken_parent_process

reexport(globals())
