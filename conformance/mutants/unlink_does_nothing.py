"""SharedMemory.unlink() leaves the segment in place; IPC-3 should catch it."""
from multiprocessing import shared_memory

from _stdlib import reexport


def _broken_unlink(self):
    pass


shared_memory.SharedMemory.unlink = _broken_unlink

reexport(globals())
