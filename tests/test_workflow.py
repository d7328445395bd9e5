"""The Snakemake workflow and the pack stage, on real ntuples and a tiny end-to-end production."""
import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import uproot

from packing.pack import PackingError, pack_category, split_ranges

REPO = Path(__file__).resolve().parents[1]
REF_NTUPLES = ["hbb_m125_pt500_200events.ntuple.root", "res2p_higgs2p_10events.qcdlabels.ntuple.root"]


def test_split_ranges_4_1_1():
    r = split_ranges(12)
    assert (len(r["train"]), len(r["val"]), len(r["test"])) == (8, 2, 2)
    assert r["train"].stop == r["val"].start and r["val"].stop == r["test"].start == 10
    r = split_ranges(3)
    assert [len(v) for v in r.values()] == [1, 1, 1]


def test_pack_shuffles_splits_and_conserves_jets(shared_dir, tmp_path):
    inputs = [shared_dir / "ntuples" / n for n in REF_NTUPLES]
    m = pack_category("Res2P", inputs, tmp_path, jets_per_file=25, seed=3, files_per_tarball=3)
    n_in = sum(uproot.open(p)["tree"].num_entries for p in inputs)
    assert m["jets"] == n_in == 196
    assert [f["jets"] for f in m["files"]] == [25] * 7 + [21]
    assert [f["split"] for f in m["files"]] == ["train"] * 6 + ["val", "test"]
    splits = [f["split"] for f in m["files"]]
    assert splits == sorted(splits, key=["train", "val", "test"].index)  # contiguous index ranges
    out_labels = np.concatenate([uproot.open(tmp_path / f["file"])["tree"]["jet_label"].array(library="np") for f in m["files"]])
    in_labels = np.concatenate([uproot.open(p)["tree"]["jet_label"].array(library="np") for p in inputs])
    assert sorted(out_labels.tolist()) == sorted(in_labels.tolist())
    # shuffled globally: the first file mixes both inputs' jets (the 10-event file has QCD_light, label 187)
    first = [uproot.open(tmp_path / m["files"][i]["file"])["tree"]["jet_pt"].array(library="np") for i in range(len(m["files"]))]
    assert not np.array_equal(np.concatenate(first)[:175],
                              uproot.open(inputs[0])["tree"]["jet_pt"].array(library="np"))
    assert [t["file"] for t in m["tarballs"]] == ["Res2P_0000-0002.tar", "Res2P_0003-0005.tar", "Res2P_0006-0007.tar"]
    with tarfile.open(tmp_path / "Res2P_0003-0005.tar") as tar:
        assert tar.getnames() == ["Res2P_0003.root", "Res2P_0004.root", "Res2P_0005.root"]
    assert json.loads((tmp_path / "Res2P.manifest.json").read_text())["files"][0]["sha256"] == m["files"][0]["sha256"]
    # same seed, same dataset (ROOT files carry a random UUID, so compare contents)
    m2 = pack_category("Res2P", inputs, tmp_path / "again", jets_per_file=25, seed=3, files_per_tarball=3)
    for f in m2["files"]:
        a = uproot.open(tmp_path / "again" / f["file"])["tree"]["jet_pt"].array(library="np")
        b = uproot.open(tmp_path / f["file"])["tree"]["jet_pt"].array(library="np")
        assert np.array_equal(a, b)


def test_pack_rejects_bad_input(tmp_path):
    bad = tmp_path / "bad.root"
    bad.write_text("nope")
    with pytest.raises(PackingError, match="bad.root"):
        pack_category("QCD", [bad], tmp_path / "out")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("QCD_*"))


def snakemake(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True)


def planned_outputs(dry_run_stdout: str) -> set[str]:
    """Output files of the jobs a dry run (``-n``) plans."""
    return {f for line in dry_run_stdout.splitlines() if line.strip().startswith("output:")
            for f in line.split(":", 1)[1].replace(",", " ").split()}


def test_full_production_dag_builds_quickly(tmp_path):
    full = ("--configfile", "config/jetclass2_full.yaml")
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
    assert {f for f in outputs if "/delphes/" in f} == {f"results_qcd/delphes/QCD/{j:05d}.root" for j in range(3)}
    assert {f for f in outputs if f.endswith(".manifest.json")} == {"results_qcd/dataset/QCD.manifest.json"}


def test_bad_config_is_rejected(tmp_path):
    r = snakemake("-n", "--cores", "1", "--config", "ntuplizer={'config': 'config/ntuplizer.yaml', 'jet_radius': 0.4}")
    assert r.returncode != 0 and "ntuplizer.jet_radius: 0.4 has no clustering settings in config/ntuplizer.yaml" in r.stdout + r.stderr


LOCAL = """
seed: 5
results: results
samples:
  Res2P_neutral: {jobs: 1, events_per_job: 12}
  QCD: {jobs: 1, events_per_job: 12}
generation: {backend: embedded, samples_config: config/samples.yaml, min_pt: 500}
detector: {card: cards/delphes/fastsim_CMS_JetClassII.yaml, pileup_mean: 10, pileup_library_events: 40}
ntuplizer: {config: config/ntuplizer.yaml, jet_radius: 0.8}
pack: {jets_per_file: 4, split: [4, 1, 1], files_per_tarball: 10}
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


def _jobs(sample, category):
    return {f"results/delphes/{sample}/00000.root", f"results/ntuples/{sample}/00000.root",
            f"results/dataset/{category}.manifest.json"}


RES2P, QCD = _jobs("Res2P_neutral", "Res2P"), _jobs("QCD", "QCD")
PILEUP = {"results/pileup/minbias_40.parquet"}


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
    assert planned_outputs(r.stdout) == reruns


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
