"""ROOT files with reproducible bytes: the same content written twice gives the same file.

A ROOT file records a UUID and the creation and modification times (of the file, its
directory and every key). uproot takes the UUID from a function it is given
(``uuid_function``); the times it reads from ``datetime.datetime.now()`` with no option to fix
them, so while a :func:`recreate` file is open uproot's writing modules see a clock stopped at
``SOURCE_DATE_EPOCH`` (the reproducible-builds convention; default 1995-01-01, the first time
a ROOT ``TDatime`` can hold). With both fixed, the bytes depend only on the content written
(checked by tests/test_root_layout.py), so a manifest's SHA-256 confirms a re-production.
The file is written through an open file object, so the name stored inside it is uproot's
"dynamic.root", not the temporary name it is written under (ROOT shows the name a file is
opened by).
"""
from __future__ import annotations

import contextlib
import datetime as _datetime
import os
import sys
import threading
import types
import uuid

import uproot

from .atomic import check_output_path, output_errors, remove_stale_temporaries
from .uproot_internals import require, unsupported

#: uproot's writing modules whose clock stopped_clock stops (they ``import datetime``)
CLOCK_MODULES = ("writing._cascade", "writing._cascadetree")

#: ROOT's TDatime counts from 1995.
DEFAULT_EPOCH = _datetime.datetime(1995, 1, 1)
_NAMESPACE = uuid.UUID("6f1f4d0e-7a43-5b52-9a1e-3c2d4a6b8e10")  # this project's UUID namespace


def fixed_time() -> _datetime.datetime:
    """The time written into files: ``$SOURCE_DATE_EPOCH`` (seconds, UTC) or 1995-01-01."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return _datetime.datetime.fromtimestamp(int(epoch), tz=_datetime.timezone.utc).replace(tzinfo=None)
    return DEFAULT_EPOCH


def file_uuid(name: str):
    """A zero-argument UUID function for uproot: the same UUID for the same file name."""
    value = uuid.uuid5(_NAMESPACE, name)
    return lambda: value


_lock = threading.Lock()
_depth = 0
_saved: dict[str, object] = {}


def _stopped_clock_module(at: _datetime.datetime) -> types.ModuleType:
    class _Stopped(_datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return at if tz is None else at.replace(tzinfo=_datetime.timezone.utc).astimezone(tz)

    shim = types.ModuleType("datetime")
    shim.__dict__.update(_datetime.__dict__)
    shim.datetime = _Stopped
    return shim


def _writing_modules():
    """uproot's writing modules that read the clock (they ``import datetime``)."""
    return [m for name, m in sys.modules.items()
            if name.startswith("uproot.writing") and getattr(m, "datetime", None) is _datetime]


def check_uproot() -> None:
    """The installed uproot reads the clock where stopped_clock stops it (else: UnsupportedUproot)."""
    require(__name__, *CLOCK_MODULES, "writing.recreate")
    for name in CLOCK_MODULES:
        if getattr(sys.modules[f"uproot.{name}"], "datetime", None) is not _datetime:
            raise unsupported(__name__, f"uproot.{name}.datetime (the datetime module)")


check_uproot()


@contextlib.contextmanager
def stopped_clock():
    """While inside (nested and concurrent uses allowed), uproot writes :func:`fixed_time`."""
    global _depth
    with _lock:
        if _depth == 0:
            shim = _stopped_clock_module(fixed_time())
            for module in _writing_modules():
                _saved[module.__name__] = module.datetime
                module.datetime = shim
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for name, original in _saved.items():
                    sys.modules[name].datetime = original
                _saved.clear()


#: Compression of the ROOT files written here (ntuples, Delphes-format files): zstd level 1 writes
#: about as small as zlib level 1 in a fraction of the time; uproot and ROOT read it.
COMPRESSION = uproot.ZSTD(1)


class ReproducibleFile:
    """``uproot.recreate(path)`` with a UUID from ``name`` and the stopped clock, as a context manager.

    >>> with ReproducibleFile(tmp, name="jets.root") as f:
    ...     f.mktree(...)
    """

    def __init__(self, path, name: str, **options):
        self.path, self.name, self.options = path, name, options
        self._clock = None
        self._raw = None
        self.file = None

    def __enter__(self):
        self._clock = stopped_clock()
        self._clock.__enter__()
        try:
            self._raw = open(self.path, "w+b")
            options = {"compression": COMPRESSION, **self.options}
            self.file = uproot.recreate(self._raw, uuid_function=file_uuid(self.name), **options)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self.file

    def __exit__(self, exc_type, exc, tb):
        try:
            try:
                if self.file is not None:
                    self.file.close()
            finally:
                if self._raw is not None:
                    self._raw.close()
        finally:
            self._clock.__exit__(exc_type, exc, tb)


def open_output(path, tmp, root: bool = True):
    """Start writing the atomic output ``path`` under its temporary name ``tmp``.

    Fails before any work if ``path`` cannot become a file; makes its directory, removes dead
    processes' temporaries of it (errors name ``path``, jetclass2.atomic) and, with ``root``,
    opens a reproducible ROOT file at ``tmp``. Returns ``(ReproducibleFile, open file)``, or
    ``(None, None)`` without ``root``; the caller closes the first and renames ``tmp``. On failure
    nothing is left behind.
    """
    path = check_output_path(path)
    try:
        with output_errors(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(path)
            if not root:
                return None, None
            # reproducible bytes: UUID from the file name, times fixed
            context = ReproducibleFile(tmp, name=path.name)
            return context, context.__enter__()
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
