"""start() does not flush stdout first, so the parent's pending output comes after the child's (or twice, under fork); START-12 should catch it."""
from multiprocessing import util

from _stdlib import reexport


def _broken_flush_std_streams():
    pass


util._flush_std_streams = _broken_flush_std_streams

reexport(globals())
