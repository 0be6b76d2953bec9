"""Condition.notify_all() wakes only one waiter; IPC-15 should catch it."""
from multiprocessing import synchronize

from _stdlib import reexport


def _broken_notify_all(self):
    self.notify(1)


synchronize.Condition.notify_all = _broken_notify_all

reexport(globals())
