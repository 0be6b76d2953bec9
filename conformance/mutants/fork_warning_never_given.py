"""fork() while another thread runs gives no DeprecationWarning; FORK-1 should catch it."""
# requires: >=3.12
import warnings

from multiprocessing import popen_fork

from _stdlib import reexport

_launch = popen_fork.Popen._launch


def _broken_launch(self, process_obj):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _launch(self, process_obj)


popen_fork.Popen._launch = _broken_launch

reexport(globals())
