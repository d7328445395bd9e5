"""Jet records as plain numpy columns: cheap permutation, concatenation, Arrow batches and a content hash.

A *column set* maps every branch of :data:`ntuplizer.schema.BRANCHES` to a numpy array (one value
per jet) or, for jagged branches, to a pair ``(offsets, values)`` with ``offsets[0] == 0``. Working
at this level keeps the packing jobs fast (a permutation is one ``np.take`` per buffer) and their
memory predictable (one copy of the jets, no Python objects per jet).
"""
from __future__ import annotations

import hashlib

import awkward as ak
import numpy as np
import pyarrow as pa

from ntuplizer.schema import BRANCHES, conform

JAGGED = {name: jagged for name, _, jagged in BRANCHES}
DTYPES = {name: np.dtype(dtype) for name, dtype, _ in BRANCHES}


def n_jets(cols: dict) -> int:
    first = cols[BRANCHES[0][0]]
    return len(first[0]) - 1 if JAGGED[BRANCHES[0][0]] else len(first)


def from_awkward(arr: ak.Array) -> dict:
    """Columns of a jet record array (as read by uproot or built by the ntuplizer)."""
    cols = {}
    for name, _, jagged in BRANCHES:
        layout = ak.to_layout(arr[name])
        if jagged:
            if not isinstance(layout, ak.contents.ListOffsetArray):
                layout = ak.to_layout(ak.to_packed(arr[name]))
            offsets = np.asarray(layout.offsets.data, dtype=np.int64)
            values = np.asarray(layout.content.data)[offsets[0]:offsets[-1]].astype(DTYPES[name], copy=False)
            cols[name] = (offsets - offsets[0], values)
        else:
            cols[name] = np.asarray(ak.to_numpy(arr[name]), dtype=DTYPES[name])
    return cols


def to_awkward(cols: dict) -> ak.Array:
    """The record array of a column set, in schema order and dtypes."""
    arrays = {}
    for name, _, jagged in BRANCHES:
        if jagged:
            offsets, values = cols[name]
            arrays[name] = ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), ak.contents.NumpyArray(values)))
        else:
            arrays[name] = cols[name]
    return conform(arrays)


def _ranges_index(offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New offsets and the flat positions of the lists ``idx`` (concatenated ranges, vectorised)."""
    starts = offsets[:-1][idx]
    counts = offsets[1:][idx] - starts
    new_offsets = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(counts, out=new_offsets[1:])
    # position p of the output comes from starts[j] + (p - new_offsets[j]) for the list j holding p
    flat = np.arange(new_offsets[-1], dtype=np.int64)
    flat += np.repeat(starts - new_offsets[:-1], counts)
    return new_offsets, flat


def take(cols: dict, idx: np.ndarray) -> dict:
    """The jets ``idx`` (any order, repeats allowed) of a column set."""
    idx = np.asarray(idx, dtype=np.int64)
    out, cache = {}, []  # branches of one collection share their counts: reuse the flat index
    for name, _, jagged in BRANCHES:
        if not jagged:
            out[name] = cols[name][idx]
            continue
        offsets, values = cols[name]
        hit = next((c for c in cache if c[0] is offsets or np.array_equal(c[0], offsets)), None)
        if hit is None:
            hit = (offsets, *_ranges_index(offsets, idx))
            cache.append(hit)
        out[name] = (hit[1], values[hit[2]])
    return out


def slice_jets(cols: dict, lo: int, hi: int) -> dict:
    """Jets ``lo:hi`` of a column set (views, no copy)."""
    out = {}
    for name, _, jagged in BRANCHES:
        if jagged:
            offsets, values = cols[name]
            out[name] = (offsets[lo:hi + 1] - offsets[lo], values[offsets[lo]:offsets[hi]])
        else:
            out[name] = cols[name][lo:hi]
    return out


def concat(parts: list[dict]) -> dict:
    """One column set from several (in order)."""
    if len(parts) == 1:
        return parts[0]
    out = {}
    for name, _, jagged in BRANCHES:
        if not jagged:
            out[name] = np.concatenate([p[name] for p in parts])
            continue
        offs = [p[name][0] for p in parts]
        shifts = np.cumsum([0] + [o[-1] for o in offs[:-1]])
        offsets = np.concatenate([[0]] + [o[1:] + s for o, s in zip(offs, shifts)]).astype(np.int64)
        out[name] = (offsets, np.concatenate([p[name][1] for p in parts]))
    return out


def empty() -> dict:
    return {name: ((np.zeros(1, np.int64), np.zeros(0, DTYPES[name])) if jagged else np.zeros(0, DTYPES[name]))
            for name, _, jagged in BRANCHES}


# --- Arrow record batches (the scatter shards) -------------------------------------------------

def arrow_schema() -> pa.Schema:
    fields = []
    for name, dtype, jagged in BRANCHES:
        t = pa.from_numpy_dtype(np.dtype(dtype))
        fields.append(pa.field(name, pa.large_list(pa.field("item", t, nullable=False)) if jagged else t, nullable=False))
    return pa.schema(fields)


def to_batch(cols: dict, schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for name, _, jagged in BRANCHES:
        if jagged:
            offsets, values = cols[name]
            arrays.append(pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), pa.array(values)))
        else:
            arrays.append(pa.array(cols[name]))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def from_batch(batch: pa.RecordBatch) -> dict:
    """Columns of an Arrow record batch (our shards or a parquet file; any subset of the branches)."""
    cols = {}
    for name, col in zip(batch.schema.names, batch.columns):
        if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
            offsets = np.asarray(col.offsets, dtype=np.int64)
            values = col.values.to_numpy(zero_copy_only=False)[offsets[0]:offsets[-1]]
            cols[name] = (offsets - offsets[0], values)
        else:
            cols[name] = col.to_numpy(zero_copy_only=False)
    return cols


# --- content hash --------------------------------------------------------------------------------

class ContentHash:
    """SHA-256 of the arrays of a file, independent of its format, compression and chunking.

    Per branch in schema order: one hash of the name and, for a jagged branch, the per-jet counts
    (int64 little endian), and one of the values (schema dtype, little endian); the file's hash is
    the SHA-256 of these digests in order. Feed consecutive chunks with :meth:`update`.
    """

    def __init__(self):
        self._h = {name: (hashlib.sha256(name.encode()), hashlib.sha256()) for name, _, _ in BRANCHES}

    def update(self, cols: dict) -> None:
        for name, _, jagged in BRANCHES:
            h_counts, h_values = self._h[name]
            if jagged:
                offsets, values = cols[name]
                h_counts.update(np.diff(offsets).astype("<i8").tobytes())
            else:
                values = cols[name]
            h_values.update(np.ascontiguousarray(values, dtype=DTYPES[name].newbyteorder("<")).tobytes())

    def hexdigest(self) -> str:
        total = hashlib.sha256()
        for name, _, _ in BRANCHES:
            h_counts, h_values = self._h[name]
            total.update(h_counts.digest() + h_values.digest())
        return total.hexdigest()


def content_hash(cols_iter) -> str:
    """:class:`ContentHash` of the column sets ``cols_iter`` (consecutive chunks of one file)."""
    h = ContentHash()
    for cols in cols_iter:
        h.update(cols)
    return h.hexdigest()
