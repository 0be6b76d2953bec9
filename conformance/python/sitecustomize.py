# The conformance runner's shim for Python implementations (conformance/src/adapter.rs).
#
# The runner writes this file into a directory of its own and puts that directory first on
# PYTHONPATH, so every Python process of a run (the program, its spawn children, the forkserver
# and its children: they inherit the environment) imports it at start-up as `sitecustomize`.
# It does two things, and nothing else:
#
# 1. Drop-in replacement. When CONFORMANCE_MODULE names a module other than `multiprocessing`,
#    the *scenario program's own* imports of `multiprocessing` and `multiprocessing.X` return that
#    module (and `<module>.X`). Only imports written in the program (`__main__` or `__mp_main__`
#    with a `__file__`) or in a file under a directory of CONFORMANCE_SCOPE are redirected: the
#    replacement's own imports of the standard library's `multiprocessing` stay untouched, and
#    nothing is aliased in `sys.modules`.
# 2. Identity. Each process that imports `multiprocessing` from the program appends one line
#    `<role> <module of Process> <pid>` to CONFORMANCE_IDENTITY_FILE: role `main` for the first
#    Python process of the run, `child` for every other one (spawn and forkserver children, and
#    fork children through os.register_at_fork). The runner checks that a `main` line exists
#    and that every line names the implementation the manifest declares.
#
# Then it runs the `sitecustomize` it shadows, if there is one. It must run on CPython 3.8 and
# later and on PyPy, and must never break the program: a failure is reported as the identity.

import os
import sys


def _conformance_shim():
    import builtins

    env = os.environ
    module = env.get("CONFORMANCE_MODULE") or "multiprocessing"
    report = env.get("CONFORMANCE_IDENTITY_FILE")
    scope = tuple(
        os.path.normcase(os.path.abspath(d)) + os.sep
        for d in env.get("CONFORMANCE_SCOPE", "").split(os.pathsep)
        if d
    )
    # The first Python process of the run is the main one; every process started from it
    # inherits the mark.
    if env.get("CONFORMANCE_MAIN_PID"):
        role = ["child"]
    else:
        env["CONFORMANCE_MAIN_PID"] = str(os.getpid())
        role = ["main"]
    state = {"identity": None, "pid": None}
    original = builtins.__import__

    def write(line):
        if not report:
            return
        try:
            fd = os.open(report, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8", "replace"))
            finally:
                os.close(fd)
        except OSError:
            pass

    def record():
        pid = os.getpid()
        if state["pid"] == pid:
            return
        state["pid"] = pid
        if state["identity"] is None:
            try:
                top = sys.modules[module]
                process = getattr(top, "Process", None)
                name = getattr(process, "__module__", None)
                if not isinstance(name, str) or not name:
                    name = "?no-Process-in-" + getattr(top, "__name__", module)
            except Exception as e:  # never break the program
                name = "?shim-error:" + type(e).__name__
            state["identity"] = name.replace(" ", "_")
        write("%s %s %d\n" % (role[0], state["identity"], pid))

    def after_fork_in_child():
        role[0] = "child"
        if state["identity"] is not None:
            record()

    def in_scope(g):
        try:
            path = g.get("__file__")
            if not path:
                return False  # `python -c` code, such as a spawn child's bootstrap
            if g.get("__name__") in ("__main__", "__mp_main__"):
                return True
            return bool(scope) and os.path.normcase(os.path.abspath(path)).startswith(scope)
        except Exception:
            return False

    def conformance_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and (name == "multiprocessing" or name.startswith("multiprocessing.")):
            g = globals
            if g is None:
                try:
                    g = sys._getframe(1).f_globals
                except Exception:
                    g = {}
            if in_scope(g):
                target = module + name[len("multiprocessing"):]
                result = original(target, globals, locals, fromlist, level)
                if state["identity"] is None or state["pid"] != os.getpid():
                    if target != module:
                        original(module, globals, locals, (), 0)
                    record()
                    if not state.get("at_fork"):
                        state["at_fork"] = True
                        if hasattr(os, "register_at_fork"):
                            os.register_at_fork(after_in_child=after_fork_in_child)
                return result
        return original(name, globals, locals, fromlist, level)

    builtins.__import__ = conformance_import


def _chain():
    """Run the `sitecustomize` this one shadows (a distribution's, a virtualenv's)."""
    here = os.path.normcase(os.path.dirname(os.path.abspath(__file__)))
    path = [p for p in sys.path if os.path.normcase(os.path.abspath(p or ".")) != here]
    import importlib.machinery

    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    import types

    shadowed = types.ModuleType("sitecustomize")
    shadowed.__file__ = spec.origin
    shadowed.__spec__ = spec
    shadowed.__loader__ = spec.loader
    spec.loader.exec_module(shadowed)


try:
    _conformance_shim()
except Exception as e:  # the runner sees no identity, or this one, and says why
    _report = os.environ.get("CONFORMANCE_IDENTITY_FILE")
    if _report:
        with open(_report, "a") as _f:
            _f.write("main ?shim-error:%s %d\n" % (type(e).__name__, os.getpid()))
del _conformance_shim
_chain()
del _chain
