"""Non-daemonic children are not joined when the main process ends; EXIT-1 should catch it."""
import atexit
import functools

from multiprocessing import process, util

from _stdlib import reexport


def _daemonic():
    return [p for p in process.active_children() if p.daemon]


_broken_exit = functools.partial(util._exit_function, active_children=_daemonic)
atexit.unregister(util._exit_function)
atexit.register(_broken_exit)
util._exit_function = _broken_exit  # what a child calls at its end

reexport(globals())
