"""The fast simulation against real Delphes 3.5.0 on the same generator events (a small version of
``benchmarks/validate_fastsim.py``): needs the generation stack (containers/install-generation-stack.sh),
skips with the reason otherwise.

One QCD point (pTHat ~ 800 GeV, 200 events, 50 pile-up from 400 minimum-bias events made here):
DelphesPythia8 with the JetClass-II card writes the generator record and Delphes' candidates, the
fast simulation re-simulates the same record, both are ntuplized at R = 0.8 and 1.5 and the jets
are paired through their (identical) GEN-jets. The targets of the validation hold within three
bootstrap standard errors of this sample; the constituent-eta convention of charged candidates
(calorimeter-hit eta in ``Eta``, momentum in ``CtgTheta``) is the one Delphes 3.5.0 writes.
"""
import importlib.util
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

REPO = Path(__file__).resolve().parents[1]

_spec = importlib.util.spec_from_file_location("validate_fastsim", REPO / "benchmarks" / "validate_fastsim.py")
V = importlib.util.module_from_spec(_spec)
sys.modules["validate_fastsim"] = V
_spec.loader.exec_module(V)

EVENTS = 200
SEED = 7


@pytest.fixture(scope="module")
def stack():
    prefix, why = V.find_stack()
    if prefix is None:
        pytest.skip(why)
    return prefix


@pytest.fixture(scope="module")
def files(stack, tmp_path_factory):
    work = tmp_path_factory.mktemp("fsval")
    pileup, library = V.minbias(stack, work, 400, SEED)
    point = V.make_points(["QCD"], [800.0])[0]
    delphes, _ = V.delphes_file(stack, work, point, EVENTS, pileup, SEED)
    fast = work / "fastsim.root"
    V.fastsim_file(delphes, fast, library, seed=SEED)
    momentum = work / "fastsim_momentum_eta.root"
    V.fastsim_file(delphes, momentum, library, seed=SEED, charged_eta="momentum")
    return delphes, fast, momentum


@pytest.mark.parametrize("radius", [0.8, 1.5])
def test_paired_jets_meet_the_targets(files, radius):
    delphes, fast, _ = files
    o, r = V.jet_table(V.jets_of(fast, radius)), V.jet_table(V.jets_of(delphes, radius))
    c = V.compare(o, r, n_boot=200, seed=1)
    # nearly every jet pairs: the same generator particles give the same GEN-jets
    assert c["n_pairs"] > 250 and c["n_pairs"] > 0.9 * min(c["n_fastsim"], c["n_delphes"])
    misses = {k: (round(c["ratio"][k], 4), round(c["error"][k], 4)) for k, target in V.TARGETS.items()
              if abs(c["ratio"][k] - 1) > target + 3 * c["error"][k]}
    assert not misses, f"fastsim/Delphes outside target + 3 sigma (ratio, sigma): {misses}"
    # impact parameters of the jet tracks (no target in the issue; 10% here)
    assert abs(c["ratio"]["d0"] - 1) < 0.10 and abs(c["ratio"]["dz"] - 1) < 0.10


def _eta_shift_slope(path):
    """Slope of sinh(Eta) - CtgTheta against the primary-vertex z for central charged candidates:
    1 / (1290 mm) when Eta is the calorimeter-hit eta (sinh eta_hit = sinh eta + z_PV / R), 0 for
    the momentum eta."""
    f = "ParticleFlowCandidate."
    a = uproot.open(path)["Delphes"].arrays([f + "Eta", f + "CtgTheta", f + "Charge", f + "PT", "Vertex.Z"])
    sel = (a[f + "Charge"] != 0) & (abs(a[f + "Eta"]) < 1.0) & (a[f + "PT"] > 1.0)
    d = ak.to_numpy(ak.flatten((np.sinh(a[f + "Eta"][sel]) - a[f + "CtgTheta"][sel])))
    z = ak.to_numpy(ak.flatten(ak.broadcast_arrays(a["Vertex.Z"][:, 0], a[f + "PT"])[0][sel]))
    return np.polyfit(z, d, 1)[0]


def test_charged_eta_convention_is_delphes_350(files):
    delphes, fast, momentum = files
    s_delphes, s_fast, s_momentum = (_eta_shift_slope(p) for p in files)
    assert s_delphes == pytest.approx(1 / 1290.0, rel=0.05)
    assert s_fast == pytest.approx(s_delphes, rel=0.05)
    assert abs(s_momentum) < 0.05 * s_delphes  # the option gives the momentum eta
    # in the ntuple: the primary-vertex z the stored constituent eta implies (as on the published jets)
    z = {}
    for name, path in (("delphes", delphes), ("fast", fast), ("momentum", momentum)):
        zj, rng, _ = V.pv_z_from_constituents(V.jets_of(path, 0.8))
        ok = np.isfinite(zj)
        assert ok.sum() > 100
        z[name] = (np.std(zj[ok]), np.median(rng[ok & (rng > 0)]))
    assert z["delphes"][0] == pytest.approx(53.0, rel=0.2)  # the card's vertex spread
    assert z["fast"][0] == pytest.approx(z["delphes"][0], rel=0.2) and z["fast"][1] < 1.0  # mm, one z per jet
    assert z["momentum"][0] < 1.0
    # the published-jet quantity sum(part_deta * pT) / jet_pt spreads alike
    rms = [np.std(V.jet_table(V.jets_of(p, 0.8))["S"]) for p in (delphes, fast, momentum)]
    assert rms[1] == pytest.approx(rms[0], rel=0.25) and rms[2] < 0.75 * rms[0]
