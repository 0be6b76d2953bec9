"""Daemonic children are neither terminated nor joined when their parent ends; DAEMON-2 should catch it."""
import atexit
import functools

from multiprocessing import process, util

from _stdlib import reexport


def _non_daemonic():
    return [p for p in process.active_children() if not p.daemon]


_broken_exit = functools.partial(util._exit_function, active_children=_non_daemonic)
atexit.unregister(util._exit_function)
atexit.register(_broken_exit)
util._exit_function = _broken_exit  # what a child calls at its end

reexport(globals())
