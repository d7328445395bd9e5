"""Pack the jet ntuples of one category into shuffled, fixed-size dataset files.

Bounded memory: jets are streamed chunk by chunk from the inputs and scattered at random to
one temporary shard per output file (each jet's destination is a slot of a random permutation
of all jets of the category); each shard is then shuffled and written as
``{Category}_{NNNN}.root``. File indices split train/val/test by contiguous index ranges
(4:1:1 by default), every ``files_per_tarball`` files form a tarball, and a manifest records
jet counts, label counts and SHA-256 of every file. Jets in == jets out, per label, is checked.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tarfile
import tempfile
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import uproot

from ntuplizer.schema import BRANCH_NAMES
from ntuplizer.writer import JetWriter

log = logging.getLogger(__name__)


class PackingError(RuntimeError):
    """Bad packing input (missing or unreadable ntuple, inconsistent counts)."""


def _open_ntuple(path: Path):
    if not path.exists():
        raise PackingError(f"{path}: ntuple not found")
    try:
        tree = uproot.open(path)["tree"]
    except Exception as exc:
        raise PackingError(f"{path}: not a readable jet ntuple ({type(exc).__name__}: {exc})") from exc
    missing = [b for b in BRANCH_NAMES if b not in tree]
    if missing:
        raise PackingError(f"{path}: missing branches {missing[:5]}{'...' if len(missing) > 5 else ''}")
    return tree


def split_ranges(n_files: int, split=(4, 1, 1)) -> dict[str, range]:
    """Contiguous file-index ranges of the train/val/test splits (proportions ``split``)."""
    total = sum(split)
    n_val = int(round(n_files * split[1] / total))
    n_test = int(round(n_files * split[2] / total))
    if n_files >= 3:
        n_val, n_test = max(n_val, 1), max(n_test, 1)
    n_train = n_files - n_val - n_test
    return {"train": range(0, n_train), "val": range(n_train, n_train + n_val),
            "test": range(n_train + n_val, n_files)}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pack_category(category: str, inputs: list[str | Path], outdir: str | Path, jets_per_file: int = 100_000,
                  seed: int = 1, split=(4, 1, 1), files_per_tarball: int = 10, chunk: int = 50_000) -> dict:
    """Pack ``inputs`` (jet ntuples) into ``outdir``; returns the manifest (also written as JSON)."""
    outdir = Path(outdir)
    inputs = [Path(p) for p in inputs]
    if jets_per_file <= 0:
        raise PackingError(f"jets_per_file must be positive, got {jets_per_file}")
    trees = [_open_ntuple(p) for p in inputs]
    counts = np.array([t.num_entries for t in trees], dtype=np.int64)
    n_jets = int(counts.sum())
    n_files = max(1, -(-n_jets // jets_per_file))
    rng = np.random.default_rng([seed, int.from_bytes(hashlib.sha256(category.encode()).digest()[:4], "little")])
    # destination slot of every jet: a random permutation, cut into files of jets_per_file
    dest = (rng.permutation(n_jets) // jets_per_file).astype(np.int32) if n_jets else np.zeros(0, np.int32)
    log.info("%s: %d jets from %d ntuples -> %d files of <= %d jets", category, n_jets, len(inputs), n_files, jets_per_file)
    labels_in = np.zeros(0, dtype=np.int64)
    outdir.mkdir(parents=True, exist_ok=True)
    for old in outdir.glob(f"{category}_*"):  # a re-run replaces the whole category
        old.unlink()
    with tempfile.TemporaryDirectory(prefix=f".pack_{category}_", dir=outdir) as tmpdir:
        writers: dict[int, pq.ParquetWriter] = {}
        pos = 0
        for _path, tree in zip(inputs, trees):
            for arr in tree.iterate(BRANCH_NAMES, step_size=chunk):
                d = dest[pos:pos + len(arr)]
                pos += len(arr)
                labels_in = np.concatenate([labels_in, np.asarray(arr.jet_label, dtype=np.int64)])
                order = np.argsort(d, kind="stable")
                d_sorted = d[order]
                arr = arr[order]
                bounds = np.flatnonzero(np.diff(d_sorted)) + 1
                for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(d_sorted)]):
                    f = int(d_sorted[lo])
                    table = ak.to_arrow_table(arr[lo:hi], extensionarray=False)
                    if f not in writers:
                        writers[f] = pq.ParquetWriter(Path(tmpdir) / f"shard_{f:05d}.parquet", table.schema)
                    writers[f].write_table(table)
        for w in writers.values():
            w.close()
        files = []
        ranges = split_ranges(n_files, split)
        for f in range(n_files):
            shard = Path(tmpdir) / f"shard_{f:05d}.parquet"
            jets = ak.from_parquet(shard) if shard.exists() else None
            name = f"{category}_{f:04d}.root"
            with JetWriter(outdir / name) as w:
                if jets is not None:
                    w.write(jets[rng.permutation(len(jets))])
            n = 0 if jets is None else len(jets)
            labs = {} if jets is None else {int(k): int(v) for k, v in zip(*np.unique(np.asarray(jets.jet_label), return_counts=True))}
            split_name = next(s for s, r in ranges.items() if f in r)
            files.append({"file": name, "split": split_name, "jets": n, "labels": labs, "sha256": _sha256(outdir / name)})
            log.info("%s: %s (%s) %d jets", category, name, split_name, n)
    # conservation: every jet in exactly once, per label
    labels_out: dict[int, int] = {}
    for f in files:
        for k, v in f["labels"].items():
            labels_out[k] = labels_out.get(k, 0) + v
    labels_in_counts = {int(k): int(v) for k, v in zip(*np.unique(labels_in, return_counts=True))}
    if labels_out != labels_in_counts or sum(f["jets"] for f in files) != n_jets:
        raise PackingError(f"{category}: jet conservation failed (in {labels_in_counts}, out {labels_out})")
    tarballs = []
    for start in range(0, n_files, files_per_tarball):
        members = files[start:start + files_per_tarball]
        tar_name = f"{category}_{start:04d}-{start + len(members) - 1:04d}.tar"
        tmp = outdir / f".{tar_name}.tmp"
        with tarfile.open(tmp, "w") as tar:
            for m in members:
                tar.add(outdir / m["file"], arcname=m["file"])
        os.replace(tmp, outdir / tar_name)
        tarballs.append({"file": tar_name, "members": [m["file"] for m in members], "sha256": _sha256(outdir / tar_name)})
    manifest = {
        "category": category, "jets": n_jets, "jets_per_file": jets_per_file, "seed": seed,
        "split": {k: [r.start, r.stop - 1] if len(r) else [] for k, r in split_ranges(n_files, split).items()},
        "labels": labels_in_counts, "inputs": [str(p) for p in inputs], "files": files, "tarballs": tarballs,
    }
    tmp = outdir / f".{category}.manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, outdir / f"{category}.manifest.json")
    return manifest
