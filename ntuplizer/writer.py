"""Writing JetClass-II jet records: ROOT TTree (readable by uproot, weaver and ROOT) or parquet.

ROOT layout: the 54 published branches, in the published order, plus one counter per
collection of per-particle branches: ``npart`` (``part_*``), ``ngenpart`` (``genpart_*``) and
``naux_genpart`` (``aux_genpart_*``). A per-particle branch is a variable-length C array
(``part_px[npart]/F``), not the ``std::vector<float>`` of the reference macro's files: uproot
cannot write ``std::vector`` branches. ROOT reads it with ``TTreeReaderArray<float>``,
RDataFrame (``ROOT::RVec<float>``) and ``TTree::Draw``; see docs/ntuplizer.md.

Files are written under a temporary name and renamed on success, so a failed run never
leaves a partial output behind.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import uproot

from jetclass2.atomic import output_errors, temporary_name
from jetclass2.rootfile import open_output

from . import schema

TREE_NAME = "tree"
FORMATS = ("root", "parquet")


#: Collections of per-particle branches; the branches of one collection share the counter ``n<collection>``.
COLLECTIONS = ("part", "genpart", "aux_genpart")


def collection_of(branch: str) -> str:
    """The collection a per-particle branch belongs to (``aux_genpart_pt`` -> ``aux_genpart``)."""
    return max((c for c in COLLECTIONS if branch.startswith(c + "_")), key=len)


def _tree_layout() -> list[tuple[str, list[tuple[str, str, str]] | str]]:
    """mktree entries in schema order: (branch, dtype) for a per-jet branch, (collection,
    [(branch, field, dtype), ...]) for the per-particle branches of one collection."""
    layout, seen = [], set()
    for name, dtype, jagged in schema.BRANCHES:
        if not jagged:
            layout.append((name, dtype))
            continue
        coll = collection_of(name)
        if coll not in seen:
            if any(entry[0] == coll for entry in layout):
                raise AssertionError(f"schema: {coll}_* branches are not contiguous")
            seen.add(coll)
            layout.append((coll, []))
        if layout[-1][0] != coll:
            raise AssertionError(f"schema: {coll}_* branches are not contiguous")
        layout[-1][1].append((name, name[len(coll) + 1:], dtype))
    return layout


#: The TTree layout, public for other writers of the same tree (jetclass2.packing.rootwriter): per
#: ``mktree`` entry in schema order, ``(branch, dtype)`` for a per-jet branch or ``(collection,
#: [(branch, field, dtype), ...])`` for the per-particle branches of one collection.
BRANCH_LAYOUT = _tree_layout()


def branch_types() -> dict:
    """The ``mktree`` branch types of :data:`BRANCH_LAYOUT` (numpy dtypes, awkward record lists)."""
    return dict(_branch_types())


@functools.cache
def _branch_types() -> dict:
    # parsing the awkward datashapes costs ~8 ms, once per output file otherwise
    types = {}
    for key, spec in BRANCH_LAYOUT:
        if isinstance(spec, str):
            types[key] = np.dtype(spec)
        else:
            fields = ", ".join(f"{field}: {dtype}" for _, field, dtype in spec)
            types[key] = ak.types.from_datashape(f"var * {{{fields}}}", highlevel=False)
    return types


def _tree_chunk(records: ak.Array) -> dict:
    """One extend() call's arrays: per-jet branches as they are, each collection zipped into one
    record list (uproot then writes one counter for it)."""
    chunk = {}
    layout = records.layout
    index = {name: i for i, name in enumerate(layout.fields)}
    for key, spec in BRANCH_LAYOUT:
        if isinstance(spec, str):
            chunk[key] = ak.Array(layout.contents[index[key]])
            continue
        lists = [layout.contents[index[name]] for name, _, _ in spec]
        offsets = np.asarray(lists[0].offsets.data)
        if all(isinstance(c, ak.contents.ListOffsetArray) and np.array_equal(np.asarray(c.offsets.data), offsets)
               for c in lists):
            # same counts for every branch of the collection (as the ntuplizer makes them): zip the layouts
            record = ak.contents.RecordArray([c.content for c in lists], [field for _, field, _ in spec],
                                             length=int(offsets[-1]))
            chunk[key] = ak.Array(ak.contents.ListOffsetArray(lists[0].offsets, record))
        else:
            chunk[key] = ak.zip({field: records[name] for name, field, _ in spec})
    return chunk


class JetWriter:
    """Append jet record chunks to one output file; atomic on close."""

    def __init__(self, path: str | os.PathLike, fmt: str = "root"):
        if fmt not in FORMATS:
            raise ValueError(f"unknown output format {fmt!r} (choose from {FORMATS})")
        self.path = Path(path)
        self.fmt = fmt
        self.tmp = temporary_name(self.path)
        self.n_jets = 0
        self._root = None
        self._file = None
        self._tree = None
        self._pq = None

    def __enter__(self) -> "JetWriter":
        self._root, self._file = open_output(self.path, self.tmp, root=self.fmt == "root")  # jetclass2.rootfile
        try:
            if self._file is not None:
                with output_errors(self.path):
                    # a TTree (not an RNTuple), branches named <collection>_<field>, counters n<collection>
                    self._tree = self._file.mktree(TREE_NAME, branch_types(),
                                                   field_name=lambda outer, inner: f"{outer}_{inner}",
                                                   counter_name=lambda collection: f"n{collection}")
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def write(self, records: ak.Array) -> None:
        """Append a chunk of records (schema order and dtypes are enforced)."""
        if len(records) == 0:
            return
        if not schema.is_conform(records):
            records = schema.conform({name: records[name] for name in schema.BRANCH_NAMES})
        with output_errors(self.path):
            if self.fmt == "root":
                self._tree.extend(_tree_chunk(records))
            else:
                table = ak.to_arrow_table(records, extensionarray=False)
                if self._pq is None:
                    self._pq = pq.ParquetWriter(self.tmp, table.schema)
                self._pq.write_table(table)
        self.n_jets += len(records)

    def __exit__(self, exc_type, exc, tb) -> None:
        renamed = False
        try:
            with output_errors(self.path):
                if self._root is not None:
                    self._root.__exit__(exc_type, exc, tb)  # closes the file
                elif self._pq is not None:
                    self._pq.close()
                elif exc_type is None and self.fmt == "parquet":
                    ak.to_parquet(schema.empty_record(), self.tmp, extensionarray=False)
                if exc_type is None:
                    os.replace(self.tmp, self.path)
                    renamed = True
        finally:
            self._root = self._pq = None
            if not renamed:
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
