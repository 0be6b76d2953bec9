"""The default start method is the wrong one (fork where it is spawn or forkserver, spawn where it is fork); START-5 and START-6 should catch it."""
from multiprocessing import context

from _stdlib import reexport

_default = context._default_context
_right = _default._default_context.get_start_method()
_default._default_context = context._concrete_contexts["spawn" if _right == "fork" else "fork"]

reexport(globals())
