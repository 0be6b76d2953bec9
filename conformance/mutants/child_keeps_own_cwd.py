"""A spawn or forkserver child does not enter its parent's current directory at start(); START-10 should catch it."""
from multiprocessing import spawn

from _stdlib import reexport

_get_preparation_data = spawn.get_preparation_data


def _broken_get_preparation_data(name):
    data = _get_preparation_data(name)
    data.pop("dir", None)
    return data


spawn.get_preparation_data = _broken_get_preparation_data

reexport(globals())
