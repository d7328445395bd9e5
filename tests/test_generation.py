"""Embedded Pythia 8 generation: grids, seeds, cards, and the physics of the generated samples."""
import subprocess
import sys
from collections import Counter

import awkward as ak
import numpy as np
import pytest
from scipy.stats import chisquare

from generation import samples
from generation.madgraph import render_job_cards
from generation.pythia_driver import PythiaGenerator

FAST = ["PartonLevel:ISR = off", "PartonLevel:FSR = off", "PartonLevel:MPI = off", "HadronLevel:all = off"]  # hard process + decays


@pytest.fixture(scope="module")
def cfg():
    return samples.load_config()


def generate(cfg, point, n, seed=7, extra=(), relabel=None):
    cmds = samples.pythia_commands(cfg, point, seed) + list(extra)
    return ak.concatenate(list(PythiaGenerator(cmds, relabel=relabel).generate(n, batch_size=n)))


def test_grids_match_the_reference_production(cfg):
    m = samples.mass_grid(cfg)
    assert len(m) == 98 and m[0] == 15 and m[-1] == 500
    pt = samples.pt_grid(cfg)
    assert len(pt) == 50 and pt[0] == 100 and pt[-1] == 2499
    q = samples.qcd_pthat_grid(cfg)
    assert len(q) == 200 and q[0] == 100 and q[-1] == 5000
    assert np.allclose(q[1:] / q[:-1], 1.0198, atol=2e-4)
    assert samples.mass_y_grid(cfg, 100.0).max() < 50


def test_grid_points_are_deterministic_and_cover_the_grid(cfg):
    a = [samples.grid_point_for_job(cfg, "Res34P", j, 1) for j in range(200)]
    b = [samples.grid_point_for_job(cfg, "Res34P", j, 1) for j in range(200)]
    assert a == b
    assert a != [samples.grid_point_for_job(cfg, "Res34P", j, 2) for j in range(200)]
    for p in a:
        samples.validate_point(cfg, p)
        assert p.mass_y < p.mass / 2
    assert len({p.mass for p in a}) > 50


@pytest.mark.parametrize("point,message", [
    (samples.GridPoint("Res2P_neutral", mass=12.0, pt_min=100.0), "not on the mass grid"),
    (samples.GridPoint("Res2P_neutral", mass=125.0, pt_min=101.0), "not on the pT grid"),
    (samples.GridPoint("Res34P", mass=100.0, pt_min=100.0, mass_y=50.0, width_y=1.0), "m_Y < m_X/2"),
    (samples.GridPoint("QCD", pt_min=123.0), "not on the grid"),
])
def test_bad_grid_values_are_rejected(cfg, point, message):
    with pytest.raises(samples.GenerationConfigError, match=message):
        samples.validate_point(cfg, point)


@pytest.mark.parametrize("args,message", [
    (["--sample", "Res5P", "--events", "1"], "unknown sample"),
    (["--sample", "QCD", "--events", "-3"], "number of events"),
])
def test_cli_rejects_bad_input_before_generating(tmp_path, args, message):
    out = tmp_path / "x.root"
    r = subprocess.run([sys.executable, "-m", "fastsim.job", *args, "--job", "0", "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and message in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_rendered_madgraph_cards(cfg, tmp_path):
    files = render_job_cards("Res34P", 3, 1000, 1, tmp_path)
    p = samples.grid_point_for_job(cfg, "Res34P", 3, 1)
    launch = (tmp_path / "launch.dat").read_text().splitlines()
    expected = [
        "launch res34p", "shower=OFF", "done", "set pdlabel lhapdf", "set lhaid 315000", "set use_syst False",
        "set nevents 1000", f"set iseed {samples.job_seed(1, 'Res34P', 3, 'madgraph')}",
        f"set param_card mass 25 {p.mass}", f"set pt_min_pdg 25:{p.pt_min}",
        f"set param_card mass 37 {p.mass_y}", f"set param_card width 37 {p.width_y}",
        f"set param_card mass 35 {p.mass_y}", f"set param_card width 35 {p.width_y}", "done"]
    assert [line for line in launch if not line.startswith("#")] == expected
    proc = [line for line in (tmp_path / "proc_card.dat").read_text().splitlines() if not line.startswith("#")]
    assert proc == ["import model 2HDM_NLO", "generate p p > h1 h1", "output res34p"]
    shower = (tmp_path / "pythia8.cmnd").read_text().splitlines()
    assert "Beams:LHEF = unweighted_events.lhe" in shower and "Beams:frameType = 4" in shower
    assert "25:oneChannel = 1 0.5 100 37 -37" in shower and "35:addChannel = 1 0.2500 100 15 -15" in shower
    assert "37:addChannel = 1 0.25 100 -15 16" in shower
    assert sorted(p.name for p in files) == ["launch.dat", "proc_card.dat", "pythia8.cmnd"]


def test_charged_shower_card_decays_h_plus(tmp_path):
    render_job_cards("Res2P_charged", 0, 10, 1, tmp_path)
    shower = (tmp_path / "pythia8.cmnd").read_text().splitlines()
    channels = [ln for ln in shower if "Channel" in ln]
    assert len(channels) == 6 and all(ln.startswith("37:") for ln in channels)


def _x_decays(events, x_pid):
    modes = []
    for ev in events:
        pid, d1, d2 = (np.asarray(ev[f]) for f in ("PID", "D1", "D2"))
        xs = np.flatnonzero(np.abs(pid) == x_pid)
        x = xs[-1]  # last copy
        modes.append(tuple(sorted(abs(pid[d1[x]:d2[x] + 1]))))
    return Counter(modes)


def test_res2p_neutral_mass_pt_and_flat_decays(cfg):
    point = samples.GridPoint("Res2P_neutral", mass=125.0, pt_min=516.0)
    ev = generate(cfg, point, 400, extra=FAST)
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


def test_res2p_charged_is_relabelled_h_plus(cfg):
    point = samples.GridPoint("Res2P_charged", mass=80.0, pt_min=300.0)
    ev = generate(cfg, point, 300, extra=FAST, relabel={24: 37})
    assert ak.all(ak.sum(abs(ev.PID) == 24, axis=1) == 0)
    counts = _x_decays(ev, 37)
    assert set(counts) <= {(1, 2), (2, 3), (2, 5), (1, 4), (3, 4), (4, 5)}
    assert chisquare(np.array(list(counts.values()))).pvalue > 0.001 and len(counts) == 6


def test_res34p_y_decays(cfg):
    point = samples.GridPoint("Res34P", mass=200.0, pt_min=500.0, mass_y=40.0, width_y=0.01)
    ev = generate(cfg, point, 300, extra=FAST)
    yy = _x_decays(ev, 25)
    assert set(yy) == {(35, 35), (37, 37)}
    assert chisquare(list(yy.values())).pvalue > 0.001
    charged = _x_decays(ev[ak.any(abs(ev.PID) == 37, axis=1)], 37)
    assert (12, 11) not in charged and (11, 12) in charged and (15, 16) in charged


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
