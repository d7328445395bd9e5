"""The public release: our packed dataset in the published layout, ready for a Hugging Face dataset repository.

``release-dataset DATASET_DIR -o RELEASE_DIR`` writes, from the manifests of ``DATASET_DIR``::

    {Category}_NNNN.parquet   the published schema (54 columns, 32-bit lists, nothing nullable), ZSTD,
                              row groups of ``--row-group-jets`` jets (partial reads, the dataset viewer)
    README.md                 the dataset card: YAML front matter with one config per category (and
                              ``all``), ``data_files`` per split, and the 188 label names
    release.json              what was released: files, splits, jets, SHA-256, provenance

Every parquet file carries its provenance in its key-value metadata (``jetclass2.provenance``,
JSON): category, file index, split, jets, content hash, production seed, packing plan id, the
generation jobs (sample, job) it was packed from with their grid points and seeds (from
``--provenance-dir``, the generation outputs' ``*.gridpoints.json``) and the versions of the code.
``jetclass2.split`` alone says the file's split (readers of single files use it).

The release is built in a hidden directory beside ``RELEASE_DIR``; every file is checked (the
content hash of its jets against the manifest, its row count) before the directory is renamed
into place. A previous release is moved aside only then and deleted after the rename.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import pyarrow.parquet as pq

from jetclass2.ntuplizer.label_names import LABEL_NAMES
from jetclass2.ntuplizer.schema import BRANCHES

from . import columns
from .fileio import PackingError, read_packed, sha256_file
from .store import manifests_in

log = logging.getLogger(__name__)

#: split names of the card (Hugging Face's names) for ours
HF_SPLITS = {"train": "train", "val": "validation", "test": "test"}
PROVENANCE_KEY = b"jetclass2.provenance"
SPLIT_KEY = b"jetclass2.split"
_NTUPLE = re.compile(r"(?:^|/)(?P<sample>[^/]+)/(?P<job>\d+)\.root$")


def versions() -> dict:
    """Versions of the code that made the release."""
    out = {}
    for dist in ("jetclass2-production", "pythia8mc", "numpy", "awkward", "uproot", "pyarrow", "fastjet"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def generation_jobs(manifest: dict, provenance_dir=None) -> list[dict]:
    """The generation jobs of a category's inputs (``.../SAMPLE/JOB.root`` ntuples), with their grid points."""
    jobs = []
    for entry in manifest.get("inputs", []):
        m = _NTUPLE.search(entry["path"].replace(os.sep, "/"))
        job = {"ntuple": entry["path"], "jets": entry["jets"], "fingerprint": entry.get("fingerprint")}
        if m:
            job.update(sample=m["sample"], job=int(m["job"]))
            if provenance_dir is not None:
                gp = Path(provenance_dir) / m["sample"] / f"{m['job']}.root.gridpoints.json"
                try:
                    data = json.loads(gp.read_text())
                    job["grid_points"] = data["batches"] if isinstance(data, dict) else data
                except (OSError, ValueError, KeyError, TypeError):
                    job["grid_points"] = None  # not recorded (or unreadable): said, not guessed
        jobs.append(job)
    return jobs


def _write_file(src: Path, dst: Path, entry: dict, provenance: dict, row_group_jets: int) -> dict:
    """One published parquet file from one packed file; checked against its manifest entry."""
    schema = columns.arrow_schema(large=False).with_metadata({
        PROVENANCE_KEY: json.dumps(provenance, sort_keys=True).encode(), SPLIT_KEY: provenance["split"].encode()})
    content = columns.ContentHash()
    n = 0
    with pq.ParquetWriter(dst, schema, compression="zstd", use_compliant_nested_type=False) as writer:
        for cols in read_packed(src, step=row_group_jets):
            content.update(cols)
            n += columns.n_jets(cols)
            # one write per chunk of row_group_jets jets: one row group each
            writer.write_batch(columns.to_batch(cols, schema), row_group_size=row_group_jets)
    if n != entry["jets"] or content.hexdigest() != entry.get("content_hash", content.hexdigest()):
        raise PackingError(f"{src}: {n} jets / content hash differ from its manifest (verify-dataset the input)")
    md = pq.ParquetFile(dst).metadata
    if md.num_rows != n:
        raise PackingError(f"{dst}: {md.num_rows} rows written, {n} jets read")
    return {"file": dst.name, "split": entry["split"], "jets": n, "row_groups": md.num_row_groups,
            "bytes": dst.stat().st_size, "sha256": sha256_file(dst), "content_hash": content.hexdigest()}


def features() -> list[dict]:
    """The card's ``dataset_info.features``: every column in schema order, ``jet_label`` a class label."""
    out = []
    for name, dtype, jagged in BRANCHES:
        if name == "jet_label":
            out.append({"name": name, "dtype": {"class_label": {"names": {str(i): n for i, n in enumerate(LABEL_NAMES)}}}})
        else:
            out.append({"name": name, "list" if jagged else "dtype": dtype})
    return out


def dataset_card(files: list[dict], title: str = "JetClass-II") -> str:
    """The README.md of the release: YAML front matter (configs, label names), then a short description."""
    cats = sorted({f["category"] for f in files})

    def data_files(selected):
        out = []
        for split, hf in HF_SPLITS.items():
            paths = [f["file"] for f in selected if f["split"] == split]
            if paths:
                out.append({"split": hf, "path": paths})
        return out

    configs = [{"config_name": "all", "data_files": data_files(files), "default": True}]
    configs += [{"config_name": c, "data_files": data_files([f for f in files if f["category"] == c])} for c in cats]
    front = {
        "pretty_name": title,
        "tags": ["physics", "particle-physics", "jet-tagging", "high-energy-physics"],
        "configs": configs,
        # one dataset_info per config (one without config_name would apply to a "default" config only)
        "dataset_info": [{"config_name": c["config_name"], "features": features()} for c in configs],
    }
    import yaml

    lines = ["---", yaml.safe_dump(front, sort_keys=False, width=1000).rstrip(), "---", "", f"# {title}", ""]
    totals = {(f["category"], f["split"]): 0 for f in files}
    for f in files:
        totals[(f["category"], f["split"])] += f["jets"]
    lines += ["Jets per category and split (files `{Category}_NNNN.parquet`, one jet per row, 54 columns):", "",
              "| category | train | validation | test |", "|---|---|---|---|"]
    for c in cats:
        lines.append(f"| {c} | " + " | ".join(str(totals.get((c, s), 0)) for s in HF_SPLITS) + " |")
    lines += ["", "Load one category's splits with `datasets.load_dataset(REPO, \"Res2P\")` (config `all`: every category);",
              "with `jetdata.get_data(DIR, split=\"train\")` after downloading. Each file's split and provenance",
              "(generation jobs, grid points, seeds, code versions) are in its parquet key-value metadata",
              "(`jetclass2.split`, `jetclass2.provenance`).", "",
              f"`jet_label` is one of {len(LABEL_NAMES)} classes:", "", "| label | name |", "|---|---|"]
    lines += [f"| {i} | {name} |" for i, name in enumerate(LABEL_NAMES)]
    return "\n".join(lines) + "\n"


def release(dataset_dir, out, row_group_jets: int = 10_000, categories=None, provenance_dir=None) -> dict:
    """Write the release of ``dataset_dir`` (manifests) to ``out``; returns the release summary."""
    dataset_dir, out = Path(dataset_dir), Path(out)
    if row_group_jets < 1:
        raise PackingError(f"row group size must be at least 1 jet, got {row_group_jets}")
    if not dataset_dir.is_dir():
        raise PackingError(f"{dataset_dir}: no such dataset directory")
    found = manifests_in(dataset_dir, categories)
    if not found:
        raise PackingError(f"{dataset_dir}: no manifests ({{Category}}.manifest.json): not a packed dataset")
    if out.exists() and not out.is_dir():
        raise PackingError(f"{out}: exists and is not a directory")
    manifests = {}
    for cat, path in found.items():
        try:
            manifests[cat] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise PackingError(f"{path}: unreadable manifest ({exc})") from exc
    code = versions()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new.", dir=out.parent))
    try:
        files = []
        for cat, m in manifests.items():
            jobs = generation_jobs(m, provenance_dir)
            for entry in m["files"]:
                src = found[cat].parent / entry["file"]
                index = int(Path(entry["file"]).stem.rsplit("_", 1)[1])
                dst = tmp / f"{cat}_{index:04d}.parquet"
                provenance = {"category": cat, "index": index, "split": entry["split"], "jets": entry["jets"],
                              "labels": entry["labels"], "seed": m["seed"], "plan_id": m["plan_id"],
                              "split_weights": m["split_weights"], "packed_file": entry["file"],
                              "packed_sha256": entry["sha256"], "generation_jobs": jobs, "versions": code}
                info = _write_file(src, dst, entry, provenance, row_group_jets)
                info["category"] = cat
                files.append(info)
                log.info("%s: %d jets, %d row groups", dst.name, info["jets"], info["row_groups"])
        summary = {"source": str(dataset_dir), "row_group_jets": row_group_jets, "versions": code,
                   "jets": sum(f["jets"] for f in files), "files": files}
        (tmp / "README.md").write_text(dataset_card(files))
        (tmp / "release.json").write_text(json.dumps(summary, indent=1) + "\n")
        for p in tmp.iterdir():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o755)
        old = None
        if out.exists():  # moved aside only now that the new release is complete and checked
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.rename(out, old / out.name)
        os.rename(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return summary


def main(argv=None) -> int:
    from jetclass2.cliargs import ArgumentParser, UsageError, inside, integer

    ap = ArgumentParser(prog="release-dataset", description="A packed dataset (manifests) -> the published "
                                 "layout: {Category}_NNNN.parquet (ZSTD, row groups, provenance metadata) and a dataset card.")
    ap.add_argument("dataset_dir", help="our packed dataset (results/dataset)")
    ap.add_argument("-o", "--output", required=True, help="release directory (replaced only once the new one is complete)")
    ap.add_argument("--row-group-jets", type=integer(minimum=1), default=10_000, help="jets per parquet row group (default 10000)")
    ap.add_argument("--categories", nargs="+", default=None)
    ap.add_argument("--provenance-dir", default=None, help="generation outputs (SAMPLE/JOB.root.gridpoints.json)")
    args = ap.parse_args(argv)
    from .cli import _run

    def run(a):
        if inside(a.output, a.dataset_dir) or inside(a.dataset_dir, a.output):
            raise UsageError(f"{a.output}: the release directory -o and the dataset {a.dataset_dir} overlap "
                             "(the release replaces its directory)")
        s = release(a.dataset_dir, a.output, a.row_group_jets, a.categories, a.provenance_dir)
        print(f"release-dataset: {s['jets']} jets in {len(s['files'])} files -> {a.output}", file=sys.stderr)

    return _run("release-dataset", run, args)


if __name__ == "__main__":
    sys.exit(main())
