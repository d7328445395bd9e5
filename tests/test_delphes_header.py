"""The fast TTree-header reader of jetclass2.delphes_tree: the same basket layout as uproot for
every branch the ntuplizer reads, the same events, and uproot where it declines a file."""
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from jetclass2.ntuplizer.core import PARTICLE_FIELDS

from jetclass2 import delphes_tree as dt

FILES = ["delphes/hbb_m125_pt500_200events.root", "delphes/res2p_higgs2p_10events.root",
         "delphes/res2p_lite_card_10events.root"]
READ = ([f"Particle.{f}" for f in PARTICLE_FIELDS] + [f"ParticleFlowCandidate.{f}" for f in dt.PFCAND_FIELDS]
        + [f"ParticleFlowCandidate.{dt.PFCAND_DIRECTION_FIELD}", "Vertex.Z", "Vertex.T",
           "Particle_size", "ParticleFlowCandidate_size", "Vertex_size"])


def _events(path, source):
    return list(dt.iterate_events(path, step=7, tree=source, particle_fields=PARTICLE_FIELDS))


@pytest.mark.parametrize("name", FILES)
def test_header_layout_matches_uproot(shared_dir, name):
    path = Path(shared_dir) / name
    if not path.exists():
        pytest.skip(f"{path} absent")
    fast = dt.open_input(path)
    assert fast.specs is not None, "the fast header reader declined a Delphes file"
    tree = dt.open_tree(path)
    _assert_same_layout(fast, tree, READ)
    for a, b in zip(_events(path, fast), _events(path, tree), strict=True):
        assert ak.to_list(a.particles) == ak.to_list(b.particles)
        assert ak.to_list(a.pfcands) == ak.to_list(b.pfcands)
        np.testing.assert_array_equal(a.pv_z, b.pv_z)


def _assert_same_layout(source, tree, names=None):
    branches = dt._branch_map(tree)
    assert source.num_entries == tree.num_entries and set(source.specs) == set(branches)
    for leaf in names or branches:
        if leaf not in branches:
            continue
        ours, theirs = source.specs[leaf], dt._uproot_spec(leaf, branches[leaf])
        if ours.dtype is None and leaf not in READ:
            continue  # a branch the basket reader never reads (uproot reads it if ever asked)
        assert ours.dtype == theirs.dtype and ours.jagged == theirs.jagged, leaf
        for member in ("entry", "seek", "nbytes"):
            np.testing.assert_array_equal(getattr(ours, member), getattr(theirs, member), err_msg=leaf)


def _uproot_written(path, extra=None):
    def record(collection):
        spec = dt.COLLECTIONS[collection]
        return {f: ak.Array([[1, 2, 3], [], [4]]) if spec[f].startswith("int") else ak.Array([[1.0, 2.0, 3.0], [], [4.0]])
                for f in spec}

    ev = record("Particle")
    if extra is None:
        with dt.DelphesWriter(path) as w:  # the fast simulation's writer
            w.extend({"Particle": ak.zip(ev), "ParticleFlowCandidate": ak.zip(record("ParticleFlowCandidate"))})
        return
    with uproot.recreate(path) as f:
        f.mktree(dt.TREE_NAME, {"Particle.PT": "var * float32", **{k: v.dtype for k, v in extra.items()}},
                 counter_name=lambda counted: "Particle_size")
        f[dt.TREE_NAME].extend({"Particle.PT": ak.values_astype(ev["PT"], np.float32), **extra})


def test_uproot_written_file_same_layout(tmp_path):
    """Our fast simulation writes with uproot (TBranch + counted TLeaf, no TClonesArray): the
    header reader reads those too, exactly as uproot does, and the events are the same."""
    path = tmp_path / "fastsim_like.root"
    _uproot_written(path)
    source, tree = dt.open_input(path), dt.open_tree(path)
    assert source.specs is not None
    _assert_same_layout(source, tree)
    reader = dt._BasketReader(path, source, ["Particle.PT"], source.specs)
    np.testing.assert_array_equal(reader.leaf("Particle.PT", 0, 3), [1.0, 2.0, 3.0, 4.0])
    reader.close()
    for a, b in zip(_events(path, source), _events(path, tree), strict=True):
        assert ak.to_list(a.particles) == ak.to_list(b.particles)
        assert ak.to_list(a.pfcands) == ak.to_list(b.pfcands)


def test_unknown_leaf_class_falls_back_to_uproot(tmp_path):
    """A leaf class the header reader does not know (TLeafO: a bool branch): uproot opens the tree."""
    path = tmp_path / "with_bool.root"
    _uproot_written(path, {"Flag": np.array([True, False, True])})
    source = dt.open_input(path)
    assert source.specs is None and source.num_entries == 3
    branches = source.branches()
    reader = dt._BasketReader(path, source, ["Particle.PT"], branches)
    np.testing.assert_array_equal(reader.leaf("Particle.PT", 0, 3), [1.0, 2.0, 3.0, 4.0])
    reader.close()


def test_truncated_header_falls_back(shared_dir, tmp_path):
    """A file whose TTree header bytes are damaged: no fast layout, and the uproot error names the file."""
    src = Path(shared_dir) / FILES[1]
    if not src.exists():
        pytest.skip(f"{src} absent")
    f = dt._open_file(src)
    key = f.key(dt.TREE_NAME)
    data = bytearray(src.read_bytes())
    data[key.fSeekKey + key.fKeylen + 20: key.fSeekKey + key.fNbytes] = b"\0" * (key.fNbytes - key.fKeylen - 20)
    bad = tmp_path / "bad_header.root"
    bad.write_bytes(bytes(data))
    with pytest.raises(dt.DelphesInputError, match="bad_header.root"):
        dt.open_input(bad)
