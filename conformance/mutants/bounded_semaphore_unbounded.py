"""BoundedSemaphore.release() past its initial value is silently ignored, not a ValueError; IPC-13 should catch it."""
from multiprocessing import synchronize

from _stdlib import reexport


def _broken_make_methods(self):
    synchronize.SemLock._make_methods(self)
    release = self._semlock.release

    def _release():
        try:
            release()
        except ValueError:
            pass

    self.release = _release


synchronize.BoundedSemaphore._make_methods = _broken_make_methods

reexport(globals())
