"""The ntuplizer against the reference production: Delphes' own jets and the C++ macro's ntuples."""
import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot

from ntuplizer import Settings, process_file
from ntuplizer.core import gen_jets, reco_jets
from ntuplizer.io import iterate_events
from ntuplizer.schema import BRANCHES, BRANCH_NAMES

HBB = "delphes/hbb_m125_pt500_200events.root"
RES2P = "delphes/res2p_higgs2p_10events.root"


@pytest.fixture(scope="module")
def hbb_jets(shared_dir):
    return process_file(shared_dir / HBB)


def _tolerant_equal(ours, ref, rel=1e-3, absolute=1e-3):
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    return np.all((np.abs(ours - ref) <= absolute) | (np.abs(ours - ref) <= rel * np.abs(ref)))


def test_schema_matches_published_jetclass2(shared_dir, hbb_jets):
    published = pq.read_schema(shared_dir / "jetclass2/jetclass2_sample_100jets.parquet")
    assert published.names == BRANCH_NAMES
    ref = ak.from_parquet(shared_dir / "jetclass2/jetclass2_sample_100jets.parquet")
    for name, dtype, jagged in BRANCHES:
        ref_type = str(ak.type(ref[name]).content)
        our_type = str(ak.type(hbb_jets[name]).content)
        assert our_type == ref_type, name
        assert (("var *" in ref_type) == jagged), name


def test_hbb_every_branch_matches_reference_ntuple(shared_dir, hbb_jets):
    ref = uproot.open(shared_dir / "ntuples/hbb_m125_pt500_200events.ntuple.root")["tree"].arrays()
    assert len(hbb_jets) == len(ref) == 175
    for name, _, jagged in BRANCHES:
        ours, theirs = hbb_jets[name], ref[name]
        if jagged:
            assert ak.all(ak.num(ours) == ak.num(theirs)), f"{name}: multiplicities differ"
            ours, theirs = ak.flatten(ours), ak.flatten(theirs)
        if name in ("jet_label", "jet_nparticles", "genjet_nparticles") or name.endswith(("_pid", "_charge")) or "_is" in name:
            assert np.array_equal(np.asarray(ours), np.asarray(theirs)), name
        else:
            assert _tolerant_equal(ours, theirs), name


@pytest.mark.parametrize("qcd", [False, True])
def test_res2p_labels_and_genjets_match_reference(shared_dir, qcd):
    """Same jets, labels and GEN-jet pT as the reference macro on the 10-event Res2P file.

    (Constituent-level quantities of this file are checked against Delphes' jets in
    test_reclustering_reproduces_delphes_jets: its zero-pT PUPPI candidates are stored
    without the momentum Delphes clustered, see docs/ntuplizer.md.)
    """
    ours = process_file(shared_dir / RES2P, Settings.from_config(qcd_labels=qcd))
    name = "res2p_higgs2p_10events.qcdlabels.ntuple.root" if qcd else "res2p_higgs2p_10events.ntuple.root"
    ref = uproot.open(shared_dir / "ntuples" / name)["tree"].arrays()
    assert len(ours) == len(ref) == (21 if qcd else 20)
    assert ours.jet_label.tolist() == ref.jet_label.tolist()
    assert _tolerant_equal(ours.jet_pt, ref.jet_pt, rel=5e-3)
    assert _tolerant_equal(ours.genjet_pt, ref.genjet_pt, rel=1e-4)
    assert ours.genjet_nparticles.tolist() == ref.genjet_nparticles.tolist()


def _delphes_jets(path, branch, n):
    t = uproot.open(path)["Delphes"]
    a = t.arrays([f"{branch}.PT", f"{branch}.Eta", f"{branch}.Phi", f"{branch}.Tau[5]", f"{branch}.SoftDroppedP4[5]"])
    sd = a[f"{branch}.SoftDroppedP4[5]"][:, :, 0]
    p2 = sd.fP.fX ** 2 + sd.fP.fY ** 2 + sd.fP.fZ ** 2
    msd = np.sqrt(np.maximum(sd.fE ** 2 - p2, 0))
    return a[f"{branch}.PT"], a[f"{branch}.Eta"], a[f"{branch}.Tau[5]"][:, :, :n], msd


@pytest.mark.parametrize("radius,branch,genbranch", [(0.8, "JetPUPPIAK8", "GenJetAK8"), (1.5, "JetPUPPIAK15", "GenJetAK15")])
def test_reclustering_reproduces_delphes_jets(shared_dir, radius, branch, genbranch):
    """PUPPI jets and GEN-jets re-clustered from the stored inputs equal Delphes' jets (H->bb file)."""
    path = shared_dir / HBB
    s = Settings.from_config(jet_radius=radius)
    ev = next(iterate_events(path))
    rj, _ = reco_jets(ev, s)
    gj, _ = gen_jets(ev, s)
    pt, eta, tau, msd = _delphes_jets(path, branch, 4)
    assert ak.all(ak.num(rj) == ak.num(pt))
    assert _tolerant_equal(ak.flatten(rj.pt), ak.flatten(pt), rel=1e-4, absolute=0)
    assert _tolerant_equal(ak.flatten(rj.eta), ak.flatten(eta), rel=1e-4, absolute=1e-4)
    gpt, _, _, _ = _delphes_jets(path, genbranch, 4)
    assert ak.all(ak.num(gj) == ak.num(gpt))
    assert _tolerant_equal(ak.flatten(gj.pt), ak.flatten(gpt), rel=1e-4, absolute=0)
