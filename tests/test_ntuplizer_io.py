"""The ntuplize command: outputs readable as TTree/parquet, bad inputs fail cleanly, nothing half-written."""
import subprocess
import sys

import awkward as ak
import numpy as np
import pytest
import uproot
from jetclass2.ntuplizer import DelphesInputError, ntuplize
from jetclass2.ntuplizer.schema import BRANCH_NAMES
from jetclass2.ntuplizer.writer import read_jets

from jetclass2.delphes_tree import COLLECTIONS, DelphesWriter

RES2P = "delphes/res2p_higgs2p_10events.root"


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "jetclass2.ntuplizer.cli", *map(str, args)], capture_output=True, text=True)


def test_cli_root_and_parquet_outputs(shared_dir, tmp_path):
    out_root = tmp_path / "jets.root"
    out_pq = tmp_path / "jets.parquet"
    r = run_cli(shared_dir / RES2P, "-o", out_root, "--qcd-labels", "-q")
    assert r.returncode == 0, r.stderr
    assert run_cli(shared_dir / RES2P, "-o", out_pq, "--qcd-labels", "-q").returncode == 0
    tree = uproot.open(out_root)["tree"]
    assert tree.classname == "TTree"
    assert [b for b in tree.keys() if not b.startswith("n")] == BRANCH_NAMES
    a, b = read_jets(out_root), read_jets(out_pq)
    assert len(a) == len(b) == 21
    assert a.jet_label.tolist() == b.jet_label.tolist()
    assert ak.all(ak.num(a.part_px) == a.jet_nparticles)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jets.parquet", "jets.root"]  # no temporaries left


def test_ak15_jets(shared_dir):
    from jetclass2.ntuplizer import Settings, process_file
    path = shared_dir / "delphes/hbb_m125_pt500_200events.root"
    ak15 = process_file(path, Settings.from_config(jet_radius=1.5))
    ak8 = process_file(path, Settings.from_config(jet_radius=0.8))
    assert len(ak15) > 0.8 * len(ak8)
    # wider jets collect more particles and more of the b-quark pair
    assert np.mean(ak15.jet_nparticles) > 1.1 * np.mean(ak8.jet_nparticles)
    assert ak.all(ak15.genjet_pt > 0)


@pytest.mark.parametrize("make,message", [
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_text("not a root file at all" * 100), "not a readable ROOT file"),
    (lambda p: None, "does not exist"),
])
def test_bad_files_give_clear_errors(tmp_path, make, message):
    bad = tmp_path / "bad.root"
    make(bad)
    out = tmp_path / "out.root"
    r = run_cli(bad, "-o", out)
    assert r.returncode == 2
    assert str(bad) in r.stderr and message in r.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_truncated_file(shared_dir, tmp_path):
    data = (shared_dir / RES2P).read_bytes()
    bad = tmp_path / "truncated.root"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DelphesInputError, match="truncated.root"):
        ntuplize([bad], tmp_path / "out.root")
    assert not (tmp_path / "out.root").exists()


def _particles_only(path, n_events=3):
    spec = COLLECTIONS["Particle"]
    ev = {f: ak.Array([[1, 2]] * n_events) if spec[f].startswith("int") else ak.Array([[1.0, 2.0]] * n_events) for f in spec}
    with DelphesWriter(path) as w:
        w.extend({"Particle": ak.zip(ev)})


def test_missing_branch_and_wrong_tree(tmp_path):
    p = tmp_path / "gen_only.root"
    _particles_only(p)
    with pytest.raises(DelphesInputError, match=r"missing branch.*ParticleFlowCandidate"):
        ntuplize([p], tmp_path / "out.root")
    other = tmp_path / "other.root"
    with uproot.recreate(other) as f:
        f.mktree("Events", {"x": np.float32}).extend({"x": np.zeros(3, np.float32)})
    with pytest.raises(DelphesInputError, match="no TTree 'Delphes'"):
        ntuplize([other], tmp_path / "out.root")
    assert not (tmp_path / "out.root").exists()


def test_zero_selected_jets_gives_valid_empty_file(shared_dir, tmp_path):
    out = tmp_path / "none.root"
    s = ntuplize([shared_dir / RES2P], out, min_jet_pt=1e6)
    assert s.jets == 0
    tree = uproot.open(out)["tree"]
    assert tree.num_entries == 0
    assert [b for b in tree.keys() if not b.startswith("n")] == BRANCH_NAMES
