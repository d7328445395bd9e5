"""DelphesPythia8Batches (jetclass2/generation/delphes_batches.py): many batches in one process give,
branch for branch, DelphesPythia8's events on each batch; with the generation stack (skipped without)."""
import importlib.util
import os
import subprocess
from pathlib import Path

import awkward as ak
import pytest

from jetclass2.generation import container_job as cj
from jetclass2.generation import delphes_batches

REPO = Path(__file__).resolve().parents[1]
CARD = REPO / "cards" / "delphes" / "delphes_card_CMS_JetClassII_onlyFatJet.tcl"
#: what DelphesPythia8 fills from its LHEF reader's uninitialised members when there is no LHE event
#: (Pythia alone): DelphesPythia8Batches writes the reader's defaults instead
NO_LHE_GARBAGE = ("EventLHEF.ProcessID", "EventLHEF.Weight", "EventLHEF.ScalePDF", "EventLHEF.AlphaQED",
                  "EventLHEF.AlphaQCD", "EventLHEF.CrossSection")


def _bench():
    """benchmarks/bench_delphes_batches.py: its leaf reader and comparison serve the tests too."""
    spec = importlib.util.spec_from_file_location("bench_delphes_batches", REPO / "benchmarks" / "bench_delphes_batches.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_BENCH = _bench()


@pytest.fixture(scope="module")
def env(stack_env, tmp_path_factory):
    """The stack's environment with a cache of this module's own for the compiled program."""
    return {**stack_env, "JETCLASS2_CACHE": str(tmp_path_factory.mktemp("jc2cache"))}


@pytest.fixture(scope="module")
def pileup(env, tmp_path_factory):
    d = tmp_path_factory.mktemp("pileup")
    _job(env, ["pileup", "--events", 200, "--seed", 3, "--workdir", d / "w", "-o", d / "minbias.pileup"], d)
    return d / "minbias.pileup"


def _job(env: dict, args: list, cwd: Path) -> subprocess.CompletedProcess:
    r = subprocess.run(["bash", str(REPO / "containers" / "run-container-job"), *map(str, args)], cwd=cwd, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    return r


def _generate(env, pileup, tmp_path, sample, name, *options):
    out = tmp_path / f"{name}.root"
    _job(env, ["generate", "--sample", sample, "--job", 0, "--events", 40, "--seed", 5, "--pdf", "builtin",
               "--events-per-grid-point", 20, "--delphes-card", CARD, "--pileup", pileup,
               "--workdir", tmp_path / f"w_{name}", "-o", out, *options], tmp_path)
    return out


def test_resonant_batches_equal_delphespythia8_per_batch(env, pileup, tmp_path, stack_environ):
    """Res2P_neutral, 2 batches of 20 events (MadGraph LHE -> Pythia -> Delphes, pile-up 50): the job with
    DelphesPythia8 per batch, then DelphesPythia8Batches on the same batches (their LHE files and cards):
    every readable leaf of every event equal, the Event numbers counted from 0 in each batch."""
    per_batch = _generate(env, pileup, tmp_path, "Res2P_neutral", "per_batch", "--delphes-per-batch", "--keep-workdir")
    work = tmp_path / "w_per_batch"
    batches = [{"batch": i, "events": 20} for i in range(2)]
    with stack_environ(), pytest.MonkeyPatch.context() as mp:
        mp.setenv("JETCLASS2_CACHE", env["JETCLASS2_CACHE"])
        program = delphes_batches.program(work)
        session = cj._shower_and_simulate_session(cj.Steps("test"), "test", program, CARD, pileup, None, 5, "Res2P_neutral",
                                                  0, batches, work, keep=True)
    assert program.parent.parent == Path(env["JETCLASS2_CACHE"])
    a, b = _BENCH.leaves([session]), _BENCH.leaves([work / f"batch_{i:04d}" / "delphes.root" for i in range(2)])
    assert ak.sum(a["Particle_size"]) > 0 and ak.sum(a["ParticleFlowCandidate_size"]) > 0 and ak.all(a["EventLHEF.ProcessID"] > 0)
    assert _BENCH.differing(a, b) == []
    assert ak.to_list(ak.flatten(a["Event.Number"])) == list(range(20)) * 2
    assert _BENCH.differing(a, _BENCH.leaves([per_batch])) == []  # and the job's merged file


def test_pythia_alone_batches_equal_and_reproducible(env, pileup, tmp_path):
    """QCD (Pythia alone, 2 batches of 20 events): two jobs with DelphesPythia8Batches are equal leaf for
    leaf; against DelphesPythia8 per batch only the EventLHEF members it leaves uninitialised may differ,
    and DelphesPythia8Batches writes them as zeros (cross-section 1)."""
    a = _BENCH.leaves([_generate(env, pileup, tmp_path, "QCD", "a")])
    assert _BENCH.differing(a, _BENCH.leaves([_generate(env, pileup, tmp_path, "QCD", "b")])) == []
    ref = _BENCH.leaves([_generate(env, pileup, tmp_path, "QCD", "per_batch", "--delphes-per-batch")])
    assert set(_BENCH.differing(a, ref)) <= {k for k in NO_LHE_GARBAGE}
    assert ak.sum(a["ParticleFlowCandidate_size"]) > 0
    for k in NO_LHE_GARBAGE:
        assert ak.all(a[k] == (1 if k.endswith("CrossSection") else 0)), k


def test_a_short_lhe_file_stops_the_run_naming_the_batch(env, pileup, tmp_path, stack_environ):
    """A batch whose LHE file holds fewer events than its card asks: exit 3, one line naming the card and
    the counts; a bad batch list: exit 2."""
    work = tmp_path / "w_kept"
    _generate(env, pileup, tmp_path, "Res2P_neutral", "kept", "--keep-workdir")  # its batches' cards and LHE files
    lhe = work / "batch_0001" / "unweighted_events.lhe"
    head, *events = lhe.read_text().split("<event>")
    lhe.write_text(head + "".join("<event>" + e.split("</event>")[0] + "</event>\n" for e in events[:7]) + "</LesHouchesEvents>\n")
    assert cj.lhe_events(lhe) == 7
    with stack_environ(), pytest.MonkeyPatch.context() as mp:
        mp.setenv("JETCLASS2_CACHE", env["JETCLASS2_CACHE"])
        program = delphes_batches.program(work)
    card1 = work / "batch_0001" / "pythia8.cmnd"
    (tmp_path / "list").write_text(delphes_batches.batch_list([(work / "batch_0000" / "pythia8.cmnd", 11), (card1, 12)]))
    (tmp_path / "card.tcl").write_text(cj._batch_card(CARD, pileup, 1, None, "test", "ntuples"))
    r = subprocess.run([program, "card.tcl", "list", "out.root"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 3, r.stderr[-2000:]
    errors = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert errors == [f"DelphesPythia8Batches: error: {card1}: 7 events, 20 asked (end of the LHE file)"]
    (tmp_path / "bad").write_text(f"{card1} not-a-seed\n")
    r = subprocess.run([program, "card.tcl", "bad", "out2.root"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "bad: line 1: expected 'PYTHIA_CARD DELPHES_SEED'" in r.stderr
    assert not (tmp_path / "out2.root").exists()


def test_program_is_cached_by_what_it_is_made_of(env, stack_environ, tmp_path):
    """The second request finds the binary the first compiled; a changed source would name another."""
    with stack_environ(), pytest.MonkeyPatch.context() as mp:
        mp.setenv("JETCLASS2_CACHE", str(tmp_path / "cache"))
        first = delphes_batches.program(tmp_path / "w")
        mtime = first.stat().st_mtime_ns
        assert delphes_batches.program(tmp_path / "w") == first and first.stat().st_mtime_ns == mtime
        assert first.parent.name == f"delphes-batches-{delphes_batches._identity(delphes_batches.compile_command(Path('OUTPUT')))}"
        r = subprocess.run([first], capture_output=True, text=True, env={**os.environ})
        assert r.returncode == 2 and "usage: DelphesPythia8Batches" in r.stderr
