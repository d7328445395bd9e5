"""The Snakemake workflow on a tiny end-to-end production (packing itself: tests/test_packing.py)."""
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import uproot

REPO = Path(__file__).resolve().parents[1]


def snakemake(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True)


def planned_outputs(dry_run_stdout: str) -> set[str]:
    """Output files of the jobs a dry run (``-n``) plans."""
    return {f for line in dry_run_stdout.splitlines() if line.strip().startswith("output:")
            for f in line.split(":", 1)[1].replace(",", " ").split()}


def test_full_production_dag_builds_quickly(tmp_path):
    # the reference's LHAPDF sets are not installed here: the dry run would stop on them (tests/test_pdfsets.py)
    full = ("--configfile", "config/jetclass2_full.yaml", "--config", "container={pdf: builtin}")
    t0 = time.perf_counter()
    r = snakemake("-n", "--cores", "1", *full)
    assert r.returncode == 0, r.stderr[-2000:]
    assert time.perf_counter() - t0 < 60
    # the full configuration writes into its own results directory, never the default's
    outputs = planned_outputs(r.stdout)
    assert len(outputs) > 4000 and all(f.startswith("results_full/") for f in outputs)
    # the container path: the job driver of this checkout, the Delphes pile-up file made by the workflow
    r = snakemake("results_full/ntuples/Res34P/00007.root", "-n", "-p", "--cores", "1", *full)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{REPO}/containers/run-container-job generate --sample Res34P --job $((10#00007)) --events 100000" in r.stdout
    assert "--pileup results_full/pileup/MinBias_100000.pileup --pileup-mean 50 --cores 1" in r.stdout
    assert "run-container-job pileup --events 100000 --seed 1" in r.stdout
    # Delphes writes what the ntuplizer reads unless container.delphes_outputs says full
    # ... and one DelphesPythia8Batches per session unless container.delphes_program says per_batch
    assert "--delphes-outputs ntuples" in r.stdout and "--delphes-per-batch" not in r.stdout
    r = snakemake("results_full/delphes/Res34P/00007.root", "-n", "-p", "--cores", "1", *full[:2], "--config",
                  "container={pdf: builtin, delphes_outputs: full, delphes_program: per_batch}")
    assert r.returncode == 0 and "--delphes-outputs full --delphes-per-batch" in r.stdout, r.stderr[-2000:]


def test_configfile_defines_all_samples(tmp_path):
    """A --configfile listing only QCD runs only QCD: no merge with config/config.yaml's samples."""
    cfg = (REPO / "config" / "config.yaml").read_text()
    start, end = cfg.index("samples:"), cfg.index("generation:")
    only_qcd = cfg[:start] + "samples:\n  QCD: {jobs: 3, events_per_job: 5}\n\n" + cfg[end:]
    only_qcd = only_qcd.replace("results: results ", "results: results_qcd ")
    (tmp_path / "qcd.yaml").write_text(only_qcd)
    r = snakemake("-n", "--cores", "1", "--configfile", str(tmp_path / "qcd.yaml"))
    assert r.returncode == 0, r.stderr[-2000:]
    outputs = planned_outputs(r.stdout)
    assert {f for f in outputs if f.endswith("/delphes/QCD/" + f.rsplit("/", 1)[-1]) and f.endswith(".root")} == \
        {f"results_qcd/delphes/QCD/{j:05d}.root" for j in range(3)}
    assert not {f for f in outputs if "/delphes/" in f and "/QCD/" not in f}
    assert {f for f in outputs if f.endswith(".manifest.json")} == {"results_qcd/dataset/QCD.manifest.json"}


def test_bad_config_is_rejected(tmp_path):
    r = snakemake("-n", "--cores", "1", "--config", "ntuplizer={'config': 'config/ntuplizer.yaml', 'jet_radius': 0.4}")
    assert r.returncode != 0 and "ntuplizer.jet_radius: 0.4 has no clustering settings in config/ntuplizer.yaml" in r.stdout + r.stderr
    r = snakemake("-n", "--cores", "1", "--config", "container={delphes_outputs: all}")
    assert r.returncode != 0 and "container.delphes_outputs: 'all' is not one of ['ntuples', 'full']" in r.stdout + r.stderr


LOCAL = """
seed: 5
results: results
samples:
  Res2P_neutral: {jobs: 1, events_per_job: 12}
  QCD: {jobs: 1, events_per_job: 12}
generation: {backend: embedded, samples_config: config/samples.yaml, min_pt: 500}
detector: {card: cards/delphes/fastsim_CMS_JetClassII.yaml, pileup_mean: 10, pileup_library_events: 40}
ntuplizer: {config: config/ntuplizer.yaml, jet_radius: 0.8}
pack: {jets_per_file: 4, split: [1, 0, 0], files_per_tarball: 10}  # one job per sample: train only
"""


@pytest.fixture(scope="module")
def local_production(tmp_path_factory):
    """A tiny production run in a directory holding its own copies of config/ and cards/."""
    work = tmp_path_factory.mktemp("production")
    shutil.copytree(REPO / "config", work / "config")
    shutil.copytree(REPO / "cards", work / "cards")
    (work / "config" / "config.yaml").write_text(LOCAL)
    r = snakemake("--snakefile", str(REPO / "Snakefile"), "--directory", str(work), "--cores", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    return work


def _jobs(sample):
    return {f"results/delphes/{sample}/00000.root", f"results/ntuples/{sample}/00000.root"}


RES2P, QCD = _jobs("Res2P_neutral"), _jobs("QCD")
PILEUP = {"results/pileup/minbias_40.parquet"}


def _stage_outputs(outputs: set[str]) -> set[str]:
    """The generation, ntuplizing and pile-up outputs among planned outputs (packing, QA follow them)."""
    return {f for f in outputs if re.fullmatch(r"results/(delphes|ntuples)/\w+/\d{5}\.root|results/pileup/[^/]+\.parquet", f)}


def _categories(outputs: set[str]) -> set[str]:
    """Categories whose packed dataset a plan touches."""
    return {c for c in ("Res2P", "QCD") for f in outputs if f.startswith(("results/pack/", "results/dataset/")) and c in f}


@pytest.mark.parametrize("edited,reruns", [
    ("cards/pythia/qcd.cmnd", QCD),
    ("cards/pythia/x_decays_neutral.cmnd", RES2P),  # #include'd by res2p_neutral.cmnd
    ("cards/pythia/common.cmnd", PILEUP | RES2P | QCD),
    ("cards/pythia/minbias.cmnd", PILEUP | RES2P | QCD),
    ("cards/delphes/fastsim_CMS_JetClassII.yaml", RES2P | QCD),
    ("config/samples.yaml", PILEUP | RES2P | QCD),
    ("config/ntuplizer.yaml", {f for f in RES2P | QCD if "/delphes/" not in f}),
])
def test_edited_settings_rerun_exactly_their_jobs(local_production, tmp_path, edited, reruns):
    """Every file that shapes the data is an input: editing one plans the jobs that read it, only those."""
    work = tmp_path / "work"
    shutil.copytree(local_production, work, symlinks=True)  # copy2: modification times kept
    dry = lambda: snakemake("--snakefile", str(REPO / "Snakefile"), "--directory", str(work), "--cores", "1", "-n")  # noqa: E731
    r = dry()
    assert r.returncode == 0 and planned_outputs(r.stdout) == set(), r.stdout[-2000:]
    time.sleep(0.01)
    with open(work / edited, "a") as f:
        f.write("\n# edited\n" if edited.endswith(".yaml") else "\n! edited\n")
    r = dry()
    assert r.returncode == 0, r.stderr[-2000:]
    planned = planned_outputs(r.stdout)
    assert _stage_outputs(planned) == reruns
    # exactly the categories fed by a rerun job are packed again
    assert _categories(planned) == {("QCD" if "/QCD/" in f else "Res2P") for f in reruns if "/pileup/" not in f}


TINY = """
seed: 5
results: results
samples:
  Res2P_neutral: {jobs: 3, events_per_job: 4}   # a job each for train, val and test
  QCD: {jobs: 3, events_per_job: 8}
generation: {backend: embedded, samples_config: REPO/config/samples.yaml, min_pt: 500}
detector: {card: REPO/cards/delphes/fastsim_CMS_JetClassII.yaml, pileup_mean: 10, pileup_library_events: 40}
ntuplizer: {config: REPO/config/ntuplizer.yaml, jet_radius: 0.8}
pack: {jets_per_file: 4, split: [4, 1, 1], files_per_tarball: 10}
training: {gpus: "", epochs: 1, steps_per_epoch: 3, samples_per_epoch: null, batch_size: 4, start_lr: 0.005,
           optimizer: ranger, num_workers: 0, use_amp: false, reweight: false,
           network_options: {fc_params: "[(16,0.1)]", embed_dims: "[8,16,8]", pair_embed_dims: "[4,4,4]",
                             num_heads: 2, num_layers: 1, num_cls_layers: 1}}
"""


def test_tiny_end_to_end_production(tmp_path):
    """generate -> simulate -> ntuplize -> pack for two categories, then one category alone."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(TINY.replace("REPO", str(REPO)))
    run = lambda *a: snakemake("--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "2", *a)  # noqa: E731
    r = run()
    assert r.returncode == 0, r.stderr[-3000:]
    results = tmp_path / "results"
    for cat in ("Res2P", "QCD"):
        m = json.loads((results / "dataset" / f"{cat}.manifest.json").read_text())
        n_ntuple = sum(uproot.open(p)["tree"].num_entries for p in (results / "ntuples").glob(f"{cat}*/*.root"))
        assert m["jets"] == n_ntuple > 0
        assert sum(f["jets"] for f in m["files"]) == m["jets"]
    qcd_labels = json.loads((results / "dataset" / "QCD.manifest.json").read_text())["labels"]
    assert all(161 <= int(k) <= 187 for k in qcd_labels)
    res2p_labels = json.loads((results / "dataset" / "Res2P.manifest.json").read_text())["labels"]
    assert all(0 <= int(k) <= 14 for k in res2p_labels)
    # every packed file checked against its manifest, the QA page and `snakemake --report`
    for cat in ("Res2P", "QCD"):
        assert json.loads((results / "dataset" / ".verified" / f"{cat}.json").read_text())[cat]["files"]
        assert json.loads((results / "qa" / cat / "summary.json").read_text())["status"] in ("PASS", "WARN")
    assert "Dataset QA" in (results / "qa" / "summary.html").read_text()
    r = run("--report", str(tmp_path / "report.html"))
    assert r.returncode == 0 and (tmp_path / "report.html").stat().st_size > 100_000, r.stderr[-2000:]
    r = run("results/dataset/verified.ok")
    assert r.returncode == 0 and (results / "dataset" / "verified.ok").exists(), r.stderr[-2000:]
    # regenerate one category without touching the other
    before = (results / "dataset" / "Res2P.manifest.json").stat().st_mtime_ns
    shutil.rmtree(results / "ntuples" / "QCD")
    r = run("--config", "categories=[QCD]")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (results / "dataset" / "Res2P.manifest.json").stat().st_mtime_ns == before
    assert (results / "dataset" / "QCD.manifest.json").exists()
    # the QA page was rewritten for QCD and still shows Res2P, plots embedded
    page = (results / "qa" / "summary.html").read_text()
    assert all(page.count(f"alt='{cat} ") == 6 for cat in ("Res2P", "QCD"))
    # a byte flipped after verified.ok exists: `snakemake train` refuses, naming the file (weaver
    # itself skipped the file and exited 0); restored, training proceeds
    victim = (results / "dataset" / "QCD_0000.root").resolve()
    original = victim.read_bytes()
    victim.write_bytes(original[:2000] + bytes([original[2000] ^ 1]) + original[2001:])
    r = run("train")
    assert r.returncode != 0 and not (results / "training" / "best_epoch_state.pt").exists()
    log = (results / "logs" / "train.log").read_text().strip().splitlines()
    assert log[-1].startswith("jetclass2.training.launch: dataset refused: ") and "QCD_0000.root: SHA-256" in log[-1], log[-3:]
    victim.write_bytes(original)
    # `snakemake train export evaluate` on what the workflow produced
    r = run("train", "export", "evaluate")
    assert r.returncode == 0, (r.stderr + r.stdout)[-3000:]
    import onnxruntime

    sess = onnxruntime.InferenceSession(str(results / "training" / "model.onnx"))
    rng = np.random.default_rng(0)
    feeds = {i.name: np.abs(rng.normal(1, 0.3, (1, i.shape[1], 128))).astype(np.float32) for i in sess.get_inputs()}
    scores = sess.run(None, feeds)[0]
    assert scores.shape == (1, 188 + 8)  # class scores, then the embedding
    assert abs(scores[0, :188].sum() - 1) < 1e-4
    summary = json.loads((results / "training" / "evaluation" / "summary.json").read_text())
    test_jets = sum(uproot.open(results / "dataset" / f["file"])["tree"].num_entries
                    for cat in ("Res2P", "QCD")
                    for f in json.loads((results / "dataset" / f"{cat}.manifest.json").read_text())["files"]
                    if f["split"] == "test")
    assert 0 < summary["jets"] <= test_jets  # the data configuration's jet selection applies
    assert sum(map(sum, summary["group_confusion"])) == summary["jets"]
    assert (results / "training" / "evaluation" / "confusion_groups.png").stat().st_size > 0


def test_container_images_share_their_build_steps():
    """Docker and Apptainer recipes of both images run the same install script, which is valid bash;
    the training image installs the torch version the project pins."""
    import re

    containers = REPO / "containers"
    for image, script in (("generation", "install-generation-stack.sh"), ("training", "install-training-stack.sh")):
        assert script in (containers / f"{image}.Dockerfile").read_text()
        post = (containers / f"{image}.def").read_text().split("%post", 1)[1]
        assert f"containers/{script}" in post
        assert subprocess.run(["bash", "-n", str(containers / script)]).returncode == 0
    # The generation stack pins the reference's Delphes, the offline MG5 and the project's own Pythia
    stack = (containers / "install-generation-stack.sh").read_text()
    pinned = dict(re.findall(r"^readonly (\w+_VERSION)=(\S+)$", stack, flags=re.M))
    assert pinned["DELPHES_VERSION"] == "3.5.0" and pinned["MG5_VERSION"] == "3.1.1"
    pythia_pin = re.search(r'"pythia8mc==([0-9.]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert pinned["PYTHIA8MC_VERSION"] == pythia_pin
    pin = re.search(r'"torch==([0-9.]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert f'"torch=={pin}"' in (containers / "install-training-stack.sh").read_text()
