"""JoinableQueue.task_done() called more times than items were put is silently ignored, not a ValueError; IPC-10 should catch it."""
from multiprocessing import queues

from _stdlib import reexport

_task_done = queues.JoinableQueue.task_done


def _broken_task_done(self):
    try:
        _task_done(self)
    except ValueError:
        pass


queues.JoinableQueue.task_done = _broken_task_done

reexport(globals())
