"""Helpers the scenario programs share (imported as `_support`, from the programs' directory).

* Importing it installs a `sys.excepthook` that, after the traceback, terminates and joins the
  process's live children: a program that fails unexpectedly (a missing API, a crashing call)
  then ends as a `fail`, instead of waiting at exit for children blocked on what will never come
  (a timeout) or leaving them behind (a leak).
* `Unserializable`: an object every serializer refuses, since its reduction raises `Refused`
  (pickle, dill and cloudpickle all reduce an instance through `__reduce_ex__`).
* `kind(exc)`: the SPEC kind of an exception raised where a serialization may fail:
  `Serialization` when the refusal is the exception or its cause, else `unexpected <Type>`, so
  that a serializer that crashes does not pass for one that refuses.
* `shown(obj)`: `str(obj)` with memory addresses tagged (`{addr:0x7f...}`, SPEC.md 0.2), for
  printing a received object whose type the scenario does not control.
"""
import pickle
import re
import sys


class Refused(pickle.PicklingError):
    """What `Unserializable` raises when asked to serialize itself."""


class Unserializable:
    """An object no serializer can encode: its reduction raises `Refused`."""

    def __reduce_ex__(self, protocol):
        raise Refused("Unserializable refuses to be serialized")

    def __reduce__(self):
        raise Refused("Unserializable refuses to be serialized")


def kind(exc):
    """`Serialization` if `exc` is, or was caused by, the refusal of an `Unserializable`."""
    seen, link = set(), exc
    while link is not None and id(link) not in seen:
        if isinstance(link, Refused):
            return "Serialization"
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return "unexpected " + type(exc).__name__


_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]+\b")


def shown(obj):
    """`str(obj)`, its memory addresses tagged as `{addr:0x...}`."""
    return _ADDRESS.sub(lambda m: "{addr:%s}" % m.group(0), str(obj))


def _end_children(exc_type, exc, tb):
    _previous_hook(exc_type, exc, tb)
    if not issubclass(exc_type, Exception):  # KeyboardInterrupt: exit as Python does (LIFE-11)
        return
    try:
        import multiprocessing
        children = multiprocessing.active_children()
    except Exception:
        return
    for p in children:
        try:
            p.terminate()
        except Exception:
            pass
    for p in children:
        try:
            p.join(10)
        except Exception:
            pass


_previous_hook = sys.excepthook
sys.excepthook = _end_children
