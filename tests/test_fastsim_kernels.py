"""The speed-ups of generation, fast simulation and writing give exactly what the plain numpy/awkward
formulation gives: numba kernels and layout-level shortcuts against a straightforward reference,
on generated events (Pythia batches, a minimum-bias library and its propagated hits)."""
import awkward as ak
import numpy as np
import pytest

from jetclass2.delphes_tree import flat_columns, jagged_records
from jetclass2.fastsim.detector import load_card
from jetclass2.fastsim.detector.calorimeter import CaloGeometry, _deposits, _unique_cells
from jetclass2.fastsim.detector.pileup import FIELDS, PileupLibrary
from jetclass2.fastsim.detector.propagation import pileup_geometry, propagate, propagate_pileup
from jetclass2.generation import samples
from jetclass2.generation.pileup_library import build_pileup_library, load_pileup_library
from jetclass2.generation.pythia_driver import PythiaGenerator, _batch_columns


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    path = build_pileup_library(tmp_path_factory.mktemp("pu") / "minbias.parquet", 100, seed=9)
    return PileupLibrary(load_pileup_library(path), str(path), 1)


def _overlay_reference(lib, rng, n_pu, pcard):
    """The overlay written plainly: gather the rows, rotate, shift (the former implementation)."""
    total = int(n_pu.sum())
    z = rng.normal(0, pcard["z_sigma_m"] * 1e3, total)
    t = rng.normal(0, pcard["t_sigma_s"], total)
    zmax, tmax = pcard["z_max_m"] * 1e3, pcard["t_max_s"]
    bad = (np.abs(z) > zmax) | (np.abs(t) > tmax)
    while bad.any():
        z[bad] = rng.normal(0, pcard["z_sigma_m"] * 1e3, bad.sum())
        t[bad] = rng.normal(0, pcard["t_sigma_s"], bad.sum())
        bad = (np.abs(z) > zmax) | (np.abs(t) > tmax)
    pick = rng.integers(0, lib.n_events, total)
    sizes = lib.offsets[pick + 1] - lib.offsets[pick]
    take = np.concatenate([np.arange(lib.offsets[p], lib.offsets[p + 1]) for p in pick])
    cols = {f: lib.table[take, k] for k, f in enumerate(FIELDS)}
    dphi = rng.uniform(-np.pi, np.pi, total)
    c, s = np.repeat(np.cos(dphi), sizes), np.repeat(np.sin(dphi), sizes)
    for a, b in (("Px", "Py"), ("X", "Y")):
        x, y = cols[a], cols[b]
        cols[a], cols[b] = c * x - s * y, s * x + c * y
    cols["Z"] = cols["Z"] + np.repeat(z, sizes)
    cols["T"] = cols["T"] + np.repeat(t, sizes)
    ev = np.repeat(np.repeat(np.arange(len(n_pu)), n_pu), sizes)
    vtx = np.repeat(np.concatenate([np.arange(1, n + 1) for n in n_pu]), sizes)
    return cols, ev, vtx


def test_overlay_kernel_matches_the_plain_gather(library):
    pcard = load_card(None)["pileup"]
    n_pu = np.random.default_rng(1).poisson(20, 12)
    n_pu[3] = 0  # an event without pile-up
    head = ({f: np.full(5, float(k)) for k, f in enumerate(FIELDS)}, np.array([0, 0, 2, 7, 11]))
    cols, ev, vtx, *_ = library.overlay(np.random.default_rng(7), n_pu, pcard, head=head)
    ref, ref_ev, ref_vtx = _overlay_reference(library, np.random.default_rng(7), n_pu, pcard)
    assert len(ev) == 5 + len(ref_ev) > 1000
    for f in FIELDS:
        assert np.array_equal(cols[f][:5], head[0][f])
        assert np.array_equal(cols[f][5:], ref[f]), f  # bit for bit
    assert np.array_equal(ev, np.concatenate([head[1], ref_ev]))
    assert np.array_equal(vtx, np.concatenate([np.zeros(5, np.int64), ref_vtx]))


def test_calorimeter_kernels_match_numpy(library):
    card = load_card(None)
    pcard = card["pileup"]
    n_pu = np.full(8, 30)
    cols, ev, _, *_ = library.overlay(np.random.default_rng(3), n_pu, pcard)
    prop = propagate(cols["Px"], cols["Py"], cols["Pz"], cols["X"], cols["Y"], cols["Z"], cols["Charge"],
                     card["magnetic_field"])
    for c in ("ecal", "hcal"):
        geo = CaloGeometry(card[c])
        # the propagated hits, plus the edges themselves, beyond them, non-finite values and phi = +-pi
        extra_eta = np.concatenate([geo.edges, geo.edges + 1e-12, [-np.inf, np.inf, np.nan, 0.0, 0.0, 50.0]])
        extra_phi = np.concatenate([np.linspace(-np.pi, np.pi, len(geo.edges) * 2), [0.0, 0.0, 0.0, np.pi, -np.pi, 1.0]])
        eta = np.concatenate([prop["eta"], extra_eta])
        phi = np.concatenate([prop["phi"], extra_phi])
        ref_ieta = np.searchsorted(geo.edges, eta, side="left")
        ref_inside = (ref_ieta > 0) & (ref_ieta < len(geo.edges)) & np.isfinite(eta)
        ref_ieta = np.clip(ref_ieta, 1, len(geo.edges) - 1)
        n = geo.nphi[ref_ieta]
        with np.errstate(invalid="ignore"):
            ref_iphi = np.clip(np.floor((phi + np.pi) / (2 * np.pi) * n).astype(np.int64), 0, n - 1)
        # the depositing particles and their cells in one pass
        reached = np.concatenate([prop["inside"], np.ones(len(extra_eta), bool)])
        fraction = np.where(np.arange(len(eta)) % 7 == 0, 0.0, 0.5)
        p, cell_p = _deposits(geo.edges, geo.nphi, geo.grid, geo.grid_step, geo.max_phi, eta, phi, reached, fraction)
        cand = np.flatnonzero(reached & (fraction > 0))
        ref_p = cand[ref_inside[cand]]
        assert np.array_equal(p, ref_p) and len(p) > 1000
        assert np.array_equal(cell_p, ref_ieta[ref_p] * geo.max_phi + ref_iphi[ref_p])
        # towers: the distinct (event, cell) keys in ascending order and each deposit's tower
        sel = ref_inside[:len(ev)]
        n_cells = len(geo.edges) * geo.max_phi
        cell = ref_ieta[:len(ev)][sel] * geo.max_phi + ref_iphi[:len(ev)][sel]
        e = ev[sel].astype(np.int64)
        uk, inv = _unique_cells(e, cell, n_cells)
        ref_uk, ref_inv = np.unique(e * n_cells + cell, return_inverse=True)
        assert len(uk) > 100
        assert np.array_equal(uk, ref_uk) and np.array_equal(inv, ref_inv.ravel())
    empty = _unique_cells(np.zeros(0, np.int64), np.zeros(0, np.int64), 10)
    assert len(empty[0]) == 0 and len(empty[1]) == 0


def test_layout_helpers_match_awkward():
    rng = np.random.default_rng(2)
    counts = rng.integers(0, 6, 40)
    counts[:3] = 0
    cols = {"PID": rng.integers(-300, 300, counts.sum()).astype(np.int32), "PT": rng.random(counts.sum()).astype(np.float32)}
    fast = jagged_records(cols, counts)
    plain = ak.zip({k: ak.unflatten(v, counts) for k, v in cols.items()}, depth_limit=2)
    assert fast.type == plain.type and ak.array_equal(fast, plain)
    # a slice (offsets not starting at 0) and a gathered array (not a ListOffsetArray) read alike
    for arr in (plain[5:30], plain[np.array([7, 3, 3, 20])], plain[plain.PT > 0.5]):
        n, flat = flat_columns(arr)
        assert np.array_equal(n, ak.to_numpy(ak.num(arr)))
        for k in cols:
            assert np.array_equal(flat[k], ak.to_numpy(ak.flatten(arr[k])))
    with pytest.raises(ValueError, match="values expected"):
        jagged_records({"PID": np.zeros(3)}, [1, 1])


def test_pythia_batch_columns_match_the_generic_path():
    cfg = samples.load_config()
    b = samples.job_batches(cfg, "Res34P", 0, 5, 3)[0]
    gen = PythiaGenerator(samples.pythia_commands(cfg, b.point, b.pythia_seed), **samples.generator_options(cfg, "Res34P"))
    raw = gen.pythia.nextBatch(5, 3.0)
    counts, fast = _batch_columns(raw)
    # the same batch through a gathered (non-ListOffsetArray) layout takes the generic awkward path
    counts_g, plain = _batch_columns(raw[np.arange(len(raw))])
    assert np.array_equal(counts, counts_g) and counts.min() > 100
    assert fast.keys() == plain.keys()
    for k in fast:
        assert np.array_equal(fast[k], plain[k]), k
    assert np.any(fast["vpx"] != 0) and np.any(fast["vpx"] == 0)  # displaced and prompt vertices both present


def test_pileup_propagation_from_the_library_geometry_matches_the_full_propagation(library):
    """Pile-up particles propagated from the per-library geometry (rotation and z shift applied per
    event) land where the full propagation of the rotated, shifted particles puts them, to rounding."""
    card = load_card(None)
    fcard = card["magnetic_field"]
    n_pu = np.full(10, 40)
    cols, ev, _, z, _, _, src = library.overlay(np.random.default_rng(5), n_pu, card["pileup"])
    full = propagate(cols["Px"], cols["Py"], cols["Pz"], cols["X"], cols["Y"], cols["Z"], cols["Charge"], fcard)
    t = library.table
    geom = pileup_geometry(t[:, 2], t[:, 3], t[:, 4], t[:, 6], t[:, 7], t[:, 1], fcard)
    inside, out = np.empty(len(ev), bool), np.empty((6, len(ev)))
    propagate_pileup(geom, t, src["rows"], src["vid"], src["dphi"], z, fcard, inside, out)
    assert np.array_equal(inside, full["inside"]) and inside.sum() > 1000
    charged = inside & (cols["Charge"] != 0)
    assert charged.sum() > 500 and (inside & (cols["Charge"] == 0)).sum() > 500
    for k, name in enumerate(("eta", "phi", "z_hit", "phi_d", "d0", "dz")):
        diff = out[k][inside] - full[name][inside]
        if name.startswith("phi"):
            diff = (diff + np.pi) % (2 * np.pi) - np.pi
        assert np.max(np.abs(diff)) < 1e-8, name
    # the barrel and both end caps are all exercised
    z_hit = out[2][inside]
    assert (np.abs(z_hit) < 2999).sum() > 100 and (z_hit > 2999).sum() > 100 and (z_hit < -2999).sum() > 100
