"""Byte-reproducible ROOT files from uproot.

uproot (5.7) puts three run-dependent things into a file: the file and directory UUIDs
(``uuid_function``, default ``uuid.uuid1``: host and time), time stamps (``datetime.now()`` in
the TFile header, the directory and every TKey, i.e. every basket), and the file's own name
(the TFile key's name and title). Within :func:`fixed_uproot_output` the UUIDs come from a
key given by the caller, every time stamp is :data:`FIXED_TIME`, and the default compression is
the one asked for; writing under the final file name (in a private staging directory) fixes the
last. With the same jets the bytes are then identical, so a manifest's SHA-256 confirms a
re-production. Checked by ``tests/test_packing.py::test_identical_runs_identical_bytes``.
"""
from __future__ import annotations

import contextlib
import datetime as _datetime
import hashlib
import itertools
import threading
import types
import uuid

import uproot
import uproot.writing._cascade
import uproot.writing._cascadentuple
import uproot.writing._cascadetree
import uproot.writing.writable

FIXED_TIME = _datetime.datetime(2000, 1, 1, 0, 0, 0)
FIXED_EPOCH = 946684800  # FIXED_TIME as UTC seconds (tarball member times)
_MODULES = (uproot.writing._cascade, uproot.writing._cascadetree, uproot.writing._cascadentuple, uproot.writing.writable)
_LOCK = threading.Lock()

COMPRESSION = {"lz4": uproot.LZ4(1), "zlib": uproot.ZLIB(1), "zstd": uproot.ZSTD(1), "none": None}


def _fixed_clock(when: _datetime.datetime):
    class _Datetime(_datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return when

    shim = types.ModuleType("datetime")
    shim.__dict__.update({k: v for k, v in vars(_datetime).items() if not k.startswith("__")})
    shim.datetime = _Datetime
    return shim


@contextlib.contextmanager
def fixed_uproot_output(key: str, compression: str = "lz4", when: _datetime.datetime = FIXED_TIME):
    """uproot files created inside get UUIDs derived from ``key``, time stamps ``when`` and ``compression``."""
    counter = itertools.count()

    def uuid_function():
        digest = hashlib.sha256(f"{key}:{next(counter)}".encode()).digest()
        return uuid.UUID(bytes=digest[:16], version=4)

    defaults = uproot.writing.writable.create.defaults
    with _LOCK:
        saved = [m.datetime for m in _MODULES], dict(defaults)
        clock = _fixed_clock(when)
        try:
            for m in _MODULES:
                m.datetime = clock
            defaults["uuid_function"] = uuid_function
            defaults["compression"] = COMPRESSION[compression]
            yield
        finally:
            for m, d in zip(_MODULES, saved[0]):
                m.datetime = d
            defaults.clear()
            defaults.update(saved[1])
