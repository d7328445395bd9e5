"""Datasets given as files: one parquet or ROOT file, or a list of them (ours, our release, the published one).

A file's category and split come from, in this order: its parquet key-value metadata (our release
writes ``jetclass2.provenance`` and ``jetclass2.split``); the manifest beside it (our packed files); its name ``{Category}_NNNN.parquet|root``
with the published file counts (:data:`PUBLISHED_FILES`, split 4:1:1 by file index, as
jet-universe/jetclass2 on Hugging Face); otherwise the category is the file's stem and the split is
unknown. Files of unknown split belong to ``split="all"`` only; a selection that is empty because
of that raises :class:`~jetclass2.jetdata.loader.DatasetError` saying so (never 0 jets without a word).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pyarrow.parquet as pq

from jetclass2.packing.plan import split_ranges

#: files per category of the published release (jet-universe/jetclass2): 4:1:1 by file index
PUBLISHED_FILES = {"Res2P": 300, "Res34P": 1290, "QCD": 420}
PROVENANCE_KEY = b"jetclass2.provenance"  # written by jetclass2.packing.release
SPLIT_KEY = b"jetclass2.split"
_NAME = re.compile(r"^(?P<category>[A-Za-z][A-Za-z0-9]*)_(?P<index>\d{4,})\.(?:root|parquet)$")


def is_file_source(source) -> bool:
    """Whether ``source`` names files (a file, or a list of paths) rather than a dataset directory."""
    if isinstance(source, (list, tuple)):
        return True
    return Path(source).is_file()


def describe(path) -> tuple[str, str | None]:
    """``(category, split)`` of one dataset file (split None: unknown)."""
    path = Path(path)
    if path.suffix == ".parquet":
        meta = pq.ParquetFile(path).schema_arrow.metadata or {}
        if SPLIT_KEY in meta:
            prov = json.loads(meta.get(PROVENANCE_KEY, b"{}"))
            return prov.get("category") or _name_category(path), meta[SPLIT_KEY].decode()
    m = _NAME.match(path.name)
    manifest = path.parent / f"{m['category']}.manifest.json" if m else None
    if manifest is not None and manifest.is_file():  # one of our packed files: its manifest says
        entry = next((f for f in json.loads(manifest.read_text())["files"] if f["file"] == path.name), None)
        if entry is not None:
            return m["category"], entry["split"]
    if m and m["category"] in PUBLISHED_FILES and int(m["index"]) < PUBLISHED_FILES[m["category"]]:
        ranges = split_ranges(PUBLISHED_FILES[m["category"]], (4, 1, 1))
        return m["category"], next(s for s, r in ranges.items() if int(m["index"]) in r)
    return _name_category(path), None


def metadata_splits(paths: list[Path]) -> dict[Path, str] | None:
    """Split of each file from its ``jetclass2.split`` metadata (our release: splits need not follow file
    indices), or None when the files carry none (the published release: split by index)."""
    parquet = [p for p in paths if p.suffix == ".parquet"]
    if not parquet or SPLIT_KEY not in (pq.ParquetFile(parquet[0]).schema_arrow.metadata or {}):
        return None
    return {p: describe(p)[1] for p in paths}


def _name_category(path: Path) -> str:
    m = _NAME.match(path.name)
    return m["category"] if m else path.stem


def file_list(source, wanted: set[str], categories, DatasetError) -> list[tuple[str, Path]]:
    """``(category, path)`` of the given files in ``wanted`` splits (and ``categories``), in the given order."""
    paths = [Path(p) for p in (source if isinstance(source, (list, tuple)) else [source])]
    if not paths:
        raise DatasetError("no dataset files given (an empty list)")
    described = []
    for p in paths:
        if not p.is_file():
            raise DatasetError(f"{p}: no such dataset file" if not p.exists() else f"{p}: not a regular file")
        if p.suffix not in (".parquet", ".root"):
            raise DatasetError(f"{p}: not a .parquet or .root dataset file")
        try:
            cat, split = describe(p)
        except (OSError, ValueError) as exc:  # pyarrow's errors are ValueError/OSError subclasses
            raise DatasetError(f"{p}: unreadable ({type(exc).__name__}: {exc})") from exc
        described.append((cat, split, p))
    available = sorted({c for c, _, _ in described})
    if categories is not None:
        categories = [categories] if isinstance(categories, str) else list(categories)
        missing = [c for c in categories if c not in available]
        if missing:
            raise DatasetError(f"categories {missing} not in the files (they hold {', '.join(available)})")
    all_splits = wanted >= {"train", "val", "test"}
    out = [(c, p) for c, s, p in described
           if (categories is None or c in categories) and (all_splits or s in wanted)]
    unknown = [p for c, s, p in described if s is None and (categories is None or c in categories)]
    if not out and unknown:
        names = ", ".join(os.fspath(p) for p in unknown[:3]) + (" ..." if len(unknown) > 3 else "")
        raise DatasetError(f"{names}: no split information (not named as a published file, no jetclass2.split "
                           f"metadata): split={'/'.join(sorted(wanted))} selects no jet; use split='all'")
    return out
