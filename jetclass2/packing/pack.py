"""Pack the jet ntuples of one category into shuffled, fixed-size dataset files, in one process.

The same map-reduce as the workflow (:mod:`jetclass2.packing.plan`, :mod:`jetclass2.packing.mapreduce`,
:mod:`jetclass2.packing.store`), run job after job in a private work folder inside ``outdir``: plan, one
scatter per group of ntuples, one gather per output file, tarballs, then the manifest, the
conservation check and the atomic swap. The splits are made of whole generation jobs (4:1:1 of
each sample's jobs by default, test = the last jobs; jets shuffled within a split), the files of
train, val and test follow each other, every ``files_per_tarball`` files form a tarball, and the
manifest records jet and label counts, the jobs behind each file, SHA-256 and a content hash of
every file.

The category lock is held for the whole run: a second ``pack`` of the same category waits.
"""
from __future__ import annotations

import logging
from pathlib import Path

from .fileio import PackingError
from .mapreduce import gather, scatter, shard_name, tarball
from .plan import make_plan, split_ranges
from .safety import file_lock, work_dir
from .store import category_lock, cleanup_stale, finalize

log = logging.getLogger(__name__)

__all__ = ["PackingError", "pack_category", "split_ranges"]


def pack_category(category: str, inputs, outdir, jets_per_file: int = 100_000, seed: int = 1, split=(4, 1, 1),
                  files_per_tarball: int = 10, fmt: str = "root", compression: str = "lz4",
                  ntuples_per_scatter: int = 1, chunk: int = 50_000, samples_config=None, basket: int = 10_000,
                  sample_split: dict | None = None) -> dict:
    """Pack ``inputs`` (jet ntuples) into ``outdir``; returns the manifest (also written there).

    Everything is checked (category, options, every input) before ``outdir`` is touched; the
    previous dataset of the category stays live until the new one is complete and checked.
    """
    # plan first: a bad category, option or input fails before anything is written
    plan = make_plan(category, inputs, jets_per_file=jets_per_file, seed=seed, split=split,
                     files_per_tarball=files_per_tarball, ntuples_per_scatter=ntuples_per_scatter, fmt=fmt,
                     compression=compression, chunk=chunk, samples_config=samples_config, basket=basket,
                     sample_split=sample_split)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with file_lock(category_lock(outdir, category), what=f"pack {category}"):
        cleanup_stale(outdir, category, work_dirs=True)
        with work_dir(outdir, f".pack-{category}.") as work:
            for group in range(len(plan["groups"])):
                scatter(plan, group, work / "scatter" / shard_name(group))
            for index, name in enumerate(plan["files"]):
                gather(plan, index, work / "scatter", work / "files" / name)
            for number, spec in enumerate(plan["tarballs"]):
                tarball(plan, number, work / "files", work / "tar" / spec["file"])
            manifest = finalize(plan, work, outdir, lock=False)
    log.info("%s: %d jets -> %d files in %s", category, manifest["jets"], len(manifest["files"]), outdir)
    return manifest
