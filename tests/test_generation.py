"""Embedded Pythia 8 generation: grids, cards, the record conversion, and the physics of the samples."""
from collections import Counter

import awkward as ak
import numpy as np
import pytest
from scipy.stats import chisquare, kstest

from jetclass2.generation import samples
from jetclass2.generation.madgraph import render_job_cards
from jetclass2.generation.pythia_driver import PythiaGenerator

FAST = ["PartonLevel:ISR = off", "PartonLevel:FSR = off", "PartonLevel:MPI = off", "HadronLevel:all = off"]  # hard process + decays


@pytest.fixture(scope="module")
def cfg():
    return samples.load_config()


def generate(cfg, point, n, seed=7, extra=(), options=None):
    cmds = samples.pythia_commands(cfg, point, seed) + list(extra)
    opts = samples.generator_options(cfg, point.sample) if options is None else options
    return ak.concatenate(list(PythiaGenerator(cmds, **opts).generate(n, batch_size=n)))


def test_grids_match_the_reference_production(cfg):
    m = samples.mass_grid(cfg)
    assert len(m) == 98 and m[0] == 15 and m[-1] == 500
    pt = samples.pt_grid(cfg)
    assert len(pt) == 50 and pt[0] == 100 and pt[-1] == 2499
    q = samples.qcd_pthat_grid(cfg)
    # the reference's py8_params.dat: the 200-point log grid 100..5000 GeV written with one decimal
    assert len(q) == 200 and q[0] == 100 and q[-1] == 5000 and q[1] == 102.0 and q[3] == 106.1
    assert np.all(np.abs(q - np.geomspace(100, 5000, 200)) <= 0.05 + 1e-9)
    assert np.allclose(np.round(q, 1), q)
    # nominal m_Y = ratio x m_X (ratios 0.05..0.925 in steps of 0.025), at least 10 GeV: above m_X/2 too
    g = samples.mass_y_grid(cfg, 230.0)
    assert g.min() == 11.5 and g.max() == 212.75 and 92.0 in g and np.mean(g > 115) > 0.4
    assert samples.mass_y_grid(cfg, 100.0).min() == 10.0 and np.allclose(samples.width_y_values(cfg, 92.0), [1.84])
    assert samples.y_mass_max(cfg, 92.0, 1.84) == 92.0 + 5 * 1.84 and samples.y_mass_max(cfg, 20.0, 4.0) == 30.0


def test_samples_are_data(cfg):
    assert samples.sample_names(cfg) == ["Res2P_neutral", "Res2P_charged", "Res34P", "QCD"]
    assert [samples.category_of(cfg, s) for s in samples.sample_names(cfg)] == ["Res2P", "Res2P", "Res34P", "QCD"]
    assert samples.relabel_of(cfg, "Res2P_charged") == {}
    with pytest.raises(samples.GenerationConfigError, match="unknown sample 'Res5P'"):
        samples.category_of(cfg, "Res5P")


@pytest.mark.parametrize("point,message", [
    (samples.GridPoint("Res2P_neutral", mass=12.0, pt_min=100.0), "not on the mass grid"),
    (samples.GridPoint("Res2P_neutral", mass=125.0, pt_min=101.0), "not on the pT grid"),
    (samples.GridPoint("Res34P", mass=100.0, pt_min=100.0, mass_y=100.0, width_y=2.0), "m_Y < m_X"),
    (samples.GridPoint("Res34P", mass=100.0, pt_min=100.0, mass_y=12.0, width_y=1.0), "not on the Y mass grid"),
    (samples.GridPoint("Res34P", mass=100.0, pt_min=100.0, mass_y=10.0, width_y=0.5), "not on the Y width grid"),
    (samples.GridPoint("QCD", pt_min=123.0), "not on the grid"),
])
def test_bad_grid_values_are_rejected(cfg, point, message):
    with pytest.raises(samples.GenerationConfigError, match=message):
        samples.validate_point(cfg, point)


# ---- the record conversion -------------------------------------------------------------------

def _accessor_record(pythia):
    """The generator record of Pythia's current event read through its per-particle accessors (the oracle)."""
    ev = pythia.event
    rows = []
    for i in range(1, ev.size()):
        p = ev[i]
        v = (p.tProd(), p.xProd(), p.yProd(), p.zProd()) if p.hasVertex() else (0.0, 0.0, 0.0, 0.0)
        rows.append((p.id(), p.statusHepMC(), p.mother1() - 1, p.mother2() - 1, p.daughter1() - 1, p.daughter2() - 1,
                     int(p.charge()), p.m(), p.e(), p.px(), p.py(), p.pz(), p.pAbs(), p.pT(), p.eta(), p.phi(), p.y(),
                     v[0] / 2.99792458e11, v[1], v[2], v[3]))
    a = np.array(rows, dtype=np.float64)
    names = ("PID", "Status", "M1", "M2", "D1", "D2", "Charge", "Mass", "E", "Px", "Py", "Pz", "P", "PT", "Eta", "Phi",
             "Rapidity", "T", "X", "Y", "Z")
    return {n: a[:, k] for k, n in enumerate(names)}


@pytest.mark.parametrize("point", [
    samples.GridPoint("Res2P_neutral", mass=125.0, pt_min=516.0),
    samples.GridPoint("Res2P_charged", mass=80.0, pt_min=516.0),
    samples.GridPoint("Res34P", mass=200.0, pt_min=516.0, mass_y=40.0, width_y=0.8),
    samples.GridPoint("QCD", pt_min=325.3),
])
def test_batch_conversion_matches_pythia_accessors(cfg, point):
    """The bulk conversion (nextBatch + numpy) equals Pythia's own per-particle answers on the same events."""
    gen = PythiaGenerator(samples.pythia_commands(cfg, point, 5), **samples.generator_options(cfg, point.sample))
    gen.final_only = False
    for _ in range(3):
        rec = gen._convert(gen.pythia.nextBatch(1))[0]  # pythia.event still holds this event
        ref = _accessor_record(gen.pythia)
        assert len(rec) == len(ref["PID"]) > 100
        for f in ("PID", "Status", "M1", "M2", "D1", "D2", "Charge"):
            assert np.array_equal(ak.to_numpy(rec[f]), ref[f].astype(np.int32)), f
        # Delphes' +-999.9 where eta (rapidity) is undefined, along the beam (pT = 0, E <= |pz|); Pythia
        # caps its values near the beam differently, so compare where both are finite numbers
        undefined = {"Eta": ref["PT"] == 0, "Rapidity": ref["E"] <= np.abs(ref["Pz"])}
        for f in ("Mass", "E", "Px", "Py", "Pz", "P", "PT", "Eta", "Phi", "Rapidity", "T", "X", "Y", "Z"):
            mine, want = ak.to_numpy(rec[f]).astype(np.float64), ref[f]
            bad = undefined.get(f, np.zeros(len(want), bool))
            sel = ~bad & (np.abs(want) < 20 if f in undefined else True)
            np.testing.assert_allclose(mine[sel], want[sel], rtol=2e-6, atol=1e-30 if f == "T" else 1e-5, err_msg=f)
            assert np.all(np.abs(mine[bad]) == np.float32(999.9)), f
        assert set(np.unique(ak.to_numpy(rec.Status))) >= {1, 2}
    # the pile-up library's final-state-only record is the final-state part of the full one
    gen.final_only = True
    final = gen._convert(gen.pythia.nextBatch(2))
    gen.final_only = False
    assert ak.all(final.Status == 1) and ak.all(final.M1 == -1)


def test_hard_process_pdf_in_every_batch(cfg):
    """Resonant samples: hard process with NNPDF3.1 LO (built-in set 18 = LHAPDF 315000), also after re-inits."""
    import pythia8mc

    ref = pythia8mc.Pythia("", False)
    pdf = {}
    for pset in (13, 18, 20):
        ref.readString(f"PDF:pSet = {pset}")
        pdf[pset] = ref.getPDFPtr(2212, 1, "A")

    def check(gen, pset, other):
        for _ in range(3):
            assert gen.pythia.next()
            info = gen.pythia.infoPython()
            args = (info.id1(), info.x1(), info.Q2Fac())
            assert info.pdf1() == pytest.approx(pdf[pset].xf(*args), rel=1e-9)
            assert info.pdf1() != pytest.approx(pdf[other].xf(*args), rel=1e-3)

    batches = samples.job_batches(cfg, "Res2P_neutral", 0, 3, 1, 1)
    gen = None
    for b in batches:
        cmds = samples.pythia_commands(cfg, b.point, b.pythia_seed) + FAST
        if gen is None:
            gen = PythiaGenerator(cmds, **samples.generator_options(cfg, "Res2P_neutral"))
        else:
            gen.configure(cmds)
        check(gen, 18, 13)
    assert gen.n_init == 3
    qcd = PythiaGenerator(samples.pythia_commands(cfg, samples.GridPoint("QCD", pt_min=325.3), 3) + FAST)
    check(qcd, 20, 13)


# ---- physics of the samples ------------------------------------------------------------------

def _x_decays(events, x_pid, signed=False):
    """Decay modes (sorted |PDG| of the daughters) of the last copy of X (of each of +-X with ``signed``)."""
    modes = []
    for ev in events:
        pid, d1, d2 = (np.asarray(ev[f]) for f in ("PID", "D1", "D2"))
        for match in ([pid == x_pid, pid == -x_pid] if signed else [np.abs(pid) == x_pid]):
            x = np.flatnonzero(match)[-1]
            modes.append(tuple(sorted(abs(pid[d1[x]:d2[x] + 1]))))
    return Counter(modes)


def test_res2p_neutral_mass_pt_and_flat_decays(cfg):
    point = samples.GridPoint("Res2P_neutral", mass=125.0, pt_min=516.0)
    ev = generate(cfg, point, 1000, extra=FAST)
    x = ev[ev.PID == 25]
    mass = ak.to_numpy(x.Mass[:, -1])
    assert np.all(np.abs(mass - 125) < 0.2 * 125)
    assert np.median(ak.to_numpy(x.PT[:, -1])) >= 516
    counts = _x_decays(ev, 25)
    table = {(5, 5): 0.125, (4, 4): 0.125, (3, 3): 0.125, (2, 2): 0.0625, (1, 1): 0.0625, (21, 21): 0.125,
             (11, 11): 0.0625, (13, 13): 0.0625, (15, 15): 0.25}
    assert set(counts) <= set(table)
    obs = np.array([counts.get(k, 0) for k in table])
    assert chisquare(obs, np.array(list(table.values())) * obs.sum()).pvalue > 0.001


def test_res2p_charged_is_a_scalar_h_plus_pair(cfg):
    point = samples.GridPoint("Res2P_charged", mass=80.0, pt_min=300.0)
    ev = generate(cfg, point, 300, extra=FAST)
    hard = ev[ev.Status == 22]
    # one H+ and one H- per event, both above pT_min, with the grid point's mass
    assert ak.all(ak.sum(hard.PID == 37, axis=1) == 1) and ak.all(ak.sum(hard.PID == -37, axis=1) == 1)
    assert ak.all(ak.num(hard) == 2) and ak.all(hard.PT > 300 * 0.999)
    assert np.allclose(ak.to_numpy(ak.flatten(hard.Mass)), 80.0, atol=0.5)
    assert ak.all(ak.sum(abs(ev.PID) == 24, axis=1) == 0)
    counts = _x_decays(ev, 37, signed=True)
    assert set(counts) == {(1, 2), (2, 3), (2, 5), (1, 4), (3, 4), (4, 5)}
    assert chisquare(np.array(list(counts.values()))).pvalue > 0.001


def _cos_theta_star(events, x_pid):
    """cos of the angle between a decay quark (the first daughter) in the X rest frame and the X direction."""
    out = []
    for ev in events:
        pid, d1 = np.asarray(ev.PID), np.asarray(ev.D1)
        p4 = np.stack([np.asarray(ev[f], dtype=np.float64) for f in ("E", "Px", "Py", "Pz")], axis=1)
        for x in np.flatnonzero(np.abs(pid) == x_pid):
            d = d1[x]
            if d < 0 or abs(pid[d]) > 5:
                continue  # not the decaying copy
            e, p = p4[x, 0], p4[x, 1:]
            beta = p / e
            b2 = beta @ beta
            gamma = 1 / np.sqrt(1 - b2)
            q = p4[d]
            bp = beta @ q[1:]
            q_rest = q[1:] + ((gamma - 1) * bp / b2 - gamma * q[0]) * beta
            out.append(q_rest @ p / (np.linalg.norm(q_rest) * np.linalg.norm(p)))
    return np.array(out)


def test_h_plus_decay_is_isotropic_and_a_w_stand_in_is_not(cfg):
    point = samples.GridPoint("Res2P_charged", mass=80.0, pt_min=300.0)
    cos_h = _cos_theta_star(generate(cfg, point, 600, extra=FAST), 37)
    assert len(cos_h) >= 1000
    assert kstest(cos_h, "uniform", args=(-1, 2)).pvalue > 0.01
    # the former stand-in: a W (vector) with X's mass and decays, from q qbar -> W g, q g -> W q
    w_card = ["WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on", "PhaseSpace:pTHatMin = 300",
              "24:m0 = 80", "24:mMin = 64", "24:mMax = 96", "24:onMode = off", "24:oneChannel = 1 0.5 100 2 -1",
              "24:addChannel = 1 0.5 100 4 -3"]
    common = samples.render_card("cards/pythia/common.cmnd", {"sqrt_s": 13000, "seed": 7})
    w = ak.concatenate(list(PythiaGenerator(common + w_card + FAST).generate(1000, batch_size=1000)))
    cos_w = _cos_theta_star(w, 24)
    assert len(cos_w) >= 1000
    assert kstest(cos_w, "uniform", args=(-1, 2)).pvalue < 0.01


def test_res34p_y_decays_and_off_shell_tail(cfg):
    point = samples.GridPoint("Res34P", mass=100.0, pt_min=500.0, mass_y=45.0, width_y=0.9)
    ev = generate(cfg, point, 400, extra=FAST)
    yy = _x_decays(ev, 25)
    assert set(yy) == {(35, 35), (37, 37)}
    assert chisquare(list(yy.values())).pvalue > 0.001
    charged = _x_decays(ev[ak.any(abs(ev.PID) == 37, axis=1)], 37)
    assert (12, 11) not in charged and (11, 12) in charged and (15, 16) in charged
    # Y masses: the reference's window, m0 + min(5 widths, m0/2) above (Pythia's SLHA default) and a long
    # Breit-Wigner tail below (mMin = 1e-6, Higgs:clipWings at m0 - 50 widths)
    y = ev[(abs(ev.PID) == 35) | (abs(ev.PID) == 37)]
    m_y = ak.to_numpy(ak.flatten(y.Mass))
    assert np.all(m_y <= 45 + 5 * 0.9 + 1e-3) and np.max(m_y) > 45 + 2 * 0.9
    assert np.sum(m_y < 45 - 5 * 0.9) >= 5 and np.all(m_y >= 45 - 50 * 0.9 - 1e-3)


def test_same_seed_same_events_full_chain(cfg):
    point = samples.GridPoint("QCD", pt_min=float(samples.qcd_pthat_grid(cfg)[50]))
    a = generate(cfg, point, 3, seed=11)
    b = generate(cfg, point, 3, seed=11)
    c = generate(cfg, point, 3, seed=12)
    assert ak.all(a.PID == b.PID) and ak.all(a.Px == b.Px)
    assert not (ak.num(a).tolist() == ak.num(c).tolist() and ak.all(ak.flatten(a.Px) == ak.flatten(c.Px)))
    hard = a[(a.Status == 23)]
    assert ak.all(ak.num(hard) >= 2)
    assert ak.all(ak.max(hard.PT, axis=1) > point.pt_min * 0.99)


# ---- container path cards --------------------------------------------------------------------

def _lines(path):
    return [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]


def test_rendered_madgraph_cards(cfg, tmp_path):
    files = render_job_cards("Res34P", 3, 250, 1, tmp_path)
    batches = samples.job_batches(cfg, "Res34P", 3, 250, 1)
    assert sorted(p.name for p in files) == ["gridpoints.json", "proc_card.dat", "proc_card_reference.dat"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch_0000", "batch_0001", "batch_0002", "gridpoints.json", "proc_card.dat",
                                                          "proc_card_reference.dat"]
    # p p > h1 h1 without its zero sub-processes; the reference's own card beside it (its random-number offsets)
    assert _lines(tmp_path / "proc_card.dat") == ["set run_mode 0", "set nb_core 1", "import model 2HDM", "define q2hdm = c s c~ s~",
                                                 "generate q2hdm q2hdm > h1 h1", "output res34p"]
    assert _lines(tmp_path / "proc_card_reference.dat") == ["set run_mode 0", "set nb_core 1", "import model 2HDM",
                                                           "generate p p > h1 h1", "output res34p_reference"]
    for b in batches:
        p = b.point
        d = tmp_path / f"batch_{b.index:04d}"
        assert _lines(d / "launch.dat") == [
            "launch res34p", "shower=OFF", "done", "set pdlabel lhapdf", "set lhaid 315000", "set use_syst False",
            f"set nevents {b.events}", f"set iseed {b.madgraph_seed}",
            f"set param_card mass 25 {p.mass}", f"set pt_min_pdg 25:{p.pt_min}",
            f"set param_card mass 37 {p.mass_y}", f"set param_card width 37 {p.width_y}",
            f"set param_card mass 35 {p.mass_y}", f"set param_card width 35 {p.width_y}", "done"]
        shower = _lines(d / "pythia8.cmnd")
        assert shower[:5] == ["Beams:frameType = 4", "Beams:LHEF = unweighted_events.lhe", f"Main:numberOfEvents = {b.events}",
                              "Random:setSeed = on", f"Random:seed = {b.pythia_seed}"]
        assert "25:oneChannel = 1 0.5 100 37 -37" in shower and "35:addChannel = 1 0.2500 100 15 -15" in shower
        assert "37:addChannel = 1 0.25 100 -15 16" in shower and "35:mMin = 0.000001" in shower
        assert f"35:m0 = {p.mass_y}" in shower and f"37:mWidth = {p.width_y}" in shower
    assert [b.events for b in batches] == [100, 100, 50]


@pytest.mark.parametrize("sample,model,defines,process", [
    ("Res2P_neutral", "heft-no_b_mass", ["define p = p b b~", "define j = j b b~"], "p p > h h"),
    ("Res2P_charged", "2HDM", [], "p p > h+ h-"),
])
def test_res2p_madgraph_cards_as_the_reference(tmp_path, sample, model, defines, process):
    render_job_cards(sample, 0, 100, 1, tmp_path, pdf="builtin")
    # Res2P charged: the reference's card is rendered beside the production's, which leaves out its zero sub-processes
    card, out = ("proc_card.dat", sample.lower()) if sample == "Res2P_neutral" else ("proc_card_reference.dat", f"{sample.lower()}_reference")
    assert _lines(tmp_path / card) == ["set run_mode 0", "set nb_core 1", f"import model {model}", *defines,
                                       f"generate {process}", f"output {out}"]
    if sample == "Res2P_charged":
        lines = _lines(tmp_path / "proc_card.dat")
        assert [ln for ln in lines if ln.startswith(("generate", "add process"))] == [
            "generate uq uq > h+ h- @1", "add process dq dq > h+ h- @1", "add process cq cq > h+ h- @1", "add process sq sq > h+ h- @1"]
    launch = _lines(tmp_path / "batch_0000" / "launch.dat")
    assert "set pdlabel nn23lo1" in launch and not any("lhaid" in ln for ln in launch)
    x = 25 if sample == "Res2P_neutral" else 37
    assert any(ln.startswith(f"set param_card mass {x} ") for ln in launch)
    channels = [ln for ln in _lines(tmp_path / "batch_0000" / "pythia8.cmnd") if "Channel" in ln]
    assert len(channels) == (9 if x == 25 else 6) and all(ln.startswith(f"{x}:") for ln in channels)


def test_qcd_container_cards_are_pythia_only(cfg, tmp_path):
    files = render_job_cards("QCD", 2, 150, 1, tmp_path)
    assert [p.name for p in files] == ["gridpoints.json"]
    batches = samples.job_batches(cfg, "QCD", 2, 150, 1)
    for b in batches:
        d = tmp_path / f"batch_{b.index:04d}"
        assert sorted(p.name for p in d.iterdir()) == ["pythia8.cmnd"]
        card = _lines(d / "pythia8.cmnd")
        for line in ("HardQCD:all = on", f"PhaseSpace:pTHatMin = {b.point.pt_min}", f"Main:numberOfEvents = {b.events}",
                     "Main:timesAllowErrors = 10000", "Random:setSeed = on", f"Random:seed = {b.pythia_seed}",
                     "PDF:pSet = LHAPDF6:NNPDF31_nnlo_as_0118_mc_hessian_pdfas"):
            assert line in card
