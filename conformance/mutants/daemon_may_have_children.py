"""A daemonic process may start children; DAEMON-1 should catch it."""
from multiprocessing import process
from multiprocessing.process import BaseProcess

from _stdlib import reexport

_start = BaseProcess.start


def _broken_start(self):
    config = process._current_process._config
    daemon = config.pop("daemon", None)
    try:
        _start(self)
    finally:
        if daemon is not None:
            config["daemon"] = daemon


BaseProcess.start = _broken_start

reexport(globals())
