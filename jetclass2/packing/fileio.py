"""Reading jet ntuples and packed files, writing packed files (ROOT or parquet), file hashes."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import uproot

from jetclass2.atomic import full_disk_names
from jetclass2.ntuplizer.schema import BRANCH_NAMES
from jetclass2.ntuplizer.writer import TREE_NAME

from . import columns
from .rootwriter import PackedTreeWriter
from .safety import work_dir

FORMATS = ("root", "parquet")
SUFFIX = {"root": ".root", "parquet": ".parquet"}


class PackingError(RuntimeError):
    """Bad packing input or state; the message names the file and the problem."""


def open_ntuple(path: str | os.PathLike):
    """The jet tree of an ntuple, checked for the JetClass-II branches."""
    path = Path(path)
    if not path.is_file():
        raise PackingError(f"{path}: ntuple not found" if not path.exists() else f"{path}: not a regular file")
    try:
        tree = uproot.open(path)[TREE_NAME]
        tree.num_entries  # noqa: B018 (reads the header: a truncated file fails here)
    except Exception as exc:
        raise PackingError(f"{path}: not a readable jet ntuple ({type(exc).__name__}: {exc})") from exc
    missing = [b for b in BRANCH_NAMES if b not in tree]
    if missing:
        raise PackingError(f"{path}: missing branches {missing[:5]}{'...' if len(missing) > 5 else ''}")
    return tree


def read_ntuple(path, step: int, entry_start: int = 0, entry_stop: int | None = None):
    """Column sets of consecutive chunks of ``step`` jets of an ntuple (or a packed ROOT file)."""
    tree = open_ntuple(path)
    try:
        for arr in tree.iterate(BRANCH_NAMES, step_size=step, entry_start=entry_start, entry_stop=entry_stop):
            yield columns.from_awkward(arr)
    except PackingError:
        raise
    except Exception as exc:
        raise PackingError(f"{path}: unreadable jets ({type(exc).__name__}: {exc})") from exc


def read_packed(path, step: int = 50_000):
    """Column sets of a packed file, ROOT or parquet (by suffix)."""
    path = Path(path)
    if path.suffix == ".parquet":
        try:
            pf = pq.ParquetFile(path)
            for batch in pf.iter_batches(batch_size=step, columns=BRANCH_NAMES):
                yield columns.from_batch(batch)
        except Exception as exc:
            raise PackingError(f"{path}: unreadable parquet ({type(exc).__name__}: {exc})") from exc
    else:
        yield from read_ntuple(path, step)


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def label_counts(labels: np.ndarray) -> dict[int, int]:
    values, counts = np.unique(np.asarray(labels, dtype=np.int64), return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts)}


def add_counts(total: dict[int, int], more: dict[int, int]) -> dict[int, int]:
    for k, v in more.items():
        total[int(k)] = total.get(int(k), 0) + int(v)
    return total


def write_packed(path: str | os.PathLike, chunks, fmt: str = "root", compression: str = "lz4", baskets: int = 10,
                 sha256: bool = True) -> dict:
    """Write the column sets ``chunks`` as one packed file; returns its summary (jets, labels, hashes).

    ROOT: one basket per branch per chunk (``baskets``: how many to expect). The file is written
    under its own name in a private staging directory beside ``path`` and renamed into place when
    complete. ROOT files get a UUID from their name and fixed time stamps, so the same jets give
    the same bytes (:mod:`jetclass2.rootfile`). Without ``sha256`` the summary's ``sha256`` is
    ``None`` (the gather jobs leave it to finalize).
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise PackingError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    labels: dict[int, int] = {}
    nonfinite: dict[str, int] = {}
    n = 0
    content = columns.ContentHash()
    with full_disk_names(path), work_dir(path.parent, f".{path.name}.{os.getpid()}.") as staging:
        tmp = staging / path.name  # a ROOT file records its name: write it under the final one
        if fmt == "root":
            with PackedTreeWriter(tmp, name=path.name, compression=compression, baskets=baskets) as writer:
                for cols in chunks:
                    n += _account(cols, labels, nonfinite, content)
                    writer.write(cols)
            os.replace(tmp, path)
        else:  # the published files' schema (32-bit list offsets, nothing nullable) and codec
            schema = columns.arrow_schema(large=False)
            with pq.ParquetWriter(tmp, schema, compression="zstd", use_compliant_nested_type=False) as writer:
                for cols in chunks:
                    n += _account(cols, labels, nonfinite, content)
                    writer.write_batch(columns.to_batch(cols, schema))
            os.replace(tmp, path)
    return {"file": path.name, "jets": n, "labels": dict(sorted(labels.items())), "bytes": path.stat().st_size,
            "sha256": sha256_file(path) if sha256 else None, "content_hash": content.hexdigest(), "nonfinite": nonfinite}


def _account(cols: dict, labels: dict, nonfinite: dict, content) -> int:
    """Labels, non-finite values and content hash of a chunk being written; its number of jets."""
    add_counts(labels, label_counts(cols["jet_label"]))
    for name, count in count_nonfinite(cols).items():
        nonfinite[name] = nonfinite.get(name, 0) + count
    content.update(cols)
    return columns.n_jets(cols)


def count_nonfinite(cols: dict) -> dict[str, int]:
    """Branch -> number of NaN or infinite values (only branches that have any)."""
    out = {}
    for name, value in cols.items():
        values = value[1] if isinstance(value, tuple) else value
        if values.dtype.kind == "f":
            bad = int(values.size - np.count_nonzero(np.isfinite(values)))
            if bad:
                out[name] = bad
    return out
