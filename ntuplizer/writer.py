"""Writing JetClass-II jet records: ROOT TTree (readable by uproot, weaver and ROOT) or parquet.

Files are written under a temporary name and renamed on success, so a failed run never
leaves a partial output behind.
"""
from __future__ import annotations

import os
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import uproot

from jetclass2.atomic import temporary_name

from . import schema

TREE_NAME = "tree"
FORMATS = ("root", "parquet")


def _branch_types() -> dict:
    types = {}
    for name, dtype, jagged in schema.BRANCHES:
        types[name] = ak.types.from_datashape(f"var * {dtype}", highlevel=False) if jagged else np.dtype(dtype)
    return types


class JetWriter:
    """Append jet record chunks to one output file; atomic on close."""

    def __init__(self, path: str | os.PathLike, fmt: str = "root"):
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r} (choose from {FORMATS})")
        self.path = Path(path)
        self.fmt = fmt
        self.tmp = temporary_name(self.path)
        self.n_jets = 0
        self._file = None
        self._tree = None
        self._pq = None

    def __enter__(self) -> "JetWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.fmt == "root":
            self._file = uproot.recreate(self.tmp)
            # a TTree (not an RNTuple): counters per jagged branch, as ROOT's vector<T> reads back in uproot
            self._tree = self._file.mktree(TREE_NAME, _branch_types(), counter_name=lambda b: f"n{b}")
        return self

    def write(self, records: ak.Array) -> None:
        """Append a chunk of records (schema order and dtypes are enforced)."""
        if len(records) == 0:
            return
        records = schema.conform({name: records[name] for name in schema.BRANCH_NAMES})
        if self.fmt == "root":
            self._tree.extend({name: records[name] for name in schema.BRANCH_NAMES})
        else:
            table = ak.to_arrow_table(records, extensionarray=False)
            if self._pq is None:
                self._pq = pq.ParquetWriter(self.tmp, table.schema)
            self._pq.write_table(table)
        self.n_jets += len(records)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self.fmt == "root":
                self._file.close()
            else:
                if self._pq is None and exc_type is None:
                    ak.to_parquet(schema.empty_record(), self.tmp, extensionarray=False)
                elif self._pq is not None:
                    self._pq.close()
        finally:
            if exc_type is None:
                os.replace(self.tmp, self.path)
            else:
                self.tmp.unlink(missing_ok=True)


def write_jets(path: str | os.PathLike, records: ak.Array, fmt: str = "root") -> None:
    """Write ``records`` to ``path`` in one go."""
    with JetWriter(path, fmt=fmt) as w:
        w.write(records)


def read_jets(path: str | os.PathLike) -> ak.Array:
    """Read a JetClass-II file written by this package (ROOT or parquet) back as records."""
    path = Path(path)
    if path.suffix == ".parquet":
        return ak.from_parquet(path)
    return uproot.open(path)[TREE_NAME].arrays(schema.BRANCH_NAMES)
