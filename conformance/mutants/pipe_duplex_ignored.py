"""Pipe(duplex=False) returns a two-way pair; IPC-1 should catch it."""
from multiprocessing import connection

from _stdlib import reexport

_pipe = connection.Pipe


def _broken_pipe(duplex=True):
    return _pipe(True)


connection.Pipe = _broken_pipe

reexport(globals())
