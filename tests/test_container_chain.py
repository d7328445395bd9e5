"""The container backend for real: MadGraph5_aMC@NLO -> Pythia 8 -> Delphes 3.5.0, run natively through
the workflow on config/container_smoke.yaml (one job of 2 grid points x 20 events per sample), then
ntuplized and packed; and the job driver's errors on bad input.

The generation stack comes from its cache directory (containers/stack-cache-dir); when it is not
built yet and the compilers are here, the stack is built there first from ../shared/toolchain
(~30 min on 2 cores; .ci/run builds it before the tests).
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from jetclass2.generation import container_job

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "config" / "container_smoke.yaml"
SMOKE_CFG = yaml.safe_load(SMOKE.read_text())
RESULTS = SMOKE_CFG["results"]
SAMPLES_CFG = yaml.safe_load((REPO / SMOKE_CFG["generation"]["samples_config"]).read_text())
FAMILY = {"Res2P": ("X_",), "Res34P": ("X_YY_",), "QCD": ("QCD_",)}  # label-name prefixes of each category


def _stack_dir() -> Path:
    return Path(subprocess.run(["bash", str(REPO / "containers" / "stack-cache-dir")], capture_output=True,
                               text=True, check=True).stdout.strip())


@pytest.fixture(scope="session")
def stack(shared_dir):
    """``setup.sh`` of the generation stack, built into its cache directory if needed (and possible)."""
    prefix = _stack_dir()
    if not (prefix / ".complete").is_file():
        toolchain = shared_dir.parent / "toolchain"
        missing = [t for t in ("g++", "gfortran", "make") if shutil.which(t) is None]
        if missing or not toolchain.is_dir():
            pytest.skip(f"generation stack not built at {prefix} and cannot be built here "
                        f"({'missing ' + ', '.join(missing) if missing else f'no {toolchain}'})")
        r = subprocess.run(["bash", str(REPO / "containers" / "install-generation-stack.sh"), "--prefix", str(prefix),
                            "--sources", str(toolchain)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
    return prefix / "setup.sh"


def _in_stack(setup: Path, cmd: str, cwd: Path, env=None):
    return subprocess.run(["bash", "-c", f". '{setup}' && {cmd}"], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def _snakemake(setup: Path, workdir: Path, *targets: str):
    cmd = (f"{sys.executable} -m snakemake {' '.join(targets)} --snakefile {REPO / 'Snakefile'} --directory {workdir} "
           f"--cores 2 --configfile {SMOKE}")
    r = _in_stack(setup, cmd, workdir)
    logs = "".join(f"\n== {p}\n" + p.read_text()[-1500:] for p in sorted((workdir / RESULTS / "logs").rglob("*.log")))
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:] + logs[-6000:]
    return workdir / RESULTS


@pytest.fixture(scope="module")
def smoke(stack, tmp_path_factory):
    """The whole smoke configuration: pile-up file, 4 generation jobs, ntuples, packed dataset."""
    return _snakemake(stack, tmp_path_factory.mktemp("container_smoke"))


def _resonance_masses(particles, pid: int) -> np.ndarray:
    """Per event, the median mass of the generator particles with |PID| == pid (the X copies)."""
    sel = np.abs(particles["Particle.PID"]) == pid
    return np.array([np.median(m) if len(m) else np.nan for m in ak.to_list(particles["Particle.Mass"][sel])])


def test_every_job_has_its_events_and_grid_points(smoke):
    for sample, size in SMOKE_CFG["samples"].items():
        path = smoke / "delphes" / sample / "00000.root"
        batches = json.loads(Path(f"{path}.gridpoints.json").read_text())["batches"]
        assert [b["events"] for b in batches] == [20, 20]
        with uproot.open(path) as f:
            tree = f["Delphes"]
            assert tree.num_entries == size["events_per_job"] == 40
            particles = tree.arrays(["Particle.PID", "Particle.Mass", "Particle.PT", "Particle.Status"])
            assert ak.all(ak.num(tree["ParticleFlowCandidate.PT"].array()) > 0)
        info = SAMPLES_CFG["samples"][sample]
        per_event = np.repeat(np.arange(len(batches)), [b["events"] for b in batches])
        if "resonance" in info:
            # MadGraph ran each batch at its own X mass, and Pythia kept it through the shower
            masses = [b["mass_x"] for b in batches]
            assert masses[0] != masses[1]
            m = _resonance_masses(particles, info["resonance"])
            np.testing.assert_allclose(m, np.array(masses)[per_event], rtol=0.01)
        else:
            # Pythia alone, each batch above its own pTHat_min: the outgoing hard partons (status 23)
            pthat = [b["pthat_min"] for b in batches]
            assert pthat[0] != pthat[1]
            hard = particles["Particle.PT"][particles["Particle.Status"] == 23]
            assert np.all(ak.to_numpy(ak.max(hard, axis=1)) >= np.array(pthat)[per_event] * 0.999)


def test_jets_carry_their_family_labels_and_are_packed(smoke):
    from jetclass2.ntuplizer.labels import LABEL_NAMES

    per_category = {}
    for sample in SMOKE_CFG["samples"]:
        category = SAMPLES_CFG["samples"][sample]["category"]
        with uproot.open(smoke / "ntuples" / sample / "00000.root") as f:
            labels = f["tree"]["jet_label"].array(library="np")
        assert len(labels) > 0, sample
        names = {LABEL_NAMES[i] for i in labels}
        assert all(n.startswith(FAMILY[category]) for n in names), (sample, names)
        if category == "Res2P":
            assert not any(n.startswith("X_YY_") for n in names), (sample, names)
        per_category[category] = per_category.get(category, 0) + len(labels)
    for category, jets in per_category.items():
        manifest = json.loads((smoke / "dataset" / f"{category}.manifest.json").read_text())
        assert manifest["jets"] == jets
    # each job's work directory (MadGraph process, LHE files, batch files) is gone
    assert [p for p in (smoke / "work").rglob("*") if p.is_file()] == []


def test_same_configuration_same_jets(smoke, stack, tmp_path):
    """A second run of the same configuration (one MadGraph sample and QCD) gives the same jets."""
    targets = [f"{RESULTS}/ntuples/{s}/00000.root" for s in ("Res2P_neutral", "QCD")]
    again = _snakemake(stack, tmp_path, *targets)
    for target in targets:
        rel = Path(target).relative_to(RESULTS)
        with uproot.open(smoke / rel) as a, uproot.open(again / rel) as b:
            first, second = a["tree"].arrays(), b["tree"].arrays()
        assert len(first) > 0 and first.fields == second.fields
        for field in first.fields:
            assert ak.all(first[field] == second[field]), (target, field)


# ---- bad input: one line naming the job and the step, exit status 2, no output -----------------------


def _driver(setup: Path | None, args: list[str], cwd: Path, env=None):
    cmd = " ".join(["bash", str(REPO / "containers" / "run-container-job"), *map(str, args)])
    if setup is None:
        return subprocess.run(["bash", "-c", cmd], cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    return _in_stack(setup, cmd, cwd, env)


def _job_args(tmp_path: Path, sample: str, pileup, samples_config=None, events=40):
    args = ["generate", "--sample", sample, "--job", 0, "--events", events, "--seed", 1, "--pdf", "builtin",
            "--events-per-grid-point", 20, "--delphes-card", REPO / SMOKE_CFG["container"]["delphes_card"],
            "--workdir", tmp_path / "work", "-o", tmp_path / "out" / "job.root"]
    args += ["--pileup", pileup] if pileup else []
    return args + (["--samples-config", samples_config] if samples_config else [])


def _assert_failed(r, message: str, tmp_path: Path):
    assert r.returncode == 2, r.stdout + r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("run-container-job: error:")]
    assert len(errors) == 1 and message in errors[0], r.stderr[-2000:]
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def _fake_pileup(tmp_path: Path) -> Path:
    """A file that passes the driver's pile-up check (one event, as its trailing count says); never read."""
    pileup = tmp_path / "minbias.pileup"
    pileup.write_bytes(b"\0" * 7 + b"\x01")
    return pileup


def test_missing_tool_and_missing_pileup_file(tmp_path):
    pileup = _fake_pileup(tmp_path)
    path = ":".join(p for p in os.environ["PATH"].split(":")
                    if not any((Path(p) / tool).exists() for tool in ("DelphesPythia8", "root-config")))
    r = _driver(None, _job_args(tmp_path, "QCD", pileup) + ["--delphes-per-batch"], tmp_path, {"PATH": path})
    _assert_failed(r, "QCD job 0: tools: DelphesPythia8", tmp_path)
    r = _driver(None, _job_args(tmp_path, "QCD", pileup), tmp_path, {"PATH": path})  # to compile DelphesPythia8Batches
    _assert_failed(r, "QCD job 0: tools: root-config", tmp_path)
    r = _driver(None, _job_args(tmp_path, "QCD", tmp_path / "nope.pileup"), tmp_path)
    _assert_failed(r, f"QCD job 0: inputs: pile-up file {tmp_path / 'nope.pileup'} not found", tmp_path)


def _samples_with(tmp_path: Path, sample: str, key: str, card_text: str) -> Path:
    """A copy of the samples file whose ``sample`` reads ``card_text`` as its container card ``key``."""
    cfg = yaml.safe_load((REPO / "config" / "samples.yaml").read_text())
    card = tmp_path / f"{key}.card"
    card.write_text(card_text)
    cfg["samples"][sample]["container"][key] = str(card)
    path = tmp_path / "samples.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_madgraph_failure_is_caught(stack, tmp_path):
    """MadGraph exits 0 when its model does not exist: the missing process directory is the error."""
    proc = (REPO / "cards" / "madgraph" / "res2p_neutral_proc.dat").read_text().replace("import model", "import model no_such_")
    cfg = _samples_with(tmp_path, "Res2P_neutral", "madgraph_process", proc)
    r = _driver(stack, _job_args(tmp_path, "Res2P_neutral", _fake_pileup(tmp_path), cfg), tmp_path)
    _assert_failed(r, "Res2P_neutral job 0: MadGraph process: no process directory", tmp_path)


def test_fewer_events_than_asked(smoke, stack, tmp_path):
    """A Pythia card that stops early (Main:numberOfEvents) leaves a batch short: named, nothing written."""
    card = (REPO / SAMPLES_CFG["samples"]["QCD"]["container"]["pythia"]).read_text() + "Main:numberOfEvents = 5\n"
    cfg = _samples_with(tmp_path, "QCD", "pythia", card)
    pileup = next((smoke / "pileup").glob("*.pileup"))
    r = _driver(stack, _job_args(tmp_path, "QCD", pileup, cfg), tmp_path)
    _assert_failed(r, "QCD job 0: Pythia+Delphes batch 0: 5 events, 20 asked", tmp_path)
    r = _driver(stack, _job_args(tmp_path, "QCD", pileup, cfg) + ["--delphes-per-batch"], tmp_path)
    _assert_failed(r, "QCD job 0: Pythia+Delphes batch 0: 5 events in delphes.root, 20 asked", tmp_path)
    assert container_job.pileup_entries(pileup) == SMOKE_CFG["detector"]["pileup_library_events"]
