"""The ntuplizer against the reference production: Delphes' own jets and the C++ macro's ntuples."""
import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
from jetclass2.ntuplizer import Settings, process_file
from jetclass2.ntuplizer.core import gen_jets, jet_substructure, reco_jets
from jetclass2.ntuplizer.schema import BRANCH_NAMES, BRANCHES

from jetclass2.delphes_tree import iterate_events

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
    for name, _dtype, jagged in BRANCHES:
        ref_type = str(ak.type(ref[name]).content)
        our_type = str(ak.type(hbb_jets[name]).content)
        assert our_type == ref_type, name
        assert (("var *" in ref_type) == jagged), name


REFERENCE_NTUPLES = [
    (HBB, "hbb_m125_pt500_200events.ntuple.root", False, 175),
    (RES2P, "res2p_higgs2p_10events.ntuple.root", False, 20),
    (RES2P, "res2p_higgs2p_10events.qcdlabels.ntuple.root", True, 21),
]


@pytest.mark.parametrize("source,reference,qcd,n_jets", REFERENCE_NTUPLES)
def test_every_branch_matches_reference_ntuple(shared_dir, source, reference, qcd, n_jets):
    """The reference C++ macro's ntuples, branch for branch (labels, multiplicities, PIDs and flags
    exactly; floats within 1e-3 relative or absolute)."""
    ours = process_file(shared_dir / source, Settings.from_config(qcd_labels=qcd))
    ref = uproot.open(shared_dir / "ntuples" / reference)["tree"].arrays()
    assert len(ours) == len(ref) == n_jets
    for name, _, jagged in BRANCHES:
        mine, theirs = ours[name], ref[name]
        if jagged:
            assert ak.all(ak.num(mine) == ak.num(theirs)), f"{name}: multiplicities differ"
            mine, theirs = ak.flatten(mine), ak.flatten(theirs)
        if name in ("jet_label", "jet_nparticles", "genjet_nparticles") or name.endswith(("_pid", "_charge")) or "_is" in name:
            assert np.array_equal(np.asarray(mine), np.asarray(theirs)), name
        else:
            assert _tolerant_equal(mine, theirs), name


def _delphes_jets(path, branch):
    a = uproot.open(path)["Delphes"].arrays([f"{branch}.PT", f"{branch}.Eta", f"{branch}.Tau[5]", f"{branch}.SoftDroppedP4[5]"])
    sd = a[f"{branch}.SoftDroppedP4[5]"][:, :, 0]
    p2 = sd.fP.fX ** 2 + sd.fP.fY ** 2 + sd.fP.fZ ** 2
    msd = np.sqrt(np.maximum(sd.fE ** 2 - p2, 0))
    return a[f"{branch}.PT"], a[f"{branch}.Eta"], ak.to_numpy(ak.flatten(a[f"{branch}.Tau[5]"][:, :, :4])), ak.flatten(msd)


@pytest.mark.parametrize("source", [HBB, RES2P, "delphes/res2p_lite_card_10events.root"])
@pytest.mark.parametrize("radius,branch,genbranch", [(0.8, "JetPUPPIAK8", "GenJetAK8"), (1.5, "JetPUPPIAK15", "GenJetAK15")])
def test_reclustering_reproduces_delphes_jets(shared_dir, source, radius, branch, genbranch):
    """Every PUPPI jet and GEN-jet re-clustered from the stored inputs is Delphes' jet: pT within 1e-4,
    same constituents, soft-drop mass and tau_1..4 within 1e-3 (relative or absolute)."""
    path = shared_dir / source
    s = Settings.from_config(jet_radius=radius)
    ev = next(iterate_events(path))
    t = uproot.open(path)["Delphes"]
    for kind, (jets, cons), coll, eta, b in (("reco", reco_jets(ev, s), ev.pfcands, "MomentumEta", branch),
                                             ("gen", gen_jets(ev, s), ev.particles, "Eta", genbranch)):
        pt, jeta, tau, msd = _delphes_jets(path, b)
        assert ak.all(ak.num(jets) == ak.num(pt)), f"{kind}: jet counts differ"
        assert _tolerant_equal(ak.flatten(jets.pt), ak.flatten(pt), rel=1e-4, absolute=0), kind
        assert _tolerant_equal(ak.flatten(jets.eta), ak.flatten(jeta), rel=1e-4, absolute=1e-4), kind
        our_msd, our_tau = jet_substructure(coll, cons, s, eta=eta)
        assert _tolerant_equal(our_msd, msd), f"{kind}: soft-drop mass"
        assert _tolerant_equal(our_tau.ravel(), tau.ravel()), f"{kind}: tau_1..4"
        if kind == "reco":
            n = t.arrays([f"{b}.NCharged", f"{b}.NNeutrals"])
            assert ak.flatten(ak.num(cons, axis=2)).tolist() == ak.flatten(n[f"{b}.NCharged"] + n[f"{b}.NNeutrals"]).tolist()
