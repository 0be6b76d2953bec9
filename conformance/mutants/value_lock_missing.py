"""Value(..., lock=True) is an unsynchronized value without get_lock(); IPC-3 should catch it."""
from multiprocessing import sharedctypes

from _stdlib import reexport


def _broken_value(typecode_or_type, *args, lock=True, ctx=None):
    return sharedctypes.RawValue(typecode_or_type, *args)


sharedctypes.Value = _broken_value

reexport(globals())
