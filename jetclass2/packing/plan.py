"""The packing plan of one category: which jets go to which output file, fixed before any jet moves.

The plan reads only the jet counts, labels and a fingerprint of every ntuple (three scalar
branches), checks them (labels of the category, no ntuple twice), and fixes:

- the split of every input, by generation job as the reference (its train+val and test sets come
  from different jobs): each sample's jobs, in job order, are cut train:val:test by the ``split``
  weights (:func:`job_splits`; the test jobs are the last ones), so all jets of an event, and of
  a job, land in one split. An input ``<dir>/<sample>/<job>.root`` (the workflow's layout) is job
  ``<job>`` of sample ``<sample>``; other names count in the order given, per directory;
- per split, the number of output files, ``ceil(jets / jets_per_file)``: every file holds
  ``jets_per_file`` jets except the split's last; the files of train, val and test follow each other;
- the scatter groups (``ntuples_per_scatter`` consecutive ntuples of one split per scatter job);
- ``counts[g][f]``, how many jets of group ``g`` go to file ``f`` of its split: drawn group after
  group from the multivariate hypergeometric distribution of the capacities left. This is exactly
  the distribution a uniform random permutation of the split's jets, cut into files, induces; each
  scatter job then shuffles its own jets over its row and each gather job shuffles its file, so
  every split is a uniform shuffle of its jobs' jets without any job seeing more than one group or
  one file.

Random streams: ``default_rng([seed, category code, stage, index])``; the same configuration gives
the same plan (and its ``plan_id``, the SHA-256 of its content).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from jetclass2.ntuplizer.label_names import LABEL_NAMES

from .categories import CATEGORY_LABELS, label_range_text, validate_category
from .fileio import FORMATS, SUFFIX, PackingError, label_counts, open_ntuple

PLAN_VERSION = 3  # 2: uncompressed shards, jets per basket; 3: splits by generation job
STAGE_PLAN, STAGE_SCATTER, STAGE_GATHER = 0, 1, 2


def category_code(category: str) -> int:
    return int.from_bytes(hashlib.sha256(category.encode()).digest()[:4], "little")


def rng_for(seed: int, category: str, stage: int, index: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, category_code(category), stage, index])


def split_ranges(n_files: int, split=(4, 1, 1)) -> dict[str, range]:
    """Contiguous file-index ranges of the train/val/test splits, in proportion to ``split``.

    Largest remainders, ties to the earlier split; when there are at least as many files as
    splits of positive weight, each of those gets at least one file (taken from the largest).
    A split of weight 0 gets none. 4:1:1 gives the published 200/50/50, 860/215/215, 280/70/70.
    """
    check_split(split)
    total = sum(split)
    n = [n_files * w // total for w in split]
    remainder = [n_files * w % total for w in split]  # integers: ties are exact
    for i in sorted(range(3), key=lambda i: (-remainder[i], i))[: n_files - sum(n)]:
        n[i] += 1
    if n_files >= sum(w > 0 for w in split):
        for i in range(3):
            if split[i] > 0 and n[i] == 0:
                n[max(range(3), key=lambda j: n[j])] -= 1
                n[i] = 1
    return {"train": range(0, n[0]), "val": range(n[0], n[0] + n[1]), "test": range(n[0] + n[1], n_files)}


SPLITS = ("train", "val", "test")


def job_splits(n_jobs: int, split=(4, 1, 1)) -> list[str]:
    """The split of each of a sample's ``n_jobs`` jobs (job order): contiguous ranges in proportion
    to ``split`` (:func:`split_ranges` over jobs), train first, test last. 4:1:1 of the reference's
    192, 1440, 240 jobs gives its test jobs 160-191, 1200-1439, 200-239."""
    out = [""] * n_jobs
    for name, r in split_ranges(n_jobs, split).items():
        for j in r:
            out[j] = name
    return out


def input_source(path) -> tuple[str, int | None]:
    """(sample, job) of an input in the workflow's layout ``.../<sample>/<job>.root``; (its directory, None) else."""
    p = Path(path)
    stem = p.name.split(".", 1)[0]
    return (p.parent.name, int(stem)) if stem.isdigit() else (str(p.parent), None)


def assign_splits(inputs, split=(4, 1, 1), sample_split: dict | None = None) -> list[dict]:
    """Sample, job and split of every input (see the module docstring); ``sample_split``: a sample's own weights."""
    sources = [input_source(p) for p in inputs]
    by_sample: dict[str, list[int]] = {}
    for i, (sample, _) in enumerate(sources):
        by_sample.setdefault(sample, []).append(i)
    out = [{} for _ in inputs]
    for sample, idx in by_sample.items():
        jobs = [sources[i][1] for i in idx]
        if None in jobs:  # not the workflow's layout: count jobs in the order given
            jobs = list(range(len(idx)))
        if len(set(jobs)) != len(jobs):
            raise PackingError(f"{sample}: the same job index twice among the inputs")
        order = sorted(range(len(idx)), key=lambda k: jobs[k])
        names = job_splits(len(idx), (sample_split or {}).get(sample, split))
        for rank, k in enumerate(order):
            out[idx[k]] = {"sample": sample, "job": int(jobs[k]), "split": names[rank]}
    return out


def check_split(split) -> None:
    if len(split) != 3 or any(not isinstance(w, (int, np.integer)) or isinstance(w, bool) for w in split):
        raise PackingError(f"split must be three integers TRAIN VAL TEST, got {list(split)}")
    if any(w < 0 for w in split):
        raise PackingError(f"split weights must not be negative, got {list(split)}")
    if sum(split) == 0:
        raise PackingError(f"split weights sum to 0 ({list(split)}): no file could be assigned")


def check_options(jets_per_file: int, files_per_tarball: int, split, ntuples_per_scatter: int, fmt: str, chunk: int,
                  basket: int = 10_000) -> None:
    for name, value in (("jets_per_file", jets_per_file), ("files_per_tarball", files_per_tarball),
                        ("ntuples_per_scatter", ntuples_per_scatter), ("chunk", chunk), ("jets_per_basket", basket)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise PackingError(f"{name} must be a positive integer, got {value!r}")
    check_split(split)
    if fmt not in FORMATS:
        raise PackingError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


def _inspect(path: str) -> dict:
    """Jet count, label counts and content fingerprint of one ntuple (three scalar branches)."""
    tree = open_ntuple(path)
    try:
        arrays = tree.arrays(["jet_label", "jet_pt", "jet_eta"], library="np")
    except Exception as exc:
        raise PackingError(f"{path}: unreadable jets ({type(exc).__name__}: {exc})") from exc
    labels = arrays["jet_label"].astype(np.int64)
    h = hashlib.sha256()
    for name in ("jet_label", "jet_pt", "jet_eta"):
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
    return {"path": str(path), "jets": int(tree.num_entries), "labels": label_counts(labels),
            "fingerprint": h.hexdigest()}


def check_labels(category: str, path, labels: dict[int, int]) -> None:
    allowed = set(CATEGORY_LABELS[category].tolist())
    wrong = sorted(k for k in labels if k not in allowed)
    if wrong:
        names = ", ".join(f"{k} ({LABEL_NAMES[k] if 0 <= k < len(LABEL_NAMES) else 'invalid'}): {labels[k]} jets"
                          for k in wrong[:5])
        raise PackingError(f"{path}: jets with labels outside category {category} "
                           f"(allowed {label_range_text(category)}): {names}{' ...' if len(wrong) > 5 else ''}")


def ordered_inputs(inputs, split=(4, 1, 1), sample_split: dict | None = None, ntuples_per_scatter: int = 1):
    """(inputs ordered train, val, test with their split records, scatter groups of input positions):
    the order and groups the plan uses (the workflow lists its scatter jobs with the same function)."""
    inputs = [str(p) for p in inputs]
    recs = assign_splits(inputs, split, sample_split)
    order = sorted(range(len(inputs)), key=lambda i: SPLITS.index(recs[i]["split"]))
    inputs, recs = [inputs[i] for i in order], [recs[i] for i in order]
    groups = []
    for name in SPLITS:
        pos = [i for i, r in enumerate(recs) if r["split"] == name]
        groups += [pos[k:k + ntuples_per_scatter] for k in range(0, len(pos), ntuples_per_scatter)]
    return inputs, recs, groups


def make_plan(category: str, inputs, jets_per_file: int = 100_000, seed: int = 1, split=(4, 1, 1),
              files_per_tarball: int = 10, ntuples_per_scatter: int = 1, fmt: str = "root",
              compression: str = "lz4", chunk: int = 50_000, samples_config=None, threads: int = 4,
              basket: int = 10_000, sample_split: dict | None = None) -> dict:
    """Check the inputs of a category and fix where every jet goes (see the module docstring).

    ``threads`` ntuples are read at once (decompression releases the GIL); ``basket``: jets per
    ROOT basket of the packed files (what a reader fetches at least); ``sample_split``: sample ->
    its own train:val:test weights over its jobs (default: ``split``).
    """
    validate_category(category, samples_config)
    split = [int(w) if isinstance(w, (int, np.integer)) and not isinstance(w, bool) else w for w in split]
    check_options(jets_per_file, files_per_tarball, split, ntuples_per_scatter, fmt, chunk, basket)
    sample_split = {k: [int(w) for w in v] for k, v in (sample_split or {}).items()}
    for weights in sample_split.values():
        check_split(weights)
    if not inputs:
        raise PackingError(f"{category}: no input ntuples")
    seen: dict[str, str] = {}
    for p in inputs:
        real = os.path.realpath(p)
        if real in seen:
            raise PackingError(f"{p}: listed twice (also as {seen[real]})")
        seen[real] = p
    inputs, recs, groups = ordered_inputs(inputs, split, sample_split, ntuples_per_scatter)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, threads)) as pool:
        infos = list(pool.map(_inspect, inputs))
    for info, rec in zip(infos, recs):
        info.update(rec)
    by_fingerprint: dict[str, str] = {}
    for info in infos:
        check_labels(category, info["path"], info["labels"])
        if info["jets"] == 0:
            continue
        other = by_fingerprint.setdefault(info["fingerprint"], info["path"])
        if other != info["path"]:
            raise PackingError(f"{info['path']}: holds the same jets as {other} (duplicate input)")
    n_jets = sum(i["jets"] for i in infos)
    if n_jets == 0:  # a 0-jet category would replace a valid one
        more = f" (nor any of the other {len(infos) - 1} inputs)" if len(infos) > 1 else ""
        raise PackingError(f"{infos[0]['path']}: no jets (empty tree){more}: category {category} would be empty")
    # per split: its jets, its files (contiguous, train first), the capacity of each
    caps, ranges, start = [], {}, 0
    for name in SPLITS:
        jets_s = sum(i["jets"] for i in infos if i["split"] == name)
        n_s = -(-jets_s // jets_per_file)
        cap = np.full(n_s, jets_per_file, dtype=np.int64)
        if n_s:
            cap[-1] = jets_s - jets_per_file * (n_s - 1)
        caps.append(cap)
        ranges[name] = range(start, start + n_s)
        start += n_s
    n_files = start
    for k, name in enumerate(SPLITS):
        wanted = [i["sample"] for i in infos if (sample_split.get(i["sample"]) or split)[k] > 0]
        members = [f"{i['sample']}/{i['job']}" for i in infos if i["split"] == name]
        if wanted and members and not len(ranges[name]):
            raise PackingError(f"{category}: the {name} jobs ({', '.join(members)}) hold no jets")
        if wanted and not len(ranges[name]):
            jobs = {}
            for i in infos:
                jobs[i["sample"]] = jobs.get(i["sample"], 0) + 1
            raise PackingError(f"{category}: no generation job goes to the {name} split (split {split} over the jobs of "
                               + ", ".join(f"{smp}: {n}" for smp, n in jobs.items()) + "): more jobs or other split weights")
    capacity = np.concatenate(caps)
    rng = rng_for(seed, category, STAGE_PLAN)
    left = capacity.copy()
    counts = []
    for g in groups:
        n_g = sum(infos[i]["jets"] for i in g)
        row = np.zeros(n_files, np.int64)
        if n_g:
            r = ranges[infos[g[0]]["split"]]
            row[r.start:r.stop] = rng.multivariate_hypergeometric(left[r.start:r.stop], n_g, method="marginals")
        left -= row
        counts.append(row.tolist())
    assert not left.any()
    labels: dict[int, int] = {}
    for info in infos:
        for k, v in info["labels"].items():
            labels[k] = labels.get(k, 0) + v
    plan = {
        "version": PLAN_VERSION, "category": category, "format": fmt, "compression": compression if fmt == "root" else None,
        "seed": int(seed), "jets_per_file": int(jets_per_file), "files_per_tarball": int(files_per_tarball),
        "split_weights": split, "sample_split": sample_split, "split_by": "job", "chunk": int(chunk), "basket": int(basket), "jets": n_jets, "labels": dict(sorted(labels.items())),
        "n_files": n_files, "capacity": capacity.tolist(),
        "files": [file_name(category, f, fmt) for f in range(n_files)],
        "split": {k: [r.start, r.stop - 1] if len(r) else [] for k, r in ranges.items()},
        "tarballs": tarball_groups(category, n_files, files_per_tarball),
        "inputs": infos, "groups": groups, "counts": counts,
        # provenance: the generation jobs (sample/job) whose jets each file holds
        "file_sources": [sorted({f"{infos[i]['sample']}/{infos[i]['job']}" for g, row in zip(groups, counts) if row[f]
                                 for i in g}) for f in range(n_files)],
    }
    plan["plan_id"] = plan_id(plan)
    return plan


def file_name(category: str, index: int, fmt: str) -> str:
    return f"{category}_{index:04d}{SUFFIX[fmt]}"


def tarball_groups(category: str, n_files: int, files_per_tarball: int) -> list[dict]:
    out = []
    for start in range(0, n_files, files_per_tarball):
        stop = min(start + files_per_tarball, n_files)
        out.append({"file": f"{category}_{start:04d}-{stop - 1:04d}.tar", "first": start, "last": stop - 1})
    return out


def plan_id(plan: dict) -> str:
    body = json.loads(json.dumps({k: v for k, v in plan.items() if k != "plan_id"}))  # JSON keys: strings
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def split_of(plan: dict, index: int) -> str:
    for name, r in plan["split"].items():
        if r and r[0] <= index <= r[1]:
            return name
    raise PackingError(f"file index {index} in no split of {plan['split']}")


def save_plan(plan: dict, path) -> None:
    from jetclass2.atomic import atomic_output

    with atomic_output(path) as tmp:
        Path(tmp).write_text(json.dumps(plan, indent=None, separators=(",", ":"), sort_keys=True))


def load_plan(path) -> dict:
    path = Path(path)
    try:
        plan = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PackingError(f"{path}: not a readable packing plan ({exc})") from exc
    if not isinstance(plan, dict) or plan.get("version") != PLAN_VERSION or plan.get("plan_id") != plan_id(plan):
        raise PackingError(f"{path}: packing plan damaged or of another version (rerun pack-plan)")
    plan["labels"] = {int(k): v for k, v in plan["labels"].items()}
    for info in plan["inputs"]:
        info["labels"] = {int(k): v for k, v in info["labels"].items()}
    return plan
