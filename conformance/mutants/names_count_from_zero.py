"""Default process names count from 0 (Process-0), not 1; PROC-4 should catch it."""
import itertools

from multiprocessing import process

from _stdlib import reexport

process._process_counter = itertools.count(0)

reexport(globals())
