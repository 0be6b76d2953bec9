"""Semaphore(n) admits n + 1 acquires without a release; IPC-13 should catch it."""
from multiprocessing import synchronize

from _stdlib import reexport

_init = synchronize.Semaphore.__init__


def _broken_init(self, value=1, *, ctx):
    _init(self, value + 1, ctx=ctx)


synchronize.Semaphore.__init__ = _broken_init

reexport(globals())
