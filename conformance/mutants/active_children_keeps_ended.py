"""active_children() does not reap: a child that has ended but was not joined is still listed; LIFE-8 should catch it."""
import multiprocessing as _mp
from multiprocessing import context, process

from _stdlib import reexport


def _broken_active_children():
    return list(process._children)


process.active_children = _broken_active_children
context.BaseContext.active_children = staticmethod(_broken_active_children)
_mp.active_children = _broken_active_children

reexport(globals())
