"""A spawn or forkserver child's default start method is the platform's, not the method that started it; START-9 should catch it."""
from multiprocessing import spawn

from _stdlib import reexport

_get_preparation_data = spawn.get_preparation_data


def _broken_get_preparation_data(name):
    data = _get_preparation_data(name)
    data.pop("start_method", None)
    return data


spawn.get_preparation_data = _broken_get_preparation_data

reexport(globals())
