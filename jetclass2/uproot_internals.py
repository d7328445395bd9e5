"""uproot's private internals this project relies on, checked where they are used.

jetclass2.rootfile stops the clock of uproot's writing modules (reproducible files) and
jetclass2.packing.rootwriter replaces the basket writers of a tree (one-copy baskets): both reach into
uproot's private modules, which may change in any release. pyproject.toml therefore bounds uproot
to the releases these were checked with; with another one (an environment that ignores the bound),
:func:`require` stops at import with one line naming uproot's version and what is missing, instead
of a traceback deep inside a job or, worse, silently different files.
"""
from __future__ import annotations

import importlib
import types

import uproot

#: The uproot releases the patches were checked with (pyproject.toml's bound).
SUPPORTED = ">=5.7,<5.8"


class UnsupportedUproot(RuntimeError):
    """The installed uproot lacks an internal this project patches."""


def unsupported(user: str, missing: str) -> UnsupportedUproot:
    return UnsupportedUproot(f"uproot {uproot.__version__} is not supported: {user} needs {missing}, which it lacks "
                             f"(install uproot{SUPPORTED}: pip install 'uproot{SUPPORTED}')")


def _resolve(path: str):
    """The object at ``uproot.<path>``, importing submodules on the way; AttributeError if absent."""
    obj = uproot
    for part in path.split("."):
        if hasattr(obj, part):
            obj = getattr(obj, part)
        elif isinstance(obj, types.ModuleType):
            try:
                obj = importlib.import_module(f"{obj.__name__}.{part}")
            except ImportError:
                raise AttributeError(path) from None
        else:
            raise AttributeError(path)
    return obj


def require(user: str, *paths: str) -> None:
    """Raise :class:`UnsupportedUproot` unless every ``uproot.<path>`` exists (``user``: who needs it)."""
    for path in paths:
        try:
            _resolve(path)
        except AttributeError:
            raise unsupported(user, f"uproot.{path}") from None


def require_attributes(user: str, obj, *names: str) -> None:
    """Raise :class:`UnsupportedUproot` unless the uproot object ``obj`` has every attribute ``names``."""
    for name in names:
        if not hasattr(obj, name):
            raise unsupported(user, f"{type(obj).__module__}.{type(obj).__name__}.{name}")
