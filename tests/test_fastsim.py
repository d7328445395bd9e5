"""Fast detector simulation: Delphes layout, pile-up, propagation, tracking, PUPPI, determinism, bad input."""
import awkward as ak
import fastjet
import numpy as np
import pytest
import uproot
from jetclass2.ntuplizer import process_file

from jetclass2.delphes_tree import COLLECTIONS, DelphesWriter
from jetclass2.fastsim.cli import main as fastsim_main
from jetclass2.fastsim.cli import resimulate
from jetclass2.fastsim.detector import SimulationInputError, Simulator, load_card, recentre
from jetclass2.fastsim.detector.propagation import propagate
from jetclass2.fastsim.detector.tracking import reconstruct_tracks
from jetclass2.generation.pileup_library import PileupLibraryError, build_pileup_library, load_pileup_library

HBB = "delphes/hbb_m125_pt500_200events.root"
SMALL = "delphes/res2p_higgs2p_10events.root"


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return build_pileup_library(tmp_path_factory.mktemp("pu") / "minbias.parquet", 150, seed=5)


@pytest.fixture(scope="module")
def hbb_particles(shared_dir):
    t = uproot.open(shared_dir / HBB)["Delphes"]
    fields = list(COLLECTIONS["Particle"])
    a = t.arrays([f"Particle.{f}" for f in fields] + ["Vertex.Z", "Vertex.T"], entry_stop=60)
    particles = ak.zip({f: a[f"Particle.{f}"] for f in fields})
    return recentre(particles, a["Vertex.Z"][:, 0], a["Vertex.T"][:, 0])


@pytest.fixture(scope="module")
def simulated(library, hbb_particles, tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "sim.root"
    sim = Simulator(pileup_library=library, seed=3)
    batches = [sim.process(hbb_particles[i:i + 30]) for i in range(0, 60, 30)]
    with DelphesWriter(out) as w:
        for b in batches:
            w.extend(b)
    return out, batches


def _leading_jet_pt(cands, eta_max=2.5):
    c = cands[(cands.PT > 0) & (np.abs(cands.Eta) < eta_max)]
    vec = ak.zip({"px": c.PT * np.cos(c.Phi), "py": c.PT * np.sin(c.Phi), "pz": c.PT * np.sinh(c.Eta), "E": c.E})
    jets = fastjet.ClusterSequence(vec, fastjet.JetDefinition(fastjet.antikt_algorithm, 0.8)).inclusive_jets(200.0)
    pt = np.hypot(jets.px, jets.py)
    return ak.to_numpy(ak.fill_none(ak.max(pt, axis=1), 0.0))


def test_layout_is_read_like_real_delphes(simulated, shared_dir):
    out, _ = simulated
    ours = uproot.open(out)["Delphes"]
    real = uproot.open(shared_dir / HBB)["Delphes"]
    for coll, fields in COLLECTIONS.items():
        assert f"{coll}_size" in ours
        for f in fields:
            assert f"{coll}.{f}" in ours and f"{coll}.{f}" in real
            assert ours[f"{coll}.{f}"].interpretation.content.from_dtype.kind == real[f"{coll}.{f}"].interpretation.content.from_dtype.kind
    jets = process_file(out)
    assert len(jets) > 30  # boosted H->bb: most events give a labelled AK8 jet
    assert np.mean(np.asarray(jets.jet_label) == 0) == 1.0  # all X_bb
    # the generator record keeps Delphes' mother/daughter indices
    part = ours.arrays(["Particle.M1", "Particle.D1", "Particle_size"])
    assert ak.all(part["Particle.M1"] < part["Particle_size"]) and ak.all(part["Particle.D1"] >= -1)


def test_pileup_vertices_poisson_and_spread(simulated):
    _, batches = simulated
    vtx = ak.concatenate([b["Vertex"] for b in batches])
    n_pu = ak.to_numpy(ak.num(vtx)) - 1
    assert abs(n_pu.mean() - 50) < 4 * np.sqrt(50 / len(n_pu))
    assert n_pu.std() > 3  # Poisson, not fixed
    z = ak.to_numpy(ak.flatten(vtx.Z))
    t = ak.to_numpy(ak.flatten(vtx.T))
    assert 45 < np.std(z) < 61  # card: 53 mm
    assert 130e-12 < np.std(t) < 190e-12  # card: 160 ps
    pv = ak.to_numpy(vtx.Z[:, 0])
    part = ak.concatenate([b["Particle"] for b in batches])
    final = part[part.Status == 1]
    # the hard-scatter record sits at the primary vertex
    assert np.allclose([np.median(ak.to_numpy(z)) for z in final.Z], pv, atol=1.0)


def test_charged_particles_bend_in_the_field():
    card = load_card()["magnetic_field"]
    pt = np.array([1.0, 1.0, 1.0, 0.3])
    q = np.array([1, -1, 0, 1])
    zero = np.zeros(4)
    prop = propagate(pt, zero, np.full(4, 0.5), zero, zero, zero, q, card)
    radius_m = pt[0] / (0.299792458 * card["bz_tesla"])
    bend = np.arcsin(card["radius_m"] / (2 * radius_m))
    # the hit's azimuth seen from the origin turns by half the bending angle
    assert prop["phi"][0] == pytest.approx(-bend, rel=1e-6) and prop["phi"][1] == pytest.approx(bend, rel=1e-6)
    assert prop["phi"][2] == 0 and prop["eta"][2] == pytest.approx(np.arcsinh(0.5))
    assert prop["inside"].all()
    # tracks from the beam line: no impact parameter, momentum phi unchanged at the closest approach
    assert np.allclose(prop["d0"], 0, atol=1e-9) and np.allclose(prop["phi_d"], 0, atol=1e-12)
    # a 0.3 GeV track curls inside the barrel and reaches an end cap at a much larger |eta|
    assert prop["eta"][3] > 1.5 and abs(prop["z_hit"][3]) == pytest.approx(card["half_length_m"] * 1e3)


def test_propagation_from_displaced_vertices():
    """Particles produced outside the tracker volume are dropped (Delphes' ParticlePropagator);
    displaced ones hit the calorimeter where their line or helix meets it, and a displaced
    track gets the impact parameter of its helix."""
    card = load_card()["magnetic_field"]
    r_mm, half_mm = card["radius_m"] * 1e3, card["half_length_m"] * 1e3
    # neutral, charged, neutral: inside (1 m), outside in r (1.3 m), outside in z (3.1 m)
    x = np.array([1000.0, 1300.0, 0.0])
    z = np.array([0.0, 0.0, 3100.0])
    prop = propagate(np.full(3, 10.0), np.zeros(3), np.zeros(3), x, np.zeros(3), z, np.array([0, 1, 0]), card)
    assert prop["inside"].tolist() == [True, False, False]
    # a photon from (0, 500 mm, 0) flying along +x hits the barrel at x = sqrt(R^2 - 500^2), z = 0
    prop = propagate(np.array([5.0]), np.zeros(1), np.array([5.0]), np.zeros(1), np.array([500.0]), np.zeros(1),
                     np.zeros(1), card)
    xh = np.sqrt(r_mm ** 2 - 500.0 ** 2)
    assert prop["z_hit"][0] == pytest.approx(xh) and prop["phi"][0] == pytest.approx(np.arctan2(500.0, xh))
    assert prop["eta"][0] == pytest.approx(np.arcsinh(xh / r_mm))
    # a 2 GeV positive track produced at (0, 50 mm, 0) along +x: its circle (centre below the
    # start, radius rho) passes the beam line at distance rho - (rho - 50) = 50 mm: d0 = +-50 mm
    rho = 2.0 / (0.299792458 * card["bz_tesla"]) * 1e3
    prop = propagate(np.array([2.0]), np.zeros(1), np.zeros(1), np.zeros(1), np.array([50.0]), np.zeros(1),
                     np.ones(1), card)
    assert abs(prop["d0"][0]) == pytest.approx(50.0, rel=1e-9)
    # closest approach where the circle's radius points at the origin: phi_d = 0, the start
    assert prop["phi_d"][0] == pytest.approx(0.0, abs=1e-12)
    # hit on the barrel where the circle centred at (0, 50 - rho) meets r = R
    yc = 50.0 - rho
    yh = (r_mm ** 2 - rho ** 2 + yc ** 2) / (2 * yc)
    assert np.hypot(*np.array([prop["z_hit"][0], 0.0])) == pytest.approx(0.0, abs=1e-9)
    assert np.sin(prop["phi"][0]) * r_mm == pytest.approx(yh, rel=1e-9)
    assert half_mm > 0


def test_tracking_efficiency_follows_the_card():
    rng = np.random.default_rng(1)
    tcard = load_card()["tracking"]
    fcard = load_card()["magnetic_field"]
    n = 20000
    eta = np.concatenate([np.full(n, 0.3), np.full(n, 0.5), np.full(n, 2.0), np.full(n, 3.0)])
    # 0.8 GeV: helix diameter 1.4 m, still reaches the barrel (0.5 GeV would curl onto an end cap)
    pt = np.concatenate([np.full(n, 5.0), np.full(n, 0.8), np.full(n, 5.0), np.full(n, 5.0)])
    m = 0.13957
    cols = {"PID": np.full(4 * n, 211.0), "Charge": np.ones(4 * n), "Px": pt, "Py": np.zeros(4 * n), "Pz": pt * np.sinh(eta),
            "X": np.zeros(4 * n), "Y": np.zeros(4 * n), "Z": np.zeros(4 * n), "T": np.zeros(4 * n)}
    cols["E"] = np.sqrt((pt * np.cosh(eta)) ** 2 + m * m)
    prop = propagate(cols["Px"], cols["Py"], cols["Pz"], cols["X"], cols["Y"], cols["Z"], cols["Charge"], fcard)
    idx, trk = reconstruct_tracks(rng, cols, tcard, prop)
    frac = np.bincount(idx // n, minlength=4) / n
    expected = [0.95, 0.70, 0.85, 0.0]
    assert np.allclose(frac, expected, atol=4 * np.sqrt(0.25 / n))
    sel = idx < n
    # TrackSmearing restores the generated momentum (resolution 0 in the card, as the real files show)
    assert np.all(trk["PT"] == pt[idx]) and np.all(trk["res"] == 0) and np.all(trk["ErrorPT"] == 0)
    # impact-parameter errors from the card's TrackSmearing table, D0 spread consistent with them
    assert np.all(trk["ErrorD0"][sel] > 0) and np.std(trk["D0"][sel] / trk["ErrorD0"][sel]) == pytest.approx(1.0, rel=0.05)
    # the track's calorimeter-hit eta is kept beside its momentum eta
    assert np.allclose(trk["Eta"], eta[idx]) and np.all(trk["HitEta"][sel] >= trk["Eta"][sel] - 1e-12)
    # pile-up tracks: smeared like the others (ApplyToPileUp, Delphes' default) ...
    ipu, pu = reconstruct_tracks(rng, cols, tcard, prop, is_pu=np.ones(4 * n, bool))
    assert np.all(pu["ErrorD0"][ipu < n] > 0) and np.all(pu["res"] == 0)
    # ... unless the card switches it off: no d0/dz smearing, zero errors, MomentumSmearing's resolution
    a, b = tcard["momentum_resolution"]["hadron"]["a"][0], tcard["momentum_resolution"]["hadron"]["b"][0]
    off = {**tcard, "track_smearing": {**tcard["track_smearing"], "apply_to_pileup": False}}
    ipu, pu = reconstruct_tracks(rng, cols, off, prop, is_pu=np.ones(4 * n, bool))
    assert np.all(pu["ErrorD0"] == 0) and np.all(pu["D0"] == 0) and np.all(pu["PT"] == pt[ipu])
    assert pu["res"][0] == pytest.approx(np.hypot(a, b * 5.0))
    # a card without TrackSmearing keeps MomentumSmearing's log-normal pT resolution (unbiased mean)
    plain = {**tcard, "track_smearing": {**tcard["track_smearing"], "from_generated_momentum": False}}
    idx, trk = reconstruct_tracks(rng, cols, plain, prop)
    rel = trk["PT"][idx < n] / 5.0 - 1
    assert np.std(rel) == pytest.approx(np.hypot(a, b * 5.0), rel=0.05)
    assert abs(np.mean(rel)) < 0.005


def test_chs_and_puppi_remove_pileup_keep_the_jets(simulated, library, hbb_particles):
    _, batches = simulated
    c = ak.concatenate([b["ParticleFlowCandidate"] for b in batches])
    vtx = ak.concatenate([b["Vertex"] for b in batches])
    charged = c[(c.Charge != 0) & (c.ErrorDZ > 0)]
    pull = ak.to_numpy(ak.flatten(np.abs(charged.DZ - vtx.Z[:, 0]) / charged.ErrorDZ))
    assert len(pull) > 1000 and np.median(pull) < 1.5  # surviving tracks come from the PV
    # compare with the generated hard-scatter final state of the same events
    gen = hbb_particles[(hbb_particles.Status == 1) & (np.abs(hbb_particles.PID) != 12)
                        & (np.abs(hbb_particles.PID) != 14) & (np.abs(hbb_particles.PID) != 16)]
    lib = load_pileup_library(library)
    lib = lib[(lib.Status == 1) & (np.abs(lib.Eta) < 2.5) & (np.abs(lib.PID) != 12) & (np.abs(lib.PID) != 14) & (np.abs(lib.PID) != 16)]
    pu_pt_per_event = ak.mean(ak.sum(lib.PT, axis=1)) * ak.mean(ak.num(vtx) - 1)
    central = lambda x: ak.to_numpy(ak.sum(x.PT[np.abs(x.Eta) < 2.5], axis=1))  # noqa: E731
    surviving = np.mean(central(c) - central(gen))
    # CHS + PUPPI remove most of the ~1.8 TeV of central pile-up pT per event: the candidates
    # carry about the hard-scatter pT (detector losses and pile-up remnants nearly cancel)
    assert abs(surviving) < 0.15 * pu_pt_per_event
    j, j0 = _leading_jet_pt(c), _leading_jet_pt(gen)
    ok = (j > 0) & (j0 > 0)
    assert ok.sum() > 40
    assert abs(np.median(j[ok] / j0[ok]) - 1) < 0.05  # the hard-scatter jets survive


def test_charged_eta_is_the_calorimeter_hit_by_default(library, hbb_particles):
    """Delphes 3.5.0 writes the calorimeter-hit eta of charged candidates in Eta and their momentum
    direction in CtgTheta; the option writes the momentum eta (as later Delphes versions)."""
    events = hbb_particles[:20]
    hit = Simulator(pileup_library=library, seed=4).process(events)
    mom = Simulator(pileup_library=library, seed=4, charged_eta="momentum").process(events)
    for out in (hit, mom):  # same random streams: the same candidates, only Eta differs
        assert ak.all(ak.num(out["ParticleFlowCandidate"]) == ak.num(hit["ParticleFlowCandidate"]))
    c, m = hit["ParticleFlowCandidate"], mom["ParticleFlowCandidate"]
    assert ak.all(c.CtgTheta == m.CtgTheta) and ak.all(c.PT == m.PT)
    z_pv = hit["Vertex"].Z[:, 0]
    hard = (c.Charge != 0) & (c.PT > 20) & (abs(c.Eta) < 1.0)  # straight tracks hitting the barrel
    shift = ak.to_numpy(ak.flatten((np.sinh(c.Eta) - c.CtgTheta)[hard]))
    zs = ak.to_numpy(ak.flatten(ak.broadcast_arrays(z_pv, c.PT)[0][hard]))
    # sinh(eta_hit) = sinh(eta) + z_PV / R, up to bending and PUPPI's rapidity rebuild (< 5e-4 here)
    # and the displacement of b- and c-hadron decay products (a few tracks)
    res = np.abs(shift - zs / 1290.0)
    assert len(shift) > 50 and np.std(zs / 1290.0) > 0.01 and np.median(res) < 1e-4 and np.mean(res < 5e-4) > 0.9
    good = (m.PT > 0)
    assert np.allclose(ak.to_numpy(ak.flatten(m.Eta[good])), np.arcsinh(ak.to_numpy(ak.flatten(m.CtgTheta[good]))),
                       atol=1e-5)
    neutral = c.Charge == 0  # towers: the same position in both
    assert ak.all(c.Eta[neutral] == m.Eta[neutral])
    with pytest.raises(SimulationInputError, match="charged_eta"):
        Simulator(pileup_library=library, seed=4, charged_eta="hit")


def test_particles_produced_outside_the_tracker_leave_nothing():
    """A photon and a pion produced beyond the tracker radius (late K0S decay products) are
    dropped, as by Delphes' ParticlePropagator; the same particles produced inside are seen."""
    def event(r_mm):
        n = 2
        rec = {"PID": [22, 211], "Status": [1, 1], "Charge": [0, 1], "Px": [50.0, 50.0], "Py": [0.0, 1.0],
               "Pz": [10.0, 10.0], "X": [r_mm, r_mm], "Y": [0.0, 0.0], "Z": [0.0, 0.0], "T": [0.0, 0.0]}
        rec["E"] = [np.sqrt(50.0 ** 2 + 10.0 ** 2), np.sqrt(50.0 ** 2 + 1 + 10.0 ** 2 + 0.1396 ** 2)]
        for f in ("IsPU", "M1", "M2", "D1", "D2"):
            rec[f] = [0] * n
        for f in ("Mass", "P", "PT", "Eta", "Phi", "Rapidity"):
            rec[f] = [0.0] * n
        return ak.zip({k: ak.Array([v]) for k, v in rec.items()})
    sim = Simulator(mean_pileup=0, seed=1)
    out_in, out_out = sim.process(event(500.0)), sim.process(event(1300.0))
    assert ak.num(out_in["ParticleFlowCandidate"]).tolist() == [2]
    assert ak.num(out_out["ParticleFlowCandidate"]).tolist() == [0]


def test_same_seed_same_output(library, hbb_particles):
    a = Simulator(pileup_library=library, seed=9).process(hbb_particles[:5])
    b = Simulator(pileup_library=library, seed=9).process(hbb_particles[:5])
    c = Simulator(pileup_library=library, seed=10).process(hbb_particles[:5])
    for coll in ("ParticleFlowCandidate", "Vertex"):
        for f in a[coll].fields:
            assert ak.all(ak.flatten(a[coll][f]) == ak.flatten(b[coll][f]))
    assert ak.num(a["Vertex"]).tolist() != ak.num(c["Vertex"]).tolist() or not ak.all(
        ak.num(a["ParticleFlowCandidate"]) == ak.num(c["ParticleFlowCandidate"]))


def test_bad_inputs(library, hbb_particles, tmp_path):
    bad = ak.with_field(hbb_particles[:2], hbb_particles[:2].Px * np.nan, "Px")
    with pytest.raises(SimulationInputError, match="non-finite Px"):
        Simulator(pileup_library=library, seed=1).process(bad)
    with pytest.raises(SimulationInputError, match="lacks fields"):
        Simulator(pileup_library=library, seed=1).process(ak.without_field(hbb_particles[:2], "Charge"))
    with pytest.raises(PileupLibraryError, match="not found"):
        Simulator(pileup_library=tmp_path / "missing.parquet", seed=1)
    small = tmp_path / "small.parquet"
    ak.to_parquet(load_pileup_library(library)[:3], small)
    with pytest.raises(SimulationInputError, match="at least 10 needed"):
        Simulator(pileup_library=small, seed=1)
    with pytest.raises(SimulationInputError, match="pile-up library is needed"):
        Simulator(pileup_library=None, seed=1)
    # events without final-state particles, and events without any particle, are kept, empty
    sim = Simulator(pileup_library=library, seed=1)
    no_final = hbb_particles[:3][hbb_particles[:3].Status == 999]
    out = sim.process(ak.concatenate([no_final, hbb_particles[3:4]]))
    n = ak.num(out["ParticleFlowCandidate"]).tolist()
    assert len(n) == 4 and n[3] > 50 and sim.n_without_final_state == 3
    # pile-up only: PUPPI finds no primary-vertex reference and keeps few neutrals
    assert max(n[:3]) < n[3]
    out = Simulator(pileup_library=library, seed=1, mean_pileup=0).process(no_final)
    assert ak.num(out["ParticleFlowCandidate"]).tolist() == [0, 0, 0]


def test_cli_end_to_end_and_errors(library, shared_dir, tmp_path, capsys):
    out = tmp_path / "out.root"
    assert fastsim_main([str(shared_dir / SMALL), "-o", str(out), "--pileup-library", str(library), "--seed", "4", "-q"]) == 0
    t = uproot.open(out)["Delphes"]
    assert t.num_entries == uproot.open(shared_dir / SMALL)["Delphes"].num_entries
    assert ak.all(t["ParticleFlowCandidate_size"].array() > 0)
    bad = tmp_path / "bad.root"
    bad.write_bytes(b"not a root file")
    assert fastsim_main([str(bad), "-o", str(tmp_path / "x.root"), "--pileup-library", str(library), "-q"]) != 0
    assert "bad.root" in capsys.readouterr().err
    assert not (tmp_path / "x.root").exists()
    assert fastsim_main([str(shared_dir / SMALL), "-o", str(tmp_path / "y.root"), "--pileup-library",
                         str(tmp_path / "none.parquet"), "-q"]) != 0
    assert not (tmp_path / "y.root").exists()


def test_jets_agree_with_real_delphes_on_the_same_events(library, shared_dir, tmp_path):
    """The validation targets on the 200 H->bb events: the same jets, re-simulated, agree with
    Delphes' jets (pT within 3%, soft-drop mass within 5%, multiplicity within 15%, medians)."""
    out = tmp_path / "sim.root"
    resimulate(shared_dir / HBB, out, Simulator(pileup_library=library, seed=11), batch=100)
    ours, real = process_file(out), process_file(shared_dir / HBB)
    # same generator record, hence the same GEN-jets: they pair the jets of both simulations
    ko, kr = np.round(ak.to_numpy(ours.genjet_pt), 2), np.round(ak.to_numpy(real.genjet_pt), 2)
    common, io, ir = np.intersect1d(ko, kr, return_indices=True)
    assert len(common) > 150
    o, r = ours[io], real[ir]
    assert abs(np.median(ak.to_numpy(o.jet_pt / r.jet_pt)) - 1) < 0.03
    heavy = ak.to_numpy(r.genjet_sdmass) > 20  # the same jets in both (a cut on one side's mass biases the ratio)
    assert abs(np.median(ak.to_numpy(o.jet_sdmass / r.jet_sdmass)[heavy]) - 1) < 0.05
    assert abs(np.median(ak.to_numpy(o.jet_nparticles / r.jet_nparticles)) - 1) < 0.15
    resp = lambda j: np.median(ak.to_numpy(j.jet_pt / j.genjet_pt))  # noqa: E731
    assert abs(resp(ours) / resp(real) - 1) < 0.03
