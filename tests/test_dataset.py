"""The dataset loader (jetdata): the same jets as uproot on the packed files, selections, the published layout."""
import json

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
from jetclass2.ntuplizer.labels import LABEL_INDEX
from jetclass2.ntuplizer.schema import BRANCH_NAMES
from packing_helpers import reference_dir, res2p_inputs

from jetclass2 import jetdata
from jetclass2.jetdata.loader import DatasetError
from jetclass2.packing.pack import pack_category
from jetclass2.training.groups import label_groups


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loader")
    out = tmp / "dataset"
    pack_category("Res2P", res2p_inputs(tmp), out, jets_per_file=30, seed=5, basket=8)  # 4 baskets per file
    qcd = reference_dir() / "ntuples" / "res2p_higgs2p_10events.qcdlabels.ntuple.root"
    jets = uproot.open(qcd)["tree"].arrays(BRANCH_NAMES)
    from jetclass2.ntuplizer.writer import write_jets

    write_jets(tmp / "qcd.root", jets[jets.jet_label >= 161])  # its one QCD_light jet
    pack_category("QCD", [tmp / "qcd.root"], out, jets_per_file=10, seed=5, split=(1, 0, 0))
    return out


def uproot_jets(out, category, split, branches=None):
    m = json.loads((out / f"{category}.manifest.json").read_text())
    arrays = [uproot.open(out / f["file"])["tree"].arrays(branches or BRANCH_NAMES) for f in m["files"] if f["split"] == split]
    return ak.concatenate(arrays)


def test_loader_returns_the_jets_uproot_reads(dataset):
    ours = jetdata.load(dataset, split="train", categories=["Res2P"], max_particles=None)
    ref = uproot_jets(dataset, "Res2P", "train")
    assert ours.fields == BRANCH_NAMES and len(ours) == len(ref) == 107  # the train jobs: 43 + 44 H->bb jets, 20 Res2P jets
    for name in BRANCH_NAMES:
        assert ak.array_equal(ours[name], ref[name]), name
    # lazily, in chunks: the same jets
    chunks = list(jetdata.iterate(dataset, split="train", categories=["Res2P"], max_particles=None, step_size=7))
    assert len(chunks) > 10 and ak.array_equal(ak.concatenate(chunks).jet_pt, ref.jet_pt)


def test_numpy_padding_and_truncation(dataset):
    branches = ["part_px", "part_isChargedHadron", "genpart_pid", "jet_pt", "jet_label"]
    a = jetdata.load(dataset, split="val", branches=branches, max_particles=16, library="np")
    ref = uproot_jets(dataset, "Res2P", "val", branches)
    n = len(ref)
    assert a["part_px"].shape == (n, 16) and a["part_mask"].shape == (n, 16) and a["genpart_mask"].shape == (n, 16)
    expect = ak.to_numpy(ak.fill_none(ak.pad_none(ref.part_px[:, :16], 16, clip=True), 0))
    assert np.array_equal(a["part_px"], expect)
    assert np.array_equal(a["part_mask"].sum(axis=1), np.minimum(ak.to_numpy(ak.num(ref.part_px)), 16))
    assert a["part_isChargedHadron"].dtype == bool and np.array_equal(a["jet_pt"], ak.to_numpy(ref.jet_pt))
    ak_cut = jetdata.load(dataset, split="val", branches=["part_px"], max_particles=16)
    assert ak.array_equal(ak_cut.part_px, ref.part_px[:, :16])


def test_selection_by_label_group_and_split(dataset):
    everything = jetdata.load(dataset, split="all", branches=["jet_label"], library="np")["jet_label"]
    parts = [jetdata.load(dataset, split=s, branches=["jet_label"], library="np") for s in ("train", "val", "test")]
    assert sorted(everything.tolist()) == sorted(np.concatenate([p["jet_label"] for p in parts if p]).tolist())
    xbb = jetdata.load(dataset, split="all", labels=["X_bb"], branches=["jet_pt"], library="np")
    assert len(xbb["jet_pt"]) == np.sum(everything == LABEL_INDEX["X_bb"]) > 0
    qq = jetdata.load(dataset, split="all", labels="X_QQ", branches=["jet_label"], library="np")["jet_label"]
    assert set(qq.tolist()) <= set(label_groups()["X_QQ"]) and len(qq) == np.isin(everything, label_groups()["X_QQ"]).sum()
    qcd = jetdata.load(dataset, split="all", labels=["QCD"], branches=["jet_label"], library="np")["jet_label"]
    assert qcd.tolist() == [LABEL_INDEX["QCD_light"]]  # read from the QCD file only
    assert [(c, p.name) for c, p in jetdata.files(dataset, "train", ["QCD"])] == [("QCD", "QCD_0000.root")]
    assert len(jetdata.load(dataset, split="all", max_jets=33, branches=["jet_pt"])) == 33
    for bad in (dict(split="training"), dict(labels=["X_zz"]), dict(branches=["jet_ptt"]), dict(categories=["Res34P"]),
                dict(library="pandas")):
        with pytest.raises(DatasetError):
            jetdata.load(dataset, **bad)


def test_published_parquet_layout(tmp_path):
    """The release on the dataset hub: {Category}_NNNN.parquet, split 4:1:1 by file index."""
    sample = reference_dir() / "jetclass2" / "jetclass2_sample_100jets.parquet"
    table = pq.read_table(sample)
    release = tmp_path / "release" / "QCD"
    release.mkdir(parents=True)
    for i in range(6):  # 6 files of ~16 jets: train 0-3, val 4, test 5
        pq.write_table(table.slice(16 * i, 16), release / f"QCD_{i:04d}.parquet")
    test = jetdata.load(tmp_path / "release", split="test", max_particles=None)
    ref = ak.from_parquet(release / "QCD_0005.parquet")
    assert len(test) == 16 and all(ak.array_equal(test[b], ref[b]) for b in BRANCH_NAMES)
    train = jetdata.load(tmp_path / "release", split="train", branches=["jet_pt", "part_px"], library="np", max_particles=128)
    assert train["part_px"].shape == (64, 128)
    assert np.array_equal(train["jet_pt"], table.column("jet_pt").to_numpy()[:64])
