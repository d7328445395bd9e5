"""Jet records as plain numpy columns: cheap permutation, concatenation, Arrow batches and a content hash.

A *column set* maps every branch of :data:`jetclass2.ntuplizer.schema.BRANCHES` to a numpy array (one value
per jet) or, for jagged branches, to a pair ``(offsets, values)`` with ``offsets[0] == 0``. Working
at this level keeps the packing jobs fast (a permutation is one ``np.take`` per buffer) and their
memory predictable (one copy of the jets, no Python objects per jet).
"""
from __future__ import annotations

import hashlib

import awkward as ak
import numpy as np
import pyarrow as pa
import xxhash

from jetclass2.ntuplizer.schema import BRANCHES, conform

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
        hit = next((c for c in cache if c[0] is offsets), None) or next(
            (c for c in cache if len(c[0]) == len(offsets) and np.array_equal(c[0], offsets)), None)
        if hit is None:
            hit = (offsets, *_ranges_index(offsets, idx))
            cache.append(hit)
        out[name] = (hit[1], np.take(values, hit[2]))
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


def concat(parts: list[dict], names=None) -> dict:
    """One column set from several (in order); ``names``: only these branches."""
    if len(parts) == 1:
        return parts[0]
    out = {}
    for name, _, jagged in BRANCHES:
        if names is not None and name not in names:
            continue
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

def arrow_schema(large: bool = True) -> pa.Schema:
    """The jet record as Arrow: ``large`` lists (64-bit offsets) and booleans as bytes (no bit
    packing, so that reading is a view) for the shards; 32-bit ``list<item>``, nothing nullable,
    is the schema of the published parquet files."""
    fields = []
    for name, dtype, jagged in BRANCHES:
        t = pa.uint8() if large and dtype == "bool" else pa.from_numpy_dtype(np.dtype(dtype))
        item = pa.field("item", t, nullable=False)
        fields.append(pa.field(name, (pa.large_list(item) if large else pa.list_(item)) if jagged else t, nullable=False))
    return pa.schema(fields)


def _arrow(values: np.ndarray, as_bytes: bool = False) -> pa.Array:
    """A numpy array as a primitive Arrow array, through its buffer (pa.array imports pandas)."""
    values = np.ascontiguousarray(values)
    if values.dtype == bool and as_bytes:
        values = values.view(np.uint8)
    if values.dtype == bool:
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(np.packbits(values, bitorder="little"))])
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def to_batch(cols: dict, schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for field, (name, _, jagged) in zip(schema, BRANCHES):
        if jagged:
            offsets, values = cols[name]
            offsets = np.ascontiguousarray(offsets, dtype=np.int64 if pa.types.is_large_list(field.type) else np.int32)
            arrays.append(pa.Array.from_buffers(field.type, len(offsets) - 1, [None, pa.py_buffer(offsets)],
                                                children=[_arrow(values, field.type.value_type == pa.uint8())]))
        else:
            arrays.append(_arrow(cols[name], field.type == pa.uint8()))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _numpy(arr: pa.Array) -> np.ndarray:
    """A primitive Arrow array (no nulls) as numpy, from its buffers (pyarrow's own conversion imports pandas)."""
    buf = arr.buffers()[1]
    if pa.types.is_boolean(arr.type):
        bits = np.unpackbits(np.frombuffer(buf, dtype=np.uint8), bitorder="little")
        return bits[arr.offset:arr.offset + len(arr)].astype(bool)
    return np.frombuffer(buf, dtype=_NUMPY[arr.type])[arr.offset:arr.offset + len(arr)]


_NUMPY = {pa.float32(): np.float32, pa.float64(): np.float64, pa.int32(): np.int32, pa.int64(): np.int64,
          pa.int16(): np.int16, pa.int8(): np.int8, pa.uint8(): np.uint8, pa.uint32(): np.uint32}


def from_batch(batch: pa.RecordBatch) -> dict:
    """Columns of an Arrow record batch (our shards or a parquet file; any subset of the branches)."""
    cols = {}
    for name, col in zip(batch.schema.names, batch.columns):
        if col.null_count:
            raise ValueError(f"branch {name}: {col.null_count} missing values")
        if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
            width = np.int64 if pa.types.is_large_list(col.type) else np.int32
            offsets = np.frombuffer(col.buffers()[1], dtype=width)[col.offset:col.offset + len(col) + 1].astype(np.int64)
            values = _numpy(col.values)[offsets[0]:offsets[-1]]
            cols[name] = (offsets - offsets[0], _as_schema_dtype(name, values))
        else:
            cols[name] = _as_schema_dtype(name, _numpy(col))
    return cols


def _as_schema_dtype(name: str, values: np.ndarray) -> np.ndarray:
    """Booleans stored as bytes (the shards) viewed as booleans again."""
    return values.view(bool) if values.dtype == np.uint8 and DTYPES.get(name) == np.dtype(bool) else values


def share_offsets(cols: dict) -> dict:
    """Make the jagged branches of one collection share one offsets array when their counts are
    equal (as the ntuplizer writes them), so that :func:`take` builds one index per collection."""
    seen = []
    for name, _, jagged in BRANCHES:
        if jagged:
            offsets, values = cols[name]
            same = next((o for o in seen if o is offsets or (len(o) == len(offsets) and np.array_equal(o, offsets))), None)
            if same is None:
                seen.append(offsets)
            else:
                cols[name] = (same, values)
    return cols


# --- content hash --------------------------------------------------------------------------------

class ContentHash:
    """Hash of the arrays of a file, independent of its format, compression and chunking.

    Per branch in schema order: one XXH3-128 of the name and, for a jagged branch, the per-jet
    counts (int64 little endian), and one of the values (schema dtype, little endian); the file's
    hash is the SHA-256 of these digests in order. XXH3 (not cryptographic; the files' SHA-256 is)
    keeps it cheap: it hashes every value of every jet once more. Feed chunks with :meth:`update`.
    """

    def __init__(self):
        self._h = {name: (xxhash.xxh3_128(name.encode()), xxhash.xxh3_128()) for name, _, _ in BRANCHES}

    def update(self, cols: dict) -> None:
        for name, _, jagged in BRANCHES:
            h_counts, h_values = self._h[name]
            if jagged:
                offsets, values = cols[name]
                h_counts.update(np.diff(offsets).astype("<i8").tobytes())
            else:
                values = cols[name]
            h_values.update(np.ascontiguousarray(values, dtype=DTYPES[name].newbyteorder("<")))  # its buffer: no copy

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
