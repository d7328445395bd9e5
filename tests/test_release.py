"""release-dataset: the published parquet layout (schema, row groups, provenance metadata, card) written atomically."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from jetclass2.ntuplizer.label_names import LABEL_NAMES
from packing_helpers import REPO, reference_dir, res2p_inputs

from jetclass2 import jetdata
from jetclass2.packing.fileio import PackingError
from jetclass2.packing.pack import pack_category
from jetclass2.packing.release import release


def published_sample():
    return reference_dir() / "jetclass2" / "jetclass2_sample_100jets.parquet"


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("release")
    pack_category("Res2P", res2p_inputs(tmp), tmp / "dataset", jets_per_file=30, seed=5, basket=8)  # train, val and test files (split by job)
    return tmp / "dataset"


def test_release_layout_schema_row_groups_and_provenance(packed, tmp_path):
    summary = release(packed, tmp_path / "rel", row_group_jets=8)
    names = sorted(p.name for p in (tmp_path / "rel").iterdir())
    manifest = json.loads((packed / "Res2P.manifest.json").read_text())
    n_files = len(manifest["files"])
    assert names == sorted(["README.md", "release.json"] + [f"Res2P_{i:04d}.parquet" for i in range(n_files)])
    published = pq.ParquetFile(published_sample()).schema_arrow.remove_metadata()
    for entry in manifest["files"]:
        f = pq.ParquetFile(tmp_path / "rel" / entry["file"].replace(".root", ".parquet"))
        assert f.schema_arrow.remove_metadata().equals(published)  # the published column names and types
        md = f.metadata
        assert md.num_rows == entry["jets"] and md.num_row_groups == -(-entry["jets"] // 8)  # 30: 8+8+8+6
        assert md.row_group(0).num_rows == min(8, entry["jets"]) and md.row_group(0).column(0).compression == "ZSTD"
        prov = json.loads(md.metadata[b"jetclass2.provenance"])
        assert md.metadata[b"jetclass2.split"].decode() == prov["split"] == entry["split"]
        assert prov["seed"] == 5 and prov["plan_id"] == manifest["plan_id"] and prov["versions"]["pyarrow"]
        assert {j["ntuple"] for j in prov["generation_jobs"]} == {i["path"] for i in manifest["inputs"]}
    # the same jets as the packed files, in order; the split travels with the single file
    ours = jetdata.get_data(packed, split="val", num_particles=200)
    val = [e["file"].replace(".root", ".parquet") for e in manifest["files"] if e["split"] == "val"]
    rel = jetdata.get_data([tmp_path / "rel" / f for f in val], split="val", num_particles=200)
    assert np.array_equal(ours.particles, rel.particles) and np.array_equal(ours.labels, rel.labels)
    assert summary["jets"] == manifest["jets"] == 195
    front = yaml.safe_load((tmp_path / "rel" / "README.md").read_text().split("---")[1])
    configs = {c["config_name"]: {d["split"]: d["path"] for d in c["data_files"]} for c in front["configs"]}
    by_split = {hf: [e["file"].replace(".root", ".parquet") for e in manifest["files"] if e["split"] == ours_name]
                for hf, ours_name in (("train", "train"), ("validation", "val"), ("test", "test"))}
    assert configs["Res2P"] == by_split and all(by_split.values())
    label = next(f for f in front["dataset_info"][0]["features"] if f["name"] == "jet_label")
    assert list(label["dtype"]["class_label"]["names"].values()) == list(LABEL_NAMES) and len(LABEL_NAMES) == 188


def test_failed_release_leaves_the_previous_one(packed, tmp_path):
    release(packed, tmp_path / "rel", row_group_jets=10)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "rel").iterdir()}
    bad = tmp_path / "bad"
    shutil.copytree(packed, bad, symlinks=True)
    mp = bad / "Res2P.manifest.json"
    m = json.loads(mp.read_text())
    m["files"][-1]["content_hash"] = "0" * 64  # the packed file no longer matches its manifest
    os.unlink(mp)
    mp.write_text(json.dumps(m))
    with pytest.raises(PackingError, match="content hash"):
        release(bad, tmp_path / "rel", row_group_jets=10)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "rel").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    r = subprocess.run([sys.executable, "-m", "jetclass2.packing.release", str(tmp_path / "nothere"), "-o", str(tmp_path / "x")],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert r.stderr.startswith("release-dataset: error: ") and "no such dataset directory" in r.stderr


def test_release_directory_splits_come_from_the_files(tmp_path):
    """Splits that do not follow file indices (here 1:1:1) are read from the files' metadata."""
    pack_category("Res2P", res2p_inputs(tmp_path), tmp_path / "dataset", jets_per_file=30, seed=5, split=(1, 1, 1))
    release(tmp_path / "dataset", tmp_path / "rel")
    for split in ("train", "val", "test"):
        ours = jetdata.get_data(tmp_path / "dataset", split=split, jet_features=["jet_pt"])
        rel = jetdata.get_data(tmp_path / "rel", split=split, jet_features=["jet_pt"])
        assert np.array_equal(ours.jets, rel.jets) and np.array_equal(ours.particles, rel.particles), split


@pytest.mark.skipif(importlib.util.find_spec("datasets") is None,
                    reason="Hugging Face `datasets` not installed (not a dependency: it pulls pandas and the hub client)")
def test_card_configs_load_with_datasets(packed, tmp_path):
    import datasets

    release(packed, tmp_path / "rel", row_group_jets=10)
    d = datasets.load_dataset(str(tmp_path / "rel"), "Res2P", cache_dir=str(tmp_path / "cache"))
    assert {k: len(v) for k, v in d.items()} == {"train": 150, "validation": 30, "test": 15}
    assert d["train"].features["jet_label"].names == list(LABEL_NAMES)
