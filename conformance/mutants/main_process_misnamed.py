"""The main process is named Main, not MainProcess; PROC-7 should catch it."""
import multiprocessing as _mp
from multiprocessing import process

from _stdlib import reexport

if _mp.parent_process() is None:
    process.current_process().name = "Main"

reexport(globals())
