"""Queue(maxsize) is unbounded, so put_nowait() on a full queue succeeds; IPC-2 should catch it."""
from multiprocessing import queues

from _stdlib import reexport

_init = queues.Queue.__init__


def _broken_init(self, maxsize=0, *, ctx):
    _init(self, 0, ctx=ctx)


queues.Queue.__init__ = _broken_init

reexport(globals())
