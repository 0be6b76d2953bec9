"""What every mutant shares: it is the standard library's multiprocessing, re-exported.

`reexport(globals())` at the end of a mutant makes the mutant's module a drop-in replacement of
`multiprocessing` (conformance/mutants/README.md): its attributes are the standard library's
(after the mutant's patch), `<mutant>.X` is the standard library's `multiprocessing.X` (the same
module object, not a copy), and its `Process` is a subclass named after the mutant, so that the
runner's identity check proves the mutant was loaded.
"""
import importlib
import importlib.abc
import importlib.util
import sys

import multiprocessing
from multiprocessing import context


class _Submodules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `<mutant>.X` as the standard library's `multiprocessing.X`."""

    def __init__(self, name):
        self.prefix = name + "."

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(self.prefix):
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module("multiprocessing." + spec.name[len(self.prefix):])

    def exec_module(self, module):
        pass


def reexport(namespace):
    """Make the module whose globals are `namespace` the standard library's multiprocessing."""
    name = namespace["__name__"]
    sys.meta_path.insert(0, _Submodules(name))
    namespace["__path__"] = []  # a package, whose submodules _Submodules finds
    namespace["Process"] = type("Process", (context.Process,), {"__module__": name})

    def __getattr__(attribute):
        try:
            return getattr(multiprocessing, attribute)
        except AttributeError:
            if attribute.startswith("__"):
                raise
            return importlib.import_module("multiprocessing." + attribute)

    namespace["__getattr__"] = __getattr__
