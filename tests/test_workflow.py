"""The Snakemake workflow on a tiny end-to-end production (packing itself: tests/test_packing.py)."""
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import uproot

REPO = Path(__file__).resolve().parents[1]


def snakemake(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True)


def test_full_production_dag_builds_quickly():
    t0 = time.perf_counter()
    r = snakemake("-n", "--cores", "1", "--configfile", "config/jetclass2_full.yaml")
    assert r.returncode == 0, r.stderr[-2000:]
    assert time.perf_counter() - t0 < 60
    # the container path: MadGraph cards rendered per job, then the container job
    r = snakemake("results/ntuples/Res34P/00007.root", "-n", "-p", "--cores", "1", "--configfile", "config/jetclass2_full.yaml")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "render-cards --sample Res34P --job $((10#00007)) --events 100000" in r.stdout


def test_bad_config_is_rejected(tmp_path):
    r = snakemake("-n", "--cores", "1", "--config", "ntuplizer={'config': 'config/ntuplizer.yaml', 'jet_radius': 0.4}")
    assert r.returncode != 0 and "jet_radius" in (r.stderr + r.stdout)


TINY = """
seed: 5
results: results
samples:
  Res2P_neutral: {jobs: 1, events_per_job: 12}
  QCD: {jobs: 1, events_per_job: 12}
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
    stack = (containers / "install-generation-stack.sh").read_text()
    for piece in ("MG5_aMC", "2HDM_NLO", "NNPDF31_nnlo", "Delphes-", "HAS_PYTHIA8=true", "--with-hepmc2", "--with-lhapdf6"):
        assert piece in stack, piece
    pin = re.search(r'"torch==([0-9.]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert f'"torch=={pin}"' in (containers / "install-training-stack.sh").read_text()
