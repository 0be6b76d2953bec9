"""get_context(method) returns the default context whatever the method; START-1 and PROC-5 should catch it."""
from multiprocessing import context

from _stdlib import reexport

_get_context = context.DefaultContext.get_context


def _broken_get_context(self, method=None):
    return _get_context(self, None)


context.DefaultContext.get_context = _broken_get_context

reexport(globals())
