"""terminate() sends SIGKILL, so the exit code is -9, not -15; LIFE-4 should catch it."""
import signal

from multiprocessing import popen_fork

from _stdlib import reexport


def _broken_terminate(self):
    self._send_signal(signal.SIGKILL)


popen_fork.Popen.terminate = _broken_terminate

reexport(globals())
