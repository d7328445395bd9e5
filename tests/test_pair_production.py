"""Embedded X pairs (jetclass2/generation/processes.py): two X above pT_min from the right initial state,
determinism, and the angular distribution against |M|^2 (itself checked by an explicit Dirac trace)."""
import awkward as ak
import numpy as np
import pytest
from scipy.stats import kstest

from jetclass2.generation import processes, samples
from jetclass2.generation.pythia_driver import PythiaGenerator

FAST = ["PartonLevel:ISR = off", "PartonLevel:FSR = off", "PartonLevel:MPI = off", "HadronLevel:all = off"]
POINTS = {
    "Res2P_neutral": samples.GridPoint("Res2P_neutral", mass=125.0, pt_min=483.0),
    "Res34P": samples.GridPoint("Res34P", mass=125.0, pt_min=483.0, mass_y=30.0, width_y=1.0),
}


@pytest.fixture(scope="module")
def cfg():
    return samples.load_config()


@pytest.fixture(scope="module")
def events(cfg):
    out = {}
    for name, point in POINTS.items():
        gen = PythiaGenerator(samples.pythia_commands(cfg, point, 3) + FAST, **samples.generator_options(cfg, name))
        out[name] = ak.concatenate(list(gen.generate(1500, batch_size=500)))
    return out


@pytest.mark.parametrize("name", list(POINTS))
def test_two_x_above_pt_min_from_the_reference_initial_state(events, name):
    ev, point = events[name], POINTS[name]
    x = ev[(ev.PID == 25) & (ev.Status == 22)]
    assert ak.all(ak.num(x) == 2)
    assert ak.min(x.PT) >= point.pt_min * (1 - 1e-5)
    # back to back in the transverse plane, as a 2 -> 2 without ISR
    assert np.allclose(ak.to_numpy(ak.sum(x.Px, axis=1)), 0, atol=1e-2 * point.pt_min)
    incoming = ak.to_numpy(ev.PID[ev.Status == 21])
    assert incoming.shape == (len(ev), 2)
    if name == "Res2P_neutral":
        assert np.all(incoming == 21)
    else:  # q qbar of one flavour, mostly c cbar as MadGraph's 2HDM (97 %)
        assert np.all(incoming[:, 0] == -incoming[:, 1])
        flavours = np.abs(incoming[:, 0])
        assert set(flavours) <= {3, 4} and np.mean(flavours == 4) > 0.9


@pytest.mark.parametrize("name", list(POINTS))
def test_same_seed_same_pairs(cfg, name):
    point = POINTS[name]

    def run(seed):
        gen = PythiaGenerator(samples.pythia_commands(cfg, point, seed) + FAST, **samples.generator_options(cfg, name))
        return ak.concatenate(list(gen.generate(20, batch_size=20)))

    a, b, c = run(5), run(5), run(6)
    assert ak.all(a.PID == b.PID) and ak.all(a.Px == b.Px)
    xa, xc = a[(a.PID == 25) & (a.Status == 22)], c[(c.PID == 25) & (c.Status == 22)]
    assert not np.array_equal(ak.to_numpy(xa.Px), ak.to_numpy(xc.Px))


def _dirac():
    s = [np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.array([[1, 0], [0, -1]])]
    z, one = np.zeros((2, 2)), np.eye(2)
    g0 = np.block([[one, z], [z, -one]]).astype(complex)
    gs = [np.block([[z, si], [-si, z]]).astype(complex) for si in s]
    g5 = np.block([[z, one], [one, z]]).astype(complex)
    return [g0, *gs], g5


def _slash(g, p):
    return g[0] * p[0] - g[1] * p[1] - g[2] * p[2] - g[3] * p[3]


def test_qqbar_me2_equals_the_dirac_trace(cfg):
    """The analytic |M|^2 of q qbar -> S S against the spin sum Tr[p2 G p1 Gbar] with explicit gamma matrices."""
    g, g5 = _dirac()
    pl, pr = (np.eye(4) - g5) / 2, (np.eye(4) + g5) / 2
    card = processes.load_card(samples.embedded_mode(cfg, "Res34P")["process_card"])
    rng = np.random.default_rng(1)
    for spec in card["flavours"].values():
        exch = [(float(e["mass"]), tuple(processes._complex(v) for v in e["vertex_in"]),
                 tuple(processes._complex(v) for v in e["vertex_out"])) for e in spec["exchange"]]
        # scale up the top-exchange couplings and give every s-channel scalar a mass, so all terms count
        exch = [(m, tuple(3 * a for a in vin), vout) if m > 100 else (m, vin, vout) for m, vin, vout in exch]
        sch = [(80.0 + 50 * i, 5.0, tuple(processes._complex(v) for v in e["vertex_qq"]), processes._complex(e["coupling_ss"]))
               for i, e in enumerate(spec["s_channel"])]
        for _ in range(5):
            m3 = 125.0
            rs = rng.uniform(300, 3000)
            cos = rng.uniform(-1, 1)
            pstar = np.sqrt(rs ** 2 / 4 - m3 ** 2)
            sin = np.sqrt(1 - cos ** 2)
            p1, p2 = np.array([rs / 2, 0, 0, rs / 2]), np.array([rs / 2, 0, 0, -rs / 2])
            k1 = np.array([rs / 2, pstar * sin, 0, pstar * cos])
            k2 = p1 + p2 - k1
            mink = np.diag([1, -1, -1, -1])
            s, t, u = rs ** 2, (p1 - k1) @ mink @ (p1 - k1), (p1 - k2) @ mink @ (p1 - k2)
            gam = np.zeros((4, 4), complex)
            for m, (a, b), (c, d) in exch:
                for q, den in ((p1 - k1, t), (p1 - k2, u)):
                    gam += (c * pl + d * pr) @ (_slash(g, q) + m * np.eye(4)) @ (a * pl + b * pr) / (den - m * m)
            for mass, width, (e, f), lam in sch:
                gam += (e * pl + f * pr) * lam / complex(s - mass ** 2, mass * width)
            gbar = g[0] @ gam.conj().T @ g[0]
            trace = np.trace(_slash(g, p2) @ gam @ _slash(g, p1) @ gbar).real
            me2 = processes.qqbar_ss_me2(s, t, u, m3 ** 2, m3 ** 2, exch, sch)
            assert me2 * 12 == pytest.approx(trace, rel=1e-6)


def _cos_theta_star(ev):
    """(s-hat, |cos theta*| of the first X, its CM momentum, E* of both X, m^2 of both X) per event."""
    inc = ev[ev.Status == 21]
    x = ev[(ev.PID == 25) & (ev.Status == 22)]
    e, pz = ak.to_numpy(ak.sum(inc.E, axis=1)).astype(float), ak.to_numpy(ak.sum(inc.Pz, axis=1)).astype(float)
    shat = e ** 2 - pz ** 2
    beta, gamma = pz / e, e / np.sqrt(shat)
    xe, xpz = ak.to_numpy(x.E).astype(float), ak.to_numpy(x.Pz).astype(float)
    pz_star = gamma[:, None] * (xpz - beta[:, None] * xe)
    e_star = gamma[:, None] * (xe - beta[:, None] * xpz)
    pt = ak.to_numpy(x.PT).astype(float)
    pstar = np.sqrt(pz_star[:, 0] ** 2 + pt[:, 0] ** 2)
    m2 = ak.to_numpy(x.Mass).astype(float) ** 2
    return shat, np.abs(pz_star[:, 0]) / pstar, pstar, e_star, m2


@pytest.mark.parametrize("name", list(POINTS))
def test_angular_distribution_follows_the_matrix_element(cfg, events, name):
    """|cos theta*| given s-hat, through its conditional CDF from |M|^2 integrated numerically, is uniform (KS)."""
    point = POINTS[name]
    card = processes.load_card(samples.embedded_mode(cfg, name)["process_card"])
    proc = processes.make_process(card)
    gen = PythiaGenerator(samples.pythia_commands(cfg, point, 3) + FAST, **samples.generator_options(cfg, name))
    processes.configure(proc, gen.pythia.particleData)
    shat, cos, pstar, e_star, m2 = _cos_theta_star(events[name])
    flav = np.abs(ak.to_numpy(events[name].PID[events[name].Status == 21][:, 0]))
    u_values = []
    for s, c, p, (e3, e4), (m3sq, m4sq), q in zip(shat, cos, pstar, e_star, m2, flav):
        cmax = np.sqrt(max(0.0, 1 - point.pt_min ** 2 / p ** 2))
        grid = np.linspace(0, cmax, 201)
        rs = np.sqrt(s)
        if name == "Res2P_neutral":
            w = np.ones_like(grid)  # g g -> h* -> h h: |M|^2 depends on s-hat only
        else:
            exch, sch = proc._resolved[int(q)]
            w = np.array([processes.qqbar_ss_me2(s, m3sq - rs * (e3 - p * x), m4sq - rs * (e4 + p * x), m3sq, m4sq, exch, sch)
                          + processes.qqbar_ss_me2(s, m3sq - rs * (e3 + p * x), m4sq - rs * (e4 - p * x), m3sq, m4sq, exch, sch)
                          for x in grid])
        cdf = np.concatenate([[0], np.cumsum((w[1:] + w[:-1]) / 2)])
        u_values.append(np.interp(c, grid, cdf / cdf[-1]))
    assert kstest(u_values, "uniform").pvalue > 0.001
    if name == "Res34P":  # the t/u-channel makes it forward: a flat distribution is rejected
        assert kstest(cos / np.sqrt(1 - point.pt_min ** 2 / pstar ** 2), "uniform").pvalue < 1e-3


def test_mode_cards_are_generate_inputs_and_x_jet_stays_available(cfg, tmp_path, monkeypatch):
    """The chosen mode's Pythia and process cards shape the data: inputs of the generate jobs. x_jet gives one X + jet."""
    import copy
    from pathlib import Path

    import yaml

    from jetclass2 import workflow_config as wc

    repo = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(repo)
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    wc.validate(config, yaml.safe_load((repo / "config" / "schema.yaml").read_text()))
    inputs = wc.plan(config).generate_inputs
    for name in POINTS:
        mode = samples.embedded_mode(cfg, name)
        assert any(f.endswith(mode["pythia_card"]) for f in inputs[name])
        assert any(f.endswith(mode["process_card"]) for f in inputs[name])
    alt = copy.deepcopy(cfg)
    alt["samples"]["Res2P_neutral"]["embedded_production"] = "x_jet"
    point = POINTS["Res2P_neutral"]
    gen = PythiaGenerator(samples.pythia_commands(alt, point, 3) + FAST, **samples.generator_options(alt, "Res2P_neutral"))
    ev = ak.concatenate(list(gen.generate(50, batch_size=50)))
    assert ak.all(ak.sum((ev.PID == 25) & (ev.Status == 22), axis=1) == 1)
    alt["samples"]["Res2P_neutral"]["embedded_production"] = "pairs"
    with pytest.raises(samples.GenerationConfigError, match="embedded_production: 'pairs' is not a key of embedded_modes"):
        samples.pythia_commands(alt, point, 3)
