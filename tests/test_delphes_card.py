"""The Delphes card trimmed to the ntuplizer's branches (jetclass2.generation.delphes_card): the parser on
the real JetClass-II card, and, with the generation stack, a container job run with the full and the
trimmed card giving the same Particle, ParticleFlowCandidate and Vertex values and the same ntuples."""
import os
import re
import subprocess
from pathlib import Path

import awkward as ak
import pytest
import uproot

from jetclass2.delphes_tree import COLLECTIONS
from jetclass2.generation import container_job
from jetclass2.generation.delphes_card import DROPPABLE_CLASSES, NTUPLE_BRANCHES, CardError, parse_card, trim_card

REPO = Path(__file__).resolve().parents[1]
CARD = REPO / "cards" / "delphes" / "delphes_card_CMS_JetClassII_onlyFatJet.tcl"
_RANDOM_USE = re.compile(r"gRandom|TRandom|Rndm|TrkUtil|ObsTrk|H_Beam")


@pytest.fixture(scope="module")
def card_text() -> str:
    return CARD.read_text()


def test_the_ntuplizer_branches_are_the_reader_collections():
    assert NTUPLE_BRANCHES == tuple(COLLECTIONS) == ("Particle", "ParticleFlowCandidate", "Vertex")


def test_trimmed_card_keeps_every_producer_chain(card_text):
    full, trimmed = parse_card(card_text), trim_card(card_text)
    card = parse_card(trimmed.text)
    assert card.path == trimmed.kept and [b.name for b in card.branches] == list(NTUPLE_BRANCHES)
    for branch in card.branches:  # every module a kept branch reads from, transitively, still runs
        todo = [branch.module]
        while todo:
            name = todo.pop()
            if name == "Delphes":
                continue
            assert name in card.path, (branch.name, name)
            todo += sorted(card.modules[name].needs)
    # what the JetClass-II card drops: the jets, missing ET and HT, none of which the ntuplizer reads
    assert set(trimmed.dropped) == {"EFlowFilterPuppi", "MissingET", "PuppiMissingET",
                                    "GenPileUpMissingET", "ScalarHT", "NeutrinoFilter", "GenJetFinderAK8",
                                    "GenJetFinderAK15", "GenMissingET", "FastJetFinderPUPPIAK8",
                                    "FastJetFinderPUPPIAK15", "JetEnergyScalePUPPIAK8", "JetEnergyScalePUPPIAK15"}
    assert all(full.modules[n].cls in DROPPABLE_CLASSES for n in trimmed.dropped)
    # TrackPileUpSubtractor writes nothing read by name, but flags HCal/eflowTracks for RecoPuFilter: kept
    assert "TrackPileUpSubtractor" in trimmed.unneeded_kept and "TrackPileUpSubtractor" in card.path
    # EFlowMerger (MissingET's input) creates two candidates before RunPUPPI's: kept, not to renumber them
    assert "EFlowMerger" in trimmed.unneeded_kept
    # the module order is the card's, and the blocks are untouched
    assert trimmed.kept == [n for n in full.path if n in trimmed.kept]
    for name in trimmed.kept:
        assert card.modules[name].body == full.modules[name].body or name == full.writer


def test_droppable_classes_draw_no_random_numbers(shared_dir, tmp_path):
    """Every droppable class's Delphes 3.5.0 source uses neither gRandom nor a random-drawing helper,
    and the classes that do (smearing, efficiencies, pile-up) are not droppable."""
    sources = shared_dir.parent / "toolchain" / "Delphes-3.5.0.tar.gz"
    if not sources.is_file():
        pytest.skip(f"no Delphes sources at {sources}")
    subprocess.run(["tar", "xzf", sources, "-C", tmp_path, "--wildcards", "*/modules/*.cc"], check=True)
    sources = {p.stem: p.read_text(errors="replace") for p in tmp_path.glob("*/modules/*.cc")}
    assert len(sources) > 40

    def draws(cls):
        return any(_RANDOM_USE.search(line) for line in sources[cls].splitlines() if not line.startswith("#include"))

    for cls in DROPPABLE_CLASSES:
        assert not draws(cls), cls
    for cls in ("PileUpMerger", "Efficiency", "MomentumSmearing", "TrackSmearing", "SimpleCalorimeter"):
        assert draws(cls), cls


def test_random_or_unknown_classes_are_kept(card_text):
    """A module nothing reads stays when its class may draw random numbers or is unknown; its inputs too."""
    extra = ("module MomentumSmearing ExtraSmearing {\n  set InputArray ECal/eflowPhotons\n"
             "  set OutputArray smeared\n  set ResolutionFormula {0.1}\n}\n"
             "module SomeFutureModule Mystery {\n  set InputArray EFlowMerger/eflow\n}\n")
    text = card_text.replace("\n  RunPUPPI\n", "\n  RunPUPPI\n  ExtraSmearing\n  Mystery\n", 1) + extra
    trimmed = trim_card(text)
    assert {"ExtraSmearing", "Mystery", "EFlowMerger"} <= set(trimmed.unneeded_kept)
    assert trimmed.kept.index("Mystery") > trimmed.kept.index("EFlowMerger")
    assert {"GenJetFinderAK8", "NeutrinoFilter", "MissingET"} <= set(trimmed.dropped)


def test_a_wider_branch_set_keeps_its_modules(card_text):
    trimmed = trim_card(card_text, ["Particle", "GenJetAK8"])
    assert {"GenJetFinderAK8", "NeutrinoFilter"} <= set(trimmed.kept) and trimmed.branches == ["Particle", "GenJetAK8"]
    assert {"GenJetFinderAK15", "FastJetFinderPUPPIAK8", "JetEnergyScalePUPPIAK15"} <= set(trimmed.dropped)
    assert "ScalarHT" in trimmed.unneeded_kept  # a Merger before GenJetFinderAK8: its candidates keep their numbers


def test_missing_branch_or_broken_card_is_an_error(card_text):
    without_vertex = card_text.replace("add Branch PileUpMerger/vertices Vertex Vertex", "")
    with pytest.raises(CardError, match="writes no branch Vertex"):
        trim_card(without_vertex)
    with pytest.raises(CardError, match="ExecutionPath"):
        trim_card(card_text.replace("set ExecutionPath", "set Execution"))
    with pytest.raises(CardError, match="not in the ExecutionPath"):
        trim_card(card_text.replace("\n  RunPUPPI\n", "\n", 1))


def test_job_refuses_an_untrimmable_card_before_any_work(capsys, tmp_path):
    card = tmp_path / "card.tcl"
    card.write_text(CARD.read_text().replace("add Branch PileUpMerger/vertices Vertex Vertex", ""))
    pileup = tmp_path / "minbias.pileup"
    pileup.write_bytes(b"\0" * 7 + b"\x01")  # passes the driver's count check; never read
    rc = container_job.main(["generate", "--sample", "QCD", "--job", "0", "--events", "10", "--delphes-card", str(card),
                             "--pileup", str(pileup), "--workdir", str(tmp_path / "work"), "-o", str(tmp_path / "o.root"), "-q"])
    assert rc == 2 and not (tmp_path / "work").exists() and not (tmp_path / "o.root").exists()
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("run-container-job: error: QCD job 0: inputs: Delphes card ")
    assert "writes no branch Vertex" in errors[0]


# ---- for real: DelphesPythia8 with both cards ------------------------------------------------------------


@pytest.fixture(scope="module")
def stack():
    prefix = Path(subprocess.run(["bash", str(REPO / "containers" / "stack-cache-dir")], capture_output=True,
                                 text=True, check=True).stdout.strip())
    if not (prefix / ".complete").is_file():
        pytest.skip(f"generation stack not built at {prefix} (tests/test_container_chain.py builds it)")
    return prefix / "setup.sh"


def _in_stack(setup: Path, args: list, cwd: Path):
    cmd = " ".join(["bash", str(REPO / "containers" / "run-container-job"), *map(str, args)])
    r = subprocess.run(["bash", "-c", f". '{setup}' && {cmd}"], cwd=cwd, capture_output=True, text=True, env=os.environ)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]


def _leaves(path: Path, collection: str) -> dict:
    """Every leaf of ``collection`` uproot reads as an array (TRef arrays it cannot are left out), and its counter."""
    out = {}
    with uproot.open(path) as f:
        tree = f["Delphes"]
        for key in tree.keys(filter_name=f"{collection}*"):
            leaf = key.split("/")[-1]
            if leaf != f"{collection}_size" and not leaf.startswith(f"{collection}."):
                continue
            try:
                out[leaf] = tree[key].array(library="ak")
            except Exception:  # TRefArray members (GenParticle's constituents' references)
                continue
    return out


def test_trimmed_card_same_events_and_ntuples(stack, tmp_path):
    """A QCD job (2 batches of 20 events, pile-up 50) with both cards: every readable leaf of Particle,
    ParticleFlowCandidate and Vertex equal, the ntuples equal array by array; the trimmed file lacks the jets."""
    pileup = tmp_path / "minbias.pileup"
    _in_stack(stack, ["pileup", "--events", 200, "--seed", 3, "--workdir", tmp_path / "wp", "-o", pileup], tmp_path)
    out = {}
    for mode in ("full", "ntuples"):
        out[mode] = tmp_path / f"{mode}.root"
        _in_stack(stack, ["generate", "--sample", "QCD", "--job", 0, "--events", 40, "--seed", 5, "--pdf", "builtin",
                          "--events-per-grid-point", 20, "--delphes-card", CARD, "--pileup", pileup,
                          "--delphes-outputs", mode, "--workdir", tmp_path / f"w_{mode}", "-o", out[mode]], tmp_path)
    with uproot.open(out["full"]) as f, uproot.open(out["ntuples"]) as t:
        assert t["Delphes"].num_entries == f["Delphes"].num_entries == 40
        assert "JetPUPPIAK8_size" in f["Delphes"].keys() and "JetPUPPIAK8_size" not in t["Delphes"].keys()
        # DelphesPythia8 writes the event header (Event, EventLHEF, WeightLHEF) itself
        written = {k.split("_size")[0] for k in t["Delphes"].keys() if k.endswith("_size")}
        assert written - {"Event", "EventLHEF", "WeightLHEF"} == set(NTUPLE_BRANCHES)
    for collection in NTUPLE_BRANCHES:
        a, b = _leaves(out["full"], collection), _leaves(out["ntuples"], collection)
        assert len(a) >= len(COLLECTIONS[collection]) and a.keys() == b.keys(), collection
        assert ak.sum(a[f"{collection}_size"]) > 0
        for name in a:
            assert ak.array_equal(a[name], b[name], equal_nan=True), name  # Delphes' Rapidity holds NaNs
    ntuples = {}
    for mode, path in out.items():
        ntuples[mode] = tmp_path / f"{mode}.ntuple.root"
        r = subprocess.run(["ntuplize", str(path), "-o", str(ntuples[mode]), "--qcd-labels", "-q"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
    with uproot.open(ntuples["full"]) as f, uproot.open(ntuples["ntuples"]) as t:
        first, second = f["tree"].arrays(), t["tree"].arrays()
    assert len(first) > 0 and first.fields == second.fields
    for name in first.fields:
        assert ak.array_equal(first[name], second[name], equal_nan=True), name
    # and the ntuple files hold the same bytes but for ROOT's time stamps and UUIDs: same size
    assert ntuples["full"].stat().st_size == ntuples["ntuples"].stat().st_size
