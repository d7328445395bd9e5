"""jetdata.get_data and the torch IterableDataset: the jets uproot and pyarrow read, on our files and the published sample."""
import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
from jetclass2.ntuplizer.label_names import LABEL_NAMES
from packing_helpers import reference_dir, res2p_inputs

from jetclass2 import jetdata
from jetclass2.jetdata.loader import DatasetError
from jetclass2.packing.pack import pack_category
from jetclass2.packing.release import release

PF = ("part_deta", "part_dphi", "part_energy", "part_charge")
JF = ("jet_pt", "jet_sdmass", "jet_nparticles")


def published_sample():
    return reference_dir() / "jetclass2" / "jetclass2_sample_100jets.parquet"


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("arrays")
    pack_category("Res2P", res2p_inputs(tmp), tmp / "dataset", jets_per_file=30, seed=5, basket=8)
    release(tmp / "dataset", tmp / "release", row_group_jets=7)  # 5 row groups per file: pieces for the workers
    return tmp


def padded(jets, name, width):
    return ak.to_numpy(ak.fill_none(ak.pad_none(jets[name][:, :width], width, clip=True), 0)).astype(np.float32)


def check_same(d, jets, width):
    assert d.particles.shape == (len(jets), width, len(PF)) and d.jets.shape == (len(jets), len(JF))
    for k, name in enumerate(PF):
        assert np.array_equal(d.particles[:, :, k], padded(jets, name, width)), name
    for k, name in enumerate(JF):
        assert np.array_equal(d.jets[:, k], ak.to_numpy(jets[name]).astype(np.float32)), name
    assert np.array_equal(d.mask.sum(axis=1), np.minimum(ak.to_numpy(ak.num(jets.part_deta)), width))
    assert np.array_equal(d.labels, ak.to_numpy(jets.jet_label))


def test_get_data_matches_uproot_on_our_files(packed):
    import json

    m = json.loads((packed / "dataset" / "Res2P.manifest.json").read_text())
    ref = ak.concatenate([uproot.open(packed / "dataset" / f["file"])["tree"].arrays() for f in m["files"] if f["split"] == "train"])
    d = jetdata.get_data(packed / "dataset", split="train", particle_features=PF, jet_features=JF, num_particles=20,
                         step_size=11)
    check_same(d, ref, 20)
    assert d.particle_features == PF and d.jets.dtype == np.float32 and d.mask.dtype == bool
    # the release (a directory of published names, and a list of files) gives the same arrays
    rel = jetdata.get_data(packed / "release", split="train", particle_features=PF, jet_features=JF, num_particles=20)
    listed = jetdata.get_data(sorted((packed / "release").glob("*.parquet")), split="train", particle_features=PF,
                              jet_features=JF, num_particles=20)
    assert np.array_equal(rel.particles, d.particles) and np.array_equal(listed.jets, d.jets)
    ours_listed = jetdata.get_data(sorted((packed / "dataset").glob("Res2P_*.root")), split="train", particle_features=PF,
                                   jet_features=JF, num_particles=20)  # our files by name: the manifest beside them
    assert np.array_equal(ours_listed.jets, d.jets)
    xbb = jetdata.get_data(packed / "dataset", split="all", labels="X_bb", particle_features=PF, jet_features=JF, max_jets=5)
    assert len(xbb.labels) == 5 and set(xbb.labels) == {LABEL_NAMES.index("X_bb")}


def test_get_data_on_the_published_sample():
    path = published_sample()
    table = ak.from_parquet(path)
    d = jetdata.get_data(path, split="all", particle_features=PF, jet_features=JF, num_particles=64)
    check_same(d, table, 64)
    assert len(jetdata.load(path, split="all", max_particles=None)) == pq.ParquetFile(path).metadata.num_rows == 100
    with pytest.raises(DatasetError, match="no split information.*use split='all'"):
        jetdata.get_data(path, split="test")
    with pytest.warns(UserWarning, match="no jets selected"):
        assert len(jetdata.load(path, split="all", labels="X_YY_bbtauhtauh", categories=[path.stem])) == 0
    with pytest.raises(DatasetError, match="no jets selected"):
        jetdata.get_data(path, split="all", labels="X_YY_bbtauhtauh")
    with pytest.raises(DatasetError, match="one collection"):
        jetdata.get_data(path, split="all", particle_features=["part_px", "genpart_px"])
    assert len(jetdata.label_names) == 188 and set(jetdata.sophon_groups()["QCD"]) <= set(range(188))


def epoch_jets(ds, workers, epoch):
    from torch.utils.data import DataLoader

    ds.set_epoch(epoch)
    batches = list(DataLoader(ds, batch_size=None, num_workers=workers))
    return np.concatenate([b["jets"].numpy() for b in batches]), np.concatenate([b["label"].numpy() for b in batches])


def test_iterable_dataset_every_jet_once_deterministic(packed):
    pytest.importorskip("torch", reason="torch (the train extra) not installed")
    ds = jetdata.JetIterableDataset(packed / "release", split="train", particle_features=PF, jet_features=JF,
                                    num_particles=20, shuffle_buffer=16, seed=7, batch_size=5)
    train = [f for f in sorted((packed / "release").glob("*.parquet"))
             if pq.ParquetFile(f).metadata.metadata[b"jetclass2.split"] == b"train"]
    assert len(ds.pieces) == sum(pq.ParquetFile(f).num_row_groups for f in train)  # a piece per row group
    ref = jetdata.get_data(packed / "release", split="train", particle_features=PF, jet_features=JF, num_particles=20)
    key = lambda jets: sorted(map(tuple, jets.tolist()))  # noqa: E731
    first, _ = epoch_jets(ds, 2, 0)
    assert key(first) == key(ref.jets) and len(first) == len(ref.jets) > 0  # every jet exactly once over 2 workers
    again, _ = epoch_jets(ds, 2, 0)
    other, _ = epoch_jets(ds, 2, 1)
    assert np.array_equal(first, again)  # same seed and epoch: same order
    assert key(other) == key(ref.jets) and not np.array_equal(first, other)  # another epoch: another order
    assert not np.array_equal(first, ref.jets)  # shuffled
    # two ranks of one worker each read disjoint halves
    halves = [jetdata.JetIterableDataset(packed / "release", split="train", particle_features=PF, jet_features=JF,
                                         seed=7, rank=r, world_size=2) for r in range(2)]
    parts = [np.stack([item["jets"].numpy() for item in h]) for h in halves]
    assert key(np.concatenate(parts)) == key(ref.jets) and min(map(len, parts)) > 0
