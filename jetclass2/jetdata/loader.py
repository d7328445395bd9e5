"""Reading a packed JetClass-II dataset: ours (manifests) or the published parquet release.

>>> from jetdata import load
>>> jets = load("results/dataset", split="train", categories=["Res2P"], labels=["X_bb", "X_QQ"],
...             branches=["part_px", "part_py", "jet_pt", "jet_label"], max_particles=128, library="np")

``dataset_dir`` may also be one file or a list of files (:mod:`jetclass2.jetdata.published`). Files are read
one after the other (uproot for ROOT, pyarrow for parquet), in chunks: :func:`iterate` is lazy and
never holds more than a chunk; :func:`load` reads everything selected into memory and concatenates. Label names are those of
:mod:`jetclass2.ntuplizer.labels`; group names (``X_QQ``, ``QCD``, ...) those of :mod:`jetclass2.training.groups`.
"""
from __future__ import annotations

import json
import logging
import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import uproot

from jetclass2.ntuplizer.label_names import LABEL_INDEX, LABEL_NAMES
from jetclass2.ntuplizer.schema import BRANCH_NAMES, BRANCHES
from jetclass2.packing.categories import CATEGORY_LABELS
from jetclass2.packing.fileio import PackingError
from jetclass2.packing.plan import split_ranges
from jetclass2.packing.store import category_entries, missing_manifests, require_intact
from jetclass2.training.groups import GROUPS, label_groups

from . import published

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
JAGGED = {name: jagged for name, _, jagged in BRANCHES}
_FILE = re.compile(r"^(?P<category>[A-Za-z][A-Za-z0-9]*)_(?P<index>\d{4,})\.(?P<ext>root|parquet)$")


class DatasetError(ValueError):
    """A dataset directory, split, category, label or branch that does not exist."""


def collection(branch: str) -> str | None:
    """The particle collection of a jagged branch (``part``, ``genpart``, ``aux_genpart``), None for jet-level."""
    if not JAGGED.get(branch, False):
        return None
    return next(p for p in ("aux_genpart", "genpart", "part") if branch.startswith(p + "_"))


def resolve_labels(labels) -> np.ndarray | None:
    """Label indices of label names, group names (:data:`jetclass2.training.groups.GROUPS`) or indices."""
    if labels is None:
        return None
    if isinstance(labels, (str, int, np.integer)):
        labels = [labels]
    groups = label_groups()
    out = set()
    for item in labels:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not 0 <= item < len(LABEL_NAMES):
                raise DatasetError(f"label index {item} outside 0..{len(LABEL_NAMES) - 1}")
            out.add(int(item))
        elif item in LABEL_INDEX:
            out.add(LABEL_INDEX[item])
        elif item in groups:
            out.update(groups[item])
        else:
            raise DatasetError(f"unknown label or group {item!r} (labels: jetclass2.ntuplizer.labels.LABEL_NAMES, groups: {', '.join(GROUPS)})")
    return np.array(sorted(out), dtype=np.int64)


def files(dataset_dir, split="train", categories=None, verify: bool = True) -> list[tuple[str, Path]]:
    """``(category, path)`` of the files of ``split`` (``train``, ``val``, ``test``, ``all`` or a list).

    With manifests (``{Category}.manifest.json``, our layout) the manifests say which file is in
    which split, and (``verify``) the dataset is checked first (:func:`jetclass2.packing.store.require_intact`:
    every file present, of its size, no extra file, the SHA-256 of files changed since the last check;
    files of a category without its manifest): a damaged or incomplete dataset raises
    :class:`DatasetError` naming the file. Without (the published release: ``{Category}_NNNN.parquet``, in any sub-folder),
    the split is by file index, 4:1:1, of the files found, which must be the whole release.
    """
    if published.is_file_source(dataset_dir):  # one file or a list of files (jetclass2.jetdata.published)
        return published.file_list(dataset_dir, _splits(split), categories, DatasetError)
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise DatasetError(f"{dataset_dir}: no such dataset directory")
    wanted = _splits(split)
    manifests = {p.name[: -len(".manifest.json")]: p for p in sorted(dataset_dir.glob("*.manifest.json"))}
    if manifests:
        cats = _categories(categories, manifests)
        if verify:
            try:
                require_intact(dataset_dir, None if categories is None else cats)
            except PackingError as exc:
                raise DatasetError(f"dataset refused: {exc}") from None
        out = []
        for cat in cats:
            m = json.loads(manifests[cat].read_text())
            out += [(cat, manifests[cat].parent / f["file"]) for f in m["files"] if f["split"] in wanted and f["jets"] > 0]
        return out
    ours = [c for c, names in category_entries(dataset_dir).items() if c in names]  # a category link: our layout
    if ours and verify:  # whose manifests are gone (a killed pack-finalize): not a published release
        raise DatasetError(f"dataset refused: {missing_manifests(dataset_dir, ours)[0]}")
    found: dict[str, dict[int, Path]] = {}
    for p in sorted(dataset_dir.rglob("*")):
        m = _FILE.match(p.name)
        if m and p.is_file():
            found.setdefault(m["category"], {})[int(m["index"])] = p
    if not found:
        raise DatasetError(f"{dataset_dir}: neither manifests nor {{Category}}_NNNN.parquet|root files")
    out = []
    cats = _categories(categories, found)
    splits = published.metadata_splits([p for c in cats for p in found[c].values()])
    if splits is not None:  # our release: each file says its split
        return [(c, found[c][i]) for s in SPLITS if s in wanted for c in cats for i in sorted(found[c])
                if splits[found[c][i]] == s]
    for cat in cats:
        by_index = found[cat]
        n = max(by_index) + 1
        if len(by_index) != n:
            log.warning("%s: %s files %d of 0..%d present: split ranges assume the complete release", dataset_dir, cat,
                        len(by_index), n - 1)
        ranges = split_ranges(n, (4, 1, 1))
        out += [(cat, by_index[i]) for s in SPLITS if s in wanted for i in ranges[s] if i in by_index]
    return out


def _splits(split) -> set[str]:
    if split in (None, "all"):
        return set(SPLITS)
    wanted = {split} if isinstance(split, str) else set(split)
    unknown = wanted - set(SPLITS)
    if unknown:
        raise DatasetError(f"unknown split {sorted(unknown)} (train, val, test or all)")
    return wanted


def _categories(categories, available) -> list[str]:
    if categories is None:
        return sorted(available)
    if isinstance(categories, str):
        categories = [categories]
    missing = [c for c in categories if c not in available]
    if missing:
        raise DatasetError(f"categories {missing} not in the dataset (it has {', '.join(sorted(available))})")
    return list(categories)


def _read_chunks(path: Path, names: list[str], step: int) -> Iterator[dict]:
    """Columns (name -> values, or (offsets, values)) of consecutive chunks of one file."""
    if path.suffix == ".parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=step, columns=names):
            cols = {}
            for name, col in zip(batch.schema.names, batch.columns):
                if JAGGED[name]:
                    offsets = col.offsets.to_numpy().astype(np.int64, copy=False)
                    cols[name] = (offsets - offsets[0], col.values.to_numpy(zero_copy_only=False)[offsets[0]:offsets[-1]])
                else:
                    cols[name] = col.to_numpy(zero_copy_only=False)
            yield cols
        return
    for arr in uproot.open(path)["tree"].iterate(names, step_size=step):
        yield columns_of(arr, names)


def columns_of(arr: ak.Array, names: list[str]) -> dict:
    """Columns (name -> values, or (offsets from 0, values) for jagged branches) of awkward ``arr``."""
    cols = {}
    for name in names:
        layout = ak.to_layout(arr[name])
        if JAGGED[name]:
            offsets = np.asarray(layout.offsets.data, dtype=np.int64)
            cols[name] = (offsets - offsets[0], np.asarray(layout.content.data)[offsets[0]:offsets[-1]])
        else:
            cols[name] = np.asarray(layout.data)
    return cols


def _select(cols: dict, keep: np.ndarray, max_particles: int | None) -> dict:
    """Jets ``keep`` (indices), each particle list cut at ``max_particles``."""
    out = {}
    cache = {}
    for name, value in cols.items():
        if not isinstance(value, tuple):
            out[name] = value[keep]
            continue
        offsets, values = value
        key = (collection(name), len(offsets), offsets[-1])
        if key not in cache:
            starts = offsets[:-1][keep]
            counts = offsets[1:][keep] - starts
            if max_particles is not None:
                counts = np.minimum(counts, max_particles)
            new = np.zeros(len(keep) + 1, dtype=np.int64)
            np.cumsum(counts, out=new[1:])
            flat = np.arange(new[-1], dtype=np.int64) + np.repeat(starts - new[:-1], counts)
            cache[key] = (new, flat)
        new, flat = cache[key]
        out[name] = (new, values[flat])
    return out


def _to_library(cols: dict, names: list[str], library: str, max_particles: int | None, pad_value):
    if library == "ak":
        fields = {}
        for name in names:
            value = cols[name]
            if isinstance(value, tuple):
                fields[name] = ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(value[0]), ak.contents.NumpyArray(value[1])))
            else:
                fields[name] = value
        return ak.zip(fields, depth_limit=1)
    out = {}
    masks = {}
    for name in names:
        value = cols[name]
        if not isinstance(value, tuple):
            out[name] = value
            continue
        offsets, values = value
        counts = np.diff(offsets)
        width = max_particles if max_particles is not None else int(counts.max(initial=0))
        rows = np.repeat(np.arange(len(counts)), counts)
        pos = np.arange(len(values)) - np.repeat(offsets[:-1], counts)
        padded = np.full((len(counts), width), pad_value, dtype=values.dtype)
        padded[rows, pos] = values
        out[name] = padded
        coll = collection(name)
        if coll not in masks:
            mask = np.zeros((len(counts), width), dtype=bool)
            mask[rows, pos] = True
            masks[coll] = mask
    for coll, mask in masks.items():
        out[f"{coll}_mask"] = mask
    return out


def iterate(dataset_dir, split="train", categories=None, labels=None, branches=None, max_particles: int | None = 128,
            library: str = "ak", step_size: int = 100_000, pad_value=0) -> Iterator:
    """Chunks of the selected jets, file after file (see :func:`load` for the arguments)."""
    if library not in ("ak", "np"):
        raise DatasetError(f"library must be 'ak' or 'np', got {library!r}")
    names = list(BRANCH_NAMES) if branches is None else list(branches)
    unknown = [b for b in names if b not in JAGGED]
    if unknown:
        raise DatasetError(f"unknown branches {unknown} (JetClass-II branches: jetclass2.ntuplizer.schema.BRANCH_NAMES)")
    wanted = resolve_labels(labels)
    if wanted is not None and categories is None:  # read only categories that can hold the labels
        categories = [c for c, idx in CATEGORY_LABELS.items() if np.isin(idx, wanted).any()]
        available = {c for c, _ in files(dataset_dir, "all", verify=False)}
        # files of unknown category (e.g. a single published sample file) stay: their labels decide
        categories = [c for c in categories if c in available] + sorted(available - set(CATEGORY_LABELS))
    read = names if wanted is None or "jet_label" in names else names + ["jet_label"]
    for _cat, path in files(dataset_dir, split, categories):
        for cols in _read_chunks(path, read, step_size):
            keep = np.arange(_n(cols)) if wanted is None else np.flatnonzero(np.isin(cols["jet_label"], wanted))
            if len(keep) == 0:
                continue
            yield _to_library(_select(cols, keep, max_particles), names, library, max_particles, pad_value)


def _n(cols: dict) -> int:
    value = next(iter(cols.values()))
    return len(value[0]) - 1 if isinstance(value, tuple) else len(value)


def load(dataset_dir, split="train", categories=None, labels=None, branches=None, max_particles: int | None = 128,
         library: str = "ak", max_jets: int | None = None, step_size: int = 100_000, pad_value=0):
    """The selected jets of a dataset, in file order.

    dataset_dir    our ``results/dataset`` (manifests), a folder with the published ``{Category}_NNNN.parquet``,
                   or one file or a list of files (:mod:`jetclass2.jetdata.published`)
    split          ``train``, ``val``, ``test``, ``all`` or a list of them
    categories     e.g. ``["Res2P", "QCD"]`` (default: all present, or those that can hold ``labels``)
    labels         label names (``X_bb``), group names (``X_QQ``, ``QCD``) or label indices; default all
    branches       JetClass-II branch names (default all 54)
    max_particles  particle lists cut at this length (``None``: not cut); with ``np`` also the padded width
    library        ``ak``: an awkward record array; ``np``: a dict of numpy arrays, particle branches padded
                   with ``pad_value`` to ``(jets, max_particles)`` plus ``part_mask``-style masks
    max_jets       stop after this many jets
    """
    chunks, n = [], 0
    for chunk in iterate(dataset_dir, split, categories, labels, branches, max_particles, library, step_size, pad_value):
        chunks.append(chunk)
        n += len(chunk) if library == "ak" else len(next(iter(chunk.values())))
        if max_jets is not None and n >= max_jets:
            break
    if not chunks:  # an empty selection: said, then an empty result (get_data raises instead)
        warnings.warn(f"jetdata.load: no jets selected from {dataset_dir} (split={split!r}, categories={categories!r}, "
                      f"labels={labels!r})", stacklevel=2)
        return ak.Array([]) if library == "ak" else {}
    if library == "ak":
        out = ak.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        return out[:max_jets] if max_jets is not None else out
    out = {}
    for key in chunks[0]:
        parts = [c[key] for c in chunks]
        if parts[0].ndim == 2 and max_particles is None:  # widths differ per chunk: pad to the widest
            width = max(p.shape[1] for p in parts)
            fill = False if parts[0].dtype == bool else pad_value
            parts = [np.pad(p, ((0, 0), (0, width - p.shape[1])), constant_values=fill) for p in parts]
        out[key] = np.concatenate(parts)[:max_jets] if max_jets is not None else np.concatenate(parts)
    return out


def label_names(indices: Iterable[int]) -> list[str]:
    """Names of label indices (:data:`jetclass2.ntuplizer.labels.LABEL_NAMES`)."""
    return [LABEL_NAMES[int(i)] for i in indices]
