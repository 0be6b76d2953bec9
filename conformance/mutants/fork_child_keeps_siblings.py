"""A fork child keeps its parent's list of children: it lists its siblings as its own and joins them at its end; PROC-1 and LIFE-8 should catch it."""
from multiprocessing import process
from multiprocessing.process import BaseProcess

from _stdlib import reexport

_bootstrap = BaseProcess._bootstrap
_run = BaseProcess.run
_inherited = set()


def _broken_bootstrap(self, parent_sentinel=None):
    _inherited.update(process._children)  # before the child forgets them
    return _bootstrap(self, parent_sentinel)


def _broken_run(self):
    process._children.update(_inherited)
    return _run(self)


BaseProcess._bootstrap = _broken_bootstrap
BaseProcess.run = _broken_run

reexport(globals())
