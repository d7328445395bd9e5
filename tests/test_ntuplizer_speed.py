"""The ntuplizer's shortcuts give exactly what the plain computation gives, on real Delphes files:
GEN-jets clustered near the selected jets only, and Delphes leaves read straight from their baskets."""
import dataclasses

import awkward as ak
import numpy as np
import pytest
import uproot
from jetclass2.ntuplizer import Settings, process_file
from jetclass2.ntuplizer.core import PARTICLE_FIELDS
from jetclass2.ntuplizer.schema import BRANCHES

from jetclass2 import delphes_tree
from jetclass2.delphes_tree import COLLECTIONS, DelphesWriter, iterate_events

REAL = ["delphes/hbb_m125_pt500_200events.root", "delphes/res2p_higgs2p_10events.root",
        "delphes/res2p_lite_card_10events.root"]


def assert_identical(a: ak.Array, b: ak.Array):
    assert len(a) == len(b)
    for name, _, jagged in BRANCHES:
        x, y = a[name], b[name]
        if jagged:
            assert np.array_equal(ak.num(x), ak.num(y)), name
            x, y = ak.flatten(x), ak.flatten(y)
        assert np.array_equal(np.asarray(x), np.asarray(y)), name


@pytest.mark.parametrize("source", REAL)
@pytest.mark.parametrize("radius", [0.8, 1.5])
def test_genjet_region_gives_the_jets_of_the_whole_event(shared_dir, source, radius):
    """Every branch, GEN-jets and their constituents included, is bit for bit what clustering every
    stable generator particle gives (QCD labels on: every selected jet is matched)."""
    region = Settings.from_config(jet_radius=radius, qcd_labels=True)
    assert region.genjet_region is not None
    whole = dataclasses.replace(region, genjet_region=None)
    assert whole.genjet_region is None
    ours, full = process_file(shared_dir / source, region), process_file(shared_dir / source, whole)
    assert len(ours) > 0 and ak.sum(ours.genjet_nparticles > 0) > 0.9 * len(ours)
    assert_identical(ours, full)


def _uproot_chunks(path, names, step):
    tree = uproot.open(path)["Delphes"]
    for start in range(0, tree.num_entries, step):
        yield tree.arrays(names, entry_start=start, entry_stop=min(start + step, tree.num_entries))


def _reader_chunks(path, names, step):
    tree = delphes_tree.open_tree(path)
    reader = delphes_tree._basket_reader(path, tree, names)
    assert reader is not None, "the basket reader refused a plain Delphes file"
    try:
        for start in range(0, tree.num_entries, step):
            yield reader.arrays(names, start, min(start + step, tree.num_entries))
    finally:
        reader.close()


def _names(path):
    tree = uproot.open(path)["Delphes"]
    names = [f"Particle.{f}" for f in PARTICLE_FIELDS] + [f"ParticleFlowCandidate.{f}" for f in delphes_tree.PFCAND_FIELDS]
    return names + [n for n in ("ParticleFlowCandidate.CtgTheta", "Vertex.Z", "Vertex.T") if n in tree]


@pytest.mark.parametrize("source", REAL)
@pytest.mark.parametrize("step", [7, 2000])
def test_basket_reader_equals_uproot_on_real_delphes(shared_dir, source, step):
    """Chunks that start and end inside baskets too (7 events; Delphes baskets hold ~8)."""
    path = shared_dir / source
    names = _names(path)
    n = 0
    for ours, theirs in zip(_reader_chunks(path, names, step), _uproot_chunks(path, names, step), strict=True):
        for name in names:
            assert ours[name].type.content == theirs[name].type.content, name
            assert ak.all(ak.num(ours[name]) == ak.num(theirs[name])), name
            assert np.array_equal(ak.flatten(ours[name]), ak.flatten(theirs[name])), name
        n += len(ours)
    assert n == uproot.open(path)["Delphes"].num_entries


def test_basket_reader_equals_uproot_on_files_written_here(shared_dir, tmp_path):
    """A Delphes-format file as the fast simulation writes it (uproot baskets, several batches)."""
    src = uproot.open(shared_dir / REAL[0])["Delphes"]
    present = {c: [f for f in COLLECTIONS[c] if f"{c}.{f}" in src] for c in COLLECTIONS}
    if any(set(present[c]) != set(COLLECTIONS[c]) for c in COLLECTIONS):
        pytest.skip("the shared file lacks fields of the Delphes-format layout")
    arrays = src.arrays([f"{c}.{f}" for c in COLLECTIONS for f in COLLECTIONS[c]], entry_stop=60)
    path = tmp_path / "written.root"
    with DelphesWriter(path) as w:
        for start in (0, 25):  # two batches of different size: two baskets per branch
            stop = 25 if start == 0 else 60
            w.extend({c: ak.zip({f: arrays[f"{c}.{f}"][start:stop] for f in COLLECTIONS[c]}) for c in COLLECTIONS})
    names = _names(path)
    for ours, theirs in zip(_reader_chunks(path, names, 17), _uproot_chunks(path, names, 17), strict=True):
        for name in names:
            assert ak.all(ak.num(ours[name]) == ak.num(theirs[name])), name
            assert np.array_equal(ak.flatten(ours[name]), ak.flatten(theirs[name])), name


def test_iterate_events_reads_the_same_either_way(shared_dir, monkeypatch):
    """The events handed to the ntuplizer do not depend on which reader read them."""
    path = shared_dir / REAL[1]
    fast = list(iterate_events(path, step=4, particle_fields=PARTICLE_FIELDS))
    monkeypatch.setattr(delphes_tree, "_basket_reader", lambda *a: None)
    slow = list(iterate_events(path, step=4, particle_fields=PARTICLE_FIELDS))
    assert len(fast) == len(slow) == 3
    for a, b in zip(fast, slow):
        assert a.particles.fields == b.particles.fields == list(PARTICLE_FIELDS)
        for coll in ("particles", "pfcands"):
            x, y = getattr(a, coll), getattr(b, coll)
            assert x.fields == y.fields
            for f in x.fields:
                assert ak.all(ak.num(x[f]) == ak.num(y[f])) and np.array_equal(ak.flatten(x[f]), ak.flatten(y[f])), f
        assert np.array_equal(a.pv_z, b.pv_z) and np.array_equal(a.has_vertex, b.has_vertex)


@pytest.mark.parametrize("source", REAL)
def test_nsubjettiness_kernel_equals_fastjet_contrib(shared_dir, source):
    """tau_1..4 of every selected PUPPI jet bit for bit as the fastjet bindings give them; the
    kernel declines only jets of N2PLAIN_MAX or more constituents with an exact tie (zero-momentum
    constituents), and computes the smaller tied jets too."""
    import fastjet
    from jetclass2.ntuplizer import core
    from jetclass2.ntuplizer.jets import offsets_of, p4_from_ptetaphim
    from jetclass2.ntuplizer.nsubjettiness import N2PLAIN_MAX, nsubjettiness

    s = Settings.from_config(qcd_labels=True)
    done_all, n_all, tied_done = 0, 0, 0
    for ev in iterate_events(shared_dir / source, particle_fields=PARTICLE_FIELDS):
        pf, counts = core._columns(ev.pfcands, core.PF_FIELDS)
        rc = core._reco_clustering(pf, counts, s)
        sel = np.flatnonzero(rc.pt >= s.min_jet_pt)
        rj = rc.take(sel, np.zeros(0, dtype=np.int64))
        px, py, pz, e = p4_from_ptetaphim(*(pf[k][rj.cons] for k in ("PT", "MomentumEta", "Phi", "Mass")))
        n_cons = rj.cons_counts
        order = np.lexsort((-np.hypot(px, py), np.repeat(np.arange(len(n_cons)), n_cons)))
        px, py, pz, e = (np.ascontiguousarray(a[order]) for a in (px, py, pz, e))
        taus, done = nsubjettiness(px, py, pz, e, offsets_of(n_cons), 4, 1.0, 0.8)
        seq = fastjet.ClusterSequence(ak.unflatten(ak.zip({"px": px, "py": py, "pz": pz, "E": e}), n_cons),
                                      fastjet.JetDefinition(fastjet.cambridge_algorithm, 10.0))
        ref = np.asarray(seq.njettiness(njets=[1, 2, 3, 4], beta=1.0, R0=0.8)).reshape(len(n_cons), 4)
        assert np.array_equal(taus[done], ref[done])
        has_zero_pt = np.bincount(np.repeat(np.arange(len(n_cons)), n_cons)[np.hypot(px, py) == 0],
                                  minlength=len(n_cons)) > 0
        assert np.all(done | has_zero_pt | (n_cons < 2))  # declined only where fastjet breaks a tie
        # below N2PLAIN_MAX the kernel breaks ties as fastjet's N2Plain does: nothing declined
        assert np.all(done | (n_cons < 2) | (n_cons >= N2PLAIN_MAX))
        tied_done += (done & has_zero_pt).sum()
        done_all += done.sum()
        n_all += len(done)
    assert n_all > 10 and done_all > 0.7 * n_all
    assert tied_done > 0  # jets with zero-momentum constituents, bit for bit through the N2Plain path


def test_fastjet_clusters_the_nsubjettiness_axes_with_n2plain_below_the_kernel_threshold():
    """The kernel's exact tie-breaking follows fastjet's N2Plain loops: fastjet's Best strategy for
    the axes' exclusive kT clustering (R = 1000) must be N2Plain for every smaller jet."""
    import fastjet
    from jetclass2.ntuplizer.nsubjettiness import N2PLAIN_MAX

    rng = np.random.default_rng(7)
    for n in (2, 10, 40, N2PLAIN_MAX - 1, N2PLAIN_MAX):
        p = rng.normal(size=(n, 3))
        e = np.sqrt((p ** 2).sum(axis=1) + 0.01)
        particles = [fastjet.PseudoJet(*map(float, (*v, x))) for v, x in zip(p, e)]
        seq = fastjet.ClusterSequence(particles, fastjet.JetDefinition(fastjet.kt_algorithm, 1000.0))
        assert (seq.strategy_string() == "N2Plain") == (n < N2PLAIN_MAX), (n, seq.strategy_string())


@pytest.mark.parametrize("radius", [0.8, 1.5])
def test_direct_fastjet_call_equals_the_awkward_front_end(shared_dir, monkeypatch, radius):
    """cluster_flat hands flat arrays to the bindings' extension; the jets and their constituents
    are those of fastjet.ClusterSequence on the jagged array (the path taken without it)."""
    from jetclass2.ntuplizer import core, jets

    ev = next(iterate_events(shared_dir / REAL[0], particle_fields=PARTICLE_FIELDS))
    pf, counts = core._columns(ev.pfcands, core.PF_FIELDS)
    p4 = jets.p4_from_ptetaphim(pf["PT"], pf["MomentumEta"], pf["Phi"], pf["Mass"])
    index = np.arange(len(pf["PT"]))
    fj = jets._fastjet()
    assert not isinstance(jets._multi_event(fj, *p4, counts, fj.JetDefinition(fj.antikt_algorithm, radius)),
                          jets._FrontEnd), "the bindings' extension was not called directly"
    direct = jets.cluster_flat(*p4, index, counts, radius, 100.0)
    monkeypatch.setattr(jets, "_multi_event", jets._FrontEnd)
    front_end = jets.cluster_flat(*p4, index, counts, radius, 100.0)
    assert len(direct.pt) > len(counts)
    for f in dataclasses.fields(direct):
        assert np.array_equal(getattr(direct, f.name), getattr(front_end, f.name)), f.name
