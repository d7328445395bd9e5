"""Our soft-drop kernel against fastjet-contrib's SoftDrop (through the fastjet bindings)."""
import awkward as ak
import fastjet
import numpy as np
import pytest
from jetclass2.ntuplizer.softdrop import soft_drop_masses


@pytest.mark.parametrize("beta,zcut", [(0.0, 0.1), (1.0, 0.2)])
@pytest.mark.parametrize("n", [2, 7, 40])
def test_soft_drop_equals_fastjet_contrib(beta, zcut, n):
    rng = np.random.default_rng(n)
    n_jets = 150
    pt = rng.exponential(8, (n_jets, n))
    eta = rng.normal(0.3, 0.3, (n_jets, n))
    phi = rng.normal(3.1, 0.3, (n_jets, n))  # across the phi = pi boundary
    mass = rng.choice([0.0, 0.13957, 0.49368], (n_jets, n))
    at_rest = rng.random((n_jets, n)) < 0.1  # PUPPI candidates with zero momentum, E = m
    at_rest[:, 0] = False
    pt[at_rest], mass[at_rest] = 0.0, 0.13957
    px, py = pt * np.cos(phi), pt * np.sin(phi)
    pz = np.where(pt > 0, pt * np.sinh(eta), 0.0)
    e = np.sqrt(px ** 2 + py ** 2 + pz ** 2 + mass ** 2)
    seq = fastjet.ClusterSequence(ak.zip({"px": px, "py": py, "pz": pz, "E": e}),
                                  fastjet.JetDefinition(fastjet.cambridge_algorithm, 10.0))
    ref = np.asarray(seq.exclusive_jets_softdrop_grooming(njets=1, beta=beta, symmetry_cut=zcut, R0=0.8).msoftdrop)
    ours = soft_drop_masses(px.ravel(), py.ravel(), pz.ravel(), e.ravel(), np.arange(n_jets + 1) * n, beta, zcut, 0.8)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)
    assert np.any(ours > 1.0)  # not all groomed down to single particles


def test_single_particle_and_empty_jets():
    px, py, pz, e = (np.array(v, dtype=float) for v in ([3.0], [4.0], [0.0], [np.sqrt(25 + 0.13957 ** 2)]))
    out = soft_drop_masses(px, py, pz, e, np.array([0, 0, 1]), 0.0, 0.1, 0.8)
    assert out[0] == 0.0 and out[1] == pytest.approx(0.13957)
