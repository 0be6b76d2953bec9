"""The control: the standard library's multiprocessing, re-exported without a patch; every scenario should pass."""
from _stdlib import reexport

reexport(globals())
