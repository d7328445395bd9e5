"""MadGraph sessions with incremental compilation (run-container-job's default) against one MadGraph
process per batch recompiling everything (``--madgraph-per-batch``, the reference's way): the same
events byte for byte, and the sub-processes compiled once per job, not once per batch.

Runs the real MadGraph5_aMC@NLO of the generation stack (Res2P neutral, heft, 2 batches x 20 events
per mode, ~1-2 min on 2 shared cores); skipped when the stack is not built in its cache directory
(containers/stack-cache-dir; tests/test_container_chain.py builds it when it can).
"""
import importlib.util
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from jetclass2.generation import container_job

REPO = Path(__file__).resolve().parents[1]
SAMPLE, EVENTS, EPG = "Res2P_neutral", 40, 20  # 2 batches, each its own grid point and seed


def _validator():
    spec = importlib.util.spec_from_file_location("validate_mg5_speedup", REPO / "benchmarks" / "validate_mg5_speedup.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def jobs(stack_environ, tmp_path_factory):
    """The same job made both ways: {mode: (work directory, step times)}."""
    work = tmp_path_factory.mktemp("mg5_speedup")
    with stack_environ():  # mg5_aMC, gfortran and make from the stack, for the driver's subprocesses
        return {mode: (work / mode, container_job.madgraph_job(SAMPLE, 0, EVENTS, 7, work / mode, events_per_grid_point=EPG,
                                                               pdf="builtin", madgraph_per_batch=per_batch))
                for mode, per_batch in (("per_batch", True), ("session", False))}


def test_session_gives_the_same_events(jobs):
    c = _validator().compare(jobs["per_batch"][0], jobs["session"][0], 25)
    assert c["events"] == EVENTS and c["identical"] == EVENTS  # every event record, byte for byte
    assert np.all(np.abs(c["xsec_pulls"]) < 1e-6)
    for row in c["kinematics"]:
        assert row["ks_d"] == 0.0, row
    # and the events are those of their grid points: both X above the batch's pT_min, at its mass
    points = {b["batch"]: b for b in json.loads((jobs["session"][0] / "gridpoints.json").read_text())["batches"]}
    assert len(points) == EVENTS // EPG and len({(b["mass_x"], b["pt_min"]) for b in points.values()}) == len(points)
    for i, b in points.items():
        events, _, _ = _validator().read_lhe(jobs["session"][0] / f"batch_{i:04d}" / "unweighted_events.lhe")
        kin = _validator().kinematics(events, 25, b["pt_min"], b["mass_x"])
        assert len(kin["pt/pt_min"]) == 2 * EPG
        assert np.all(kin["pt/pt_min"] >= 1 - 1e-6) and np.allclose(kin["m/m_X"], 1.0, atol=1e-6)


def test_one_session_launches_every_batch(jobs):
    times = jobs["session"][1]
    assert [k for k in times if k.startswith("madgraph_")] == ["madgraph_process", "madgraph_session_0"]
    assert times["madgraph_session_0"]["batches"] == EVENTS // EPG
    assert sum(k.startswith("madgraph_batch_") for k in jobs["per_batch"][1]) == EVENTS // EPG


def test_subprocesses_compiled_once_per_job(jobs):
    """The last launch rewrote the cards; in a session only what includes them was rebuilt."""
    for mode, rebuilt in (("session", False), ("per_batch", True)):
        process = jobs[mode][0] / SAMPLE.lower()
        cards = process / "Cards" / "run_card.dat"
        pdirs = [process / "SubProcesses" / p.strip() for p in (process / "SubProcesses" / "subproc.mg").read_text().split()]
        assert pdirs
        for pdir in pdirs:
            # driver.o includes nothing the cards change: rebuilt at every launch only by MadGraph's `make clean`
            assert ((pdir / "driver.o").stat().st_mtime_ns > cards.stat().st_mtime_ns) == rebuilt, (mode, pdir)
            # symmetry.o includes Source/run_card.inc, madevent links the rebuilt libraries: always rebuilt
            run_card_inc = process / "Source" / "run_card.inc"
            for target in ("symmetry.o", "madevent"):
                assert (pdir / target).stat().st_mtime_ns > run_card_inc.stat().st_mtime_ns, (mode, pdir, target)
        if mode == "session":
            deps = (pdirs[0] / "deps.mk").read_text()
            assert any(ln.startswith("symmetry.o:") and "../../Source/run_card.inc" in ln for ln in deps.splitlines())


def test_incremental_build_leaves_an_unknown_makefile_alone(tmp_path):
    sub = tmp_path / "proc" / "SubProcesses"
    (sub / "P1_x").mkdir(parents=True)
    (sub / "subproc.mg").write_text("P1_x\n")
    text = "madevent: driver.o\n\tgfortran -o madevent driver.o\n"
    (sub / "makefile").write_text(text)
    reason = container_job.incremental_build(tmp_path / "proc")
    assert reason and "no `clean` rule" in reason
    assert (sub / "makefile").read_text() == text and not (sub / "P1_x" / "deps.mk").exists()


def test_a_failed_launch_in_a_session_names_its_batch(stack_env, tmp_path):
    """MadGraph exits 0 when a launch fails: the batch without an event file is the error, nothing is written."""
    import yaml

    cfg = yaml.safe_load((REPO / "config" / "samples.yaml").read_text())
    card = tmp_path / "launch.dat"
    card.write_text((REPO / "cards" / "madgraph" / "res2p_launch.dat").read_text().replace("launch $process_dir", "launch no_such_dir"))
    cfg["samples"][SAMPLE]["container"]["madgraph_launch"] = str(card)
    (tmp_path / "samples.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    pileup = tmp_path / "minbias.pileup"
    pileup.write_bytes(b"\0" * 7 + b"\x01")  # passes the driver's pile-up check (one event); never read
    out = tmp_path / "out" / "job.root"
    r = subprocess.run(["run-container-job", "generate", "--sample", SAMPLE, "--job", "0", "--events", "40", "--pdf", "builtin",
                        "--events-per-grid-point", "20", "--samples-config", str(tmp_path / "samples.yaml"),
                        "--delphes-card", str(REPO / "cards" / "delphes" / "delphes_card_CMS_JetClassII_onlyFatJet.tcl"),
                        "--pileup", str(pileup), "--workdir", str(tmp_path / "work"), "-o", str(out)],
                       capture_output=True, text=True, cwd=tmp_path, env={**stack_env, "PYTHONPATH": f"{REPO}:{stack_env.get('PYTHONPATH', '')}"})
    assert r.returncode == 2, r.stderr[-2000:]
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("run-container-job: error:")]
    assert len(errors) == 1 and f"{SAMPLE} job 0: MadGraph batch 0: no event file" in errors[0], r.stderr[-2000:]
    assert not out.exists() and (tmp_path / "work" / "madgraph_session_0000.log").is_file()
