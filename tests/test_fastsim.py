"""Fast detector simulation: Delphes layout, pile-up, tracking, PUPPI, determinism, bad input."""
import awkward as ak
import numpy as np
import pytest
import uproot

from fastsim.delphes_format import COLLECTIONS, DelphesWriter
from fastsim.detector import SimulationInputError, Simulator, recentre
from fastsim.generation.pileup import PileupLibraryError, build_pileup_library
from ntuplizer import process_file

HBB = "delphes/hbb_m125_pt500_200events.root"


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


def test_layout_is_read_like_real_delphes(simulated, shared_dir):
    out, _ = simulated
    ours = uproot.open(out)["Delphes"]
    real = uproot.open(shared_dir / HBB)["Delphes"]
    for coll, fields in COLLECTIONS.items():
        for f in fields:
            assert f"{coll}.{f}" in ours and f"{coll}.{f}" in real
            assert ours[f"{coll}.{f}"].interpretation.content.from_dtype.kind == real[f"{coll}.{f}"].interpretation.content.from_dtype.kind
    jets = process_file(out)
    assert len(jets) > 30  # boosted H->bb: most events give a labelled AK8 jet
    assert np.mean(np.asarray(jets.jet_label) == 0) == 1.0  # all X_bb


def test_pileup_vertices_poisson_and_spread(simulated):
    _, batches = simulated
    vtx = ak.concatenate([b["Vertex"] for b in batches])
    n_pu = ak.to_numpy(ak.num(vtx)) - 1
    assert abs(n_pu.mean() - 50) < 4 * np.sqrt(50 / len(n_pu))
    z = ak.to_numpy(ak.flatten(vtx.Z))
    assert 40 < np.std(z) < 66  # card: 53 mm
    pv = ak.to_numpy(vtx.Z[:, 0])
    part = ak.concatenate([b["Particle"] for b in batches])
    final = part[part.Status == 1]
    # the hard-scatter record sits at the primary vertex
    assert np.allclose([np.median(ak.to_numpy(z)) for z in final.Z], pv, atol=1.0)


def test_chs_and_puppi_keep_only_primary_vertex_tracks(simulated):
    _, batches = simulated
    c = ak.concatenate([b["ParticleFlowCandidate"] for b in batches])
    vtx = ak.concatenate([b["Vertex"] for b in batches])
    charged = c[c.Charge != 0]
    dz = ak.to_numpy(ak.flatten(charged.DZ - vtx.Z[:, 0]))
    err = ak.to_numpy(ak.flatten(charged.ErrorDZ))
    assert np.median(np.abs(dz) / err) < 1.5  # tracks compatible with the PV
    assert len(dz) > 0
    # far fewer candidates than generated particles with 50 pile-up interactions
    assert ak.mean(ak.num(c)) < 600


def test_same_seed_same_output(library, hbb_particles):
    a = Simulator(pileup_library=library, seed=9).process(hbb_particles[:5])
    b = Simulator(pileup_library=library, seed=9).process(hbb_particles[:5])
    c = Simulator(pileup_library=library, seed=10).process(hbb_particles[:5])
    assert ak.all(a["ParticleFlowCandidate"].PT == b["ParticleFlowCandidate"].PT)
    assert ak.num(a["Vertex"]).tolist() != ak.num(c["Vertex"]).tolist() or not ak.all(
        ak.num(a["ParticleFlowCandidate"]) == ak.num(c["ParticleFlowCandidate"]))


def test_bad_inputs(library, hbb_particles, tmp_path):
    bad = ak.with_field(hbb_particles[:2], hbb_particles[:2].Px * np.nan, "Px")
    with pytest.raises(SimulationInputError, match="non-finite Px"):
        Simulator(pileup_library=library, seed=1).process(bad)
    with pytest.raises(PileupLibraryError, match="not found"):
        Simulator(pileup_library=tmp_path / "missing.parquet", seed=1)
    empty = hbb_particles[:3][hbb_particles[:3].Status == 999]  # events without final-state particles
    out = Simulator(pileup_library=library, seed=1, mean_pileup=0).process(empty)
    assert ak.num(out["ParticleFlowCandidate"]).tolist() == [0, 0, 0]
