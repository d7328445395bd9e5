"""The JetClass-II jet record: branch names, their order and dtypes.

One entry per jet. ``var`` branches are per-constituent (part_*), per GEN-jet
constituent (genpart_*) or per auxiliary generator particle (aux_genpart_*).
"""
from __future__ import annotations

import awkward as ak
import numpy as np

F, I, B = "float32", "int32", "bool"  # noqa: E741 (dtype shorthands of the branch table)

#: (name, dtype, jagged) in the order of the published JetClass-II files.
BRANCHES: list[tuple[str, str, bool]] = [
    *[(f"part_{n}", F, True) for n in ("px", "py", "pz", "energy", "deta", "dphi", "d0val", "d0err", "dzval", "dzerr")],
    ("part_charge", I, True),
    *[(f"part_{n}", B, True) for n in ("isElectron", "isMuon", "isPhoton", "isChargedHadron", "isNeutralHadron")],
    *[(f"jet_{n}", F, False) for n in ("pt", "eta", "phi", "energy", "sdmass")],
    ("jet_nparticles", I, False),
    *[(f"jet_{n}", F, False) for n in ("tau1", "tau2", "tau3", "tau4")],
    ("jet_label", I, False),
    *[(f"genpart_{n}", F, True) for n in ("px", "py", "pz", "energy", "jet_deta", "jet_dphi", "x", "y", "z", "t")],
    ("genpart_pid", I, True),
    *[(f"genjet_{n}", F, False) for n in ("pt", "eta", "phi", "energy", "sdmass")],
    ("genjet_nparticles", I, False),
    *[(f"aux_genpart_{n}", F, True) for n in ("pt", "eta", "phi", "mass")],
    ("aux_genpart_pid", I, True),
    *[(f"aux_genpart_{n}", B, True) for n in ("isResX", "isResY", "isResDecayProd", "isTauDecayProd", "isQcdParton")],
]

BRANCH_NAMES = [name for name, _, _ in BRANCHES]


_EMPTY: list[ak.Array] = []


def empty_record() -> ak.Array:
    """A zero-jet array with the full schema (for files without selected jets)."""
    if not _EMPTY:  # built once: chunks without jets are common and arrays are immutable
        _EMPTY.append(conform({name: (ak.Array([[]])[:0] if jagged else np.zeros(0, dtype=dt))
                               for name, dt, jagged in BRANCHES}))
    return _EMPTY[0]


def _jagged_content(arr, dtype: str) -> ak.contents.Content:
    """A ListOffsetArray of ``dtype`` numbers from a jagged array (layout-level: cheap per call)."""
    layout = arr if isinstance(arr, ak.contents.Content) else ak.to_layout(arr)
    if isinstance(layout, ak.contents.ListOffsetArray) and isinstance(layout.content, ak.contents.NumpyArray):
        offsets = np.asarray(layout.offsets.data, dtype=np.int64)
        flat = np.asarray(layout.content.data)[offsets[0]:offsets[-1]].astype(dtype, copy=False)
        return ak.contents.ListOffsetArray(ak.index.Index64(offsets - offsets[0]), ak.contents.NumpyArray(flat))
    arr = ak.Array(layout)
    counts = np.asarray(ak.num(arr, axis=1), dtype=np.int64)
    flat = np.asarray(ak.to_numpy(ak.flatten(arr, axis=1)), dtype=dtype) if len(arr) else np.zeros(0, dtype)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return ak.contents.ListOffsetArray(ak.index.Index64(offsets), ak.contents.NumpyArray(flat))


def is_conform(records: ak.Array) -> bool:
    """Whether ``records`` already has the schema's layout (as :func:`conform` makes it)."""
    layout = records.layout
    if not isinstance(layout, ak.contents.RecordArray) or layout.fields != BRANCH_NAMES:
        return False
    for (_, dtype, jagged), content in zip(BRANCHES, layout.contents):
        if jagged:
            ok = (isinstance(content, ak.contents.ListOffsetArray) and isinstance(content.content, ak.contents.NumpyArray)
                  and content.content.data.dtype == dtype and content.offsets.data[0] == 0)
        else:
            ok = isinstance(content, ak.contents.NumpyArray) and content.data.dtype == dtype
        if not ok:
            return False
    return True


def conform(columns: dict) -> ak.Array:
    """Cast ``columns`` (name -> array) to the schema's dtypes and order as one record array."""
    missing = [n for n in BRANCH_NAMES if n not in columns]
    if missing:
        raise ValueError(f"jet record lacks branches {missing}")
    contents = []
    for name, dtype, jagged in BRANCHES:
        arr = columns[name]
        if jagged:
            contents.append(_jagged_content(arr, dtype))
        else:
            flat = arr if isinstance(arr, np.ndarray) else ak.to_numpy(ak.Array(arr))
            contents.append(ak.contents.NumpyArray(np.asarray(flat, dtype=dtype)))
    lengths = {c.length for c in contents}
    if len(lengths) != 1:
        raise ValueError(f"jet record branches differ in length: {sorted(lengths)}")
    return ak.Array(ak.contents.RecordArray(contents, BRANCH_NAMES, length=lengths.pop()))
