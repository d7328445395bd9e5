"""The images for real (containers/build-image.sh: buildah, chroot isolation, a Debian 12 base from debootstrap).

Generation image: the container smoke production's generation jobs (config/container_smoke.yaml, the pile-up
file, one Res2P_neutral job through MadGraph and one QCD job, 2 grid points x 20 events each) run by Snakemake
and the job driver *inside* the image, with the checkout bound read-only and the results directory bound; the
same checks as the native smoke test (tests/test_container_chain.py), and the same events as the same jobs
run natively with the stack the image reuses. Training image: weaver-core 0.5.3 and torch 2.13.0, and a
smoke training (tests/test_training.py's) that lowers the loss.

The images come from their cache directory (containers/image-cache-dir), built by .ci/run under CI=true;
without buildah, root or a built image the tests skip, saying which. Each run keeps its containers in a
storage of its own under tmp_path, reading the cached images as a read-only image store.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml
from uproot.interpretation.jagged import AsJagged
from uproot.interpretation.numerical import AsDtype

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "config" / "container_smoke.yaml"
SMOKE_CFG = yaml.safe_load(SMOKE.read_text())
RESULTS = SMOKE_CFG["results"]
SAMPLES_CFG = yaml.safe_load((REPO / SMOKE_CFG["generation"]["samples_config"]).read_text())
SAMPLES = ("Res2P_neutral", "QCD")  # one MadGraph (heft, the cheapest) and one Pythia-only sample
FAMILY = {"Res2P": ("X_",), "QCD": ("QCD_",)}
NOT_PHYSICS = ("fUniqueID", "fBits", "ReadTime", "ProcTime")  # ROOT bookkeeping and Delphes' timings


def _cache_dir(script: str) -> Path:
    return Path(subprocess.run(["bash", str(REPO / "containers" / script)], capture_output=True, text=True,
                               check=True).stdout.strip())


def _images() -> dict[str, str]:
    """{'generation': IMAGE, 'training': IMAGE} of the built cache, or a skip saying what is missing."""
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed (.ci/run installs it and builds the images under CI=true; "
                    "by hand: install the Debian packages buildah and debootstrap, then run containers/build-image.sh)")
    if os.geteuid() != 0:
        pytest.skip("buildah's chroot isolation needs root")
    done = _cache_dir("image-cache-dir") / ".complete"
    if not done.is_file():
        pytest.skip(f"no images built at {done.parent} (containers/build-image.sh builds them there)")
    return {re.search(r"jetclass2-(\w+):", line.split()[0]).group(1): line.split()[0]
            for line in done.read_text().splitlines() if line.strip()}


class Container:
    """A working container of a cached image in a storage under ``tmp``; commands run with chroot isolation."""

    def __init__(self, image: str, tmp: Path, binds: list[Path]):
        store = _cache_dir("image-cache-dir") / "storage"
        self.buildah = ["buildah", "--root", str(tmp / "root"), "--runroot", str(tmp / "run"),
                        "--storage-driver", "overlay", "--storage-opt", f"overlay.imagestore={store}"]
        self.binds = binds
        r = subprocess.run([*self.buildah, "from", "--pull=never", image], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        self.name = r.stdout.strip().splitlines()[-1]

    def run(self, cmd: str, cwd: Path, env: dict | None = None, timeout: int = 1800) -> subprocess.CompletedProcess:
        """``cmd`` in bash inside the container (the image's environment, its stack's setup.sh through BASH_ENV)."""
        volumes = [a for b in self.binds for a in ("-v", f"{b[0]}:{b[0]}:{b[1]}")]
        envs = [a for k, v in (env or {}).items() for a in ("--env", f"{k}={v}")]
        return subprocess.run([*self.buildah, "run", "--isolation", "chroot", *volumes, *envs, self.name, "--",
                               "bash", "-c", f"cd {shlex.quote(str(cwd))} && {cmd}"],
                              capture_output=True, text=True, timeout=timeout)

    def remove(self):
        subprocess.run([*self.buildah, "rm", self.name], capture_output=True)


def _snakemake_cmd(python: str, workdir: Path, targets: list[str]) -> str:
    return (f"{python} -m snakemake {' '.join(targets)} --snakefile {REPO / 'Snakefile'} --directory {workdir} "
            f"--cores 2 --configfile {SMOKE}")


def _logs(workdir: Path) -> str:
    return "".join(f"\n== {p}\n" + p.read_text()[-1500:] for p in sorted((workdir / RESULTS / "logs").rglob("*.log")))


DELPHES = [f"{RESULTS}/delphes/{s}/00000.root" for s in SAMPLES]
NTUPLES = [f"{RESULTS}/ntuples/{s}/00000.root" for s in SAMPLES]


def _image(kind: str) -> str:
    """The cached image of ``kind``, or skip the test saying it is absent."""
    image = _images().get(kind)
    if image is None:
        pytest.skip(f"the image cache holds no {kind} image")
    return image


@pytest.fixture(scope="module")
def generation_image():
    return _image("generation")


@pytest.fixture(scope="module")
def in_image(generation_image, tmp_path_factory):
    """The pile-up file and the two generation jobs made by Snakemake inside the image, then ntuplized here."""
    tmp = tmp_path_factory.mktemp("in_image")
    workdir = tmp / "work"
    workdir.mkdir()
    ctr = Container(generation_image, tmp, [(REPO, "ro"), (workdir, "rw")])
    try:
        r = ctr.run(_snakemake_cmd("python3", workdir, DELPHES), workdir)
        assert r.returncode == 0, (r.stdout + r.stderr)[-3000:] + _logs(workdir)[-6000:]
        versions = ctr.run("python3 -c 'import platform, sys; print(sys.version); "
                           "print(platform.freedesktop_os_release()[\"VERSION_ID\"])'; "
                           "echo $JETCLASS2_STACK", workdir)
    finally:
        ctr.remove()
    stamps = {t: (workdir / t).stat().st_mtime_ns for t in DELPHES}
    # ntuplizing is not a container rule: the host's Snakemake goes on from the image's outputs
    r = subprocess.run(["bash", "-c", _snakemake_cmd(sys.executable, workdir, NTUPLES)], cwd=workdir,
                       capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:] + _logs(workdir)[-3000:]
    assert {t: (workdir / t).stat().st_mtime_ns for t in DELPHES} == stamps, "the host reran the image's jobs"
    return workdir / RESULTS, versions.stdout


@pytest.fixture(scope="module")
def native(in_image, tmp_path_factory):
    """The same targets natively, with the generation stack the image was built from."""
    setup = _cache_dir("stack-cache-dir") / "setup.sh"
    if not setup.is_file():
        pytest.skip(f"no native generation stack at {setup.parent} to compare with")
    workdir = tmp_path_factory.mktemp("native")
    r = subprocess.run(["bash", "-c", f". '{setup}' && " + _snakemake_cmd(sys.executable, workdir, DELPHES)],
                       cwd=workdir, capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:] + _logs(workdir)[-6000:]
    return workdir / RESULTS


def test_the_image_runs_its_own_stack(in_image):
    _, versions = in_image
    assert versions.split()[0].startswith("3.11.") and versions.split()[-1] == "/opt/jetclass2-stack"
    assert versions.split()[-2] == "12"  # Debian 12, the release the stack was built on


def test_every_job_has_its_events_and_grid_points(in_image):
    results, _ = in_image
    for sample in SAMPLES:
        path = results / "delphes" / sample / "00000.root"
        batches = json.loads(Path(f"{path}.gridpoints.json").read_text())["batches"]
        assert [b["events"] for b in batches] == [20, 20]
        with uproot.open(path) as f:
            tree = f["Delphes"]
            assert tree.num_entries == SMOKE_CFG["samples"][sample]["events_per_job"] == 40
            particles = tree.arrays(["Particle.PID", "Particle.Mass", "Particle.PT", "Particle.Status"])
            assert ak.all(ak.num(tree["ParticleFlowCandidate.PT"].array()) > 0)
        info = SAMPLES_CFG["samples"][sample]
        per_event = np.repeat(np.arange(len(batches)), [b["events"] for b in batches])
        if "resonance" in info:  # MadGraph ran each batch at its own X mass, and Pythia kept it
            masses = [b["mass_x"] for b in batches]
            assert masses[0] != masses[1]
            sel = np.abs(particles["Particle.PID"]) == info["resonance"]
            m = np.array([np.median(x) for x in ak.to_list(particles["Particle.Mass"][sel])])
            np.testing.assert_allclose(m, np.array(masses)[per_event], rtol=0.01)
        else:  # Pythia alone, each batch above its own pTHat_min (outgoing hard partons, status 23)
            pthat = [b["pthat_min"] for b in batches]
            assert pthat[0] != pthat[1]
            hard = particles["Particle.PT"][particles["Particle.Status"] == 23]
            assert np.all(ak.to_numpy(ak.max(hard, axis=1)) >= np.array(pthat)[per_event] * 0.999)


def test_jets_carry_their_family_labels(in_image):
    from jetclass2.ntuplizer.labels import LABEL_NAMES

    results, _ = in_image
    for sample in SAMPLES:
        category = SAMPLES_CFG["samples"][sample]["category"]
        with uproot.open(results / "ntuples" / sample / "00000.root") as f:
            labels = f["tree"]["jet_label"].array(library="np")
        names = {LABEL_NAMES[i] for i in labels}
        assert len(labels) > 0 and all(n.startswith(FAMILY[category]) for n in names), (sample, names)
        assert not any(n.startswith("X_YY_") for n in names), (sample, names)
    assert [p for p in (results / "work").rglob("*") if p.is_file()] == []  # work directories removed


def _physics_branches(tree) -> list[str]:
    return [k for k, b in tree.iteritems() if "/" in k and not k.startswith("Event/")
            and isinstance(b.interpretation, (AsJagged, AsDtype)) and k.rsplit(".", 1)[-1] not in NOT_PHYSICS]


def test_same_events_as_natively(in_image, native):
    """Same seeds, same stack: the pile-up file is byte-identical and every physics branch of the Delphes
    output (MadGraph's LHE event, generator particles, PUPPI candidates, vertices: the card trimmed to
    what ntuplize reads, container.delphes_outputs: ntuples) is equal."""
    results, _ = in_image
    pileup = f"pileup/MinBias_{SMOKE_CFG['detector']['pileup_library_events']}.pileup"
    assert (results / pileup).read_bytes() == (native / pileup).read_bytes()
    for sample in SAMPLES:
        rel = Path("delphes") / sample / "00000.root"
        with uproot.open(results / rel) as a, uproot.open(native / rel) as b:
            names = _physics_branches(a["Delphes"])
            assert names == _physics_branches(b["Delphes"]) and len(names) > 90
            assert {n.split("/")[0] for n in names} >= {"EventLHEF", "Particle", "ParticleFlowCandidate", "Vertex"}
            if "resonance" not in SAMPLES_CFG["samples"][sample]:
                # Pythia alone reads an empty LHE file (/dev/null, docs/container.md): DelphesPythia8 still
                # fills EventLHEF, whose ProcessID is then uninitialised memory (two native runs differ too)
                names = [n for n in names if not n.startswith(("EventLHEF/", "WeightLHEF/"))]
            first, second = a["Delphes"].arrays(names), b["Delphes"].arrays(names)
        assert len(first) == len(second) == 40
        for name in names:
            assert ak.array_equal(first[name], second[name], equal_nan=True), (sample, name)
        if sample != "QCD":  # MadGraph's events themselves
            assert ak.all(ak.num(first["EventLHEF/EventLHEF.Number"]) == 1)
            assert len(set(ak.flatten(first["Particle/Particle.PT"]).tolist())) > 1000


# ---- training image ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def training_image():
    return _image("training")


def test_training_image_trains(training_image, shared_dir, tmp_path):
    """weaver-core 0.5.3 and torch 2.13.0 import; tests/test_training.py's smoke training lowers the loss."""
    ntuples = [shared_dir / "ntuples" / n for n in ("hbb_m125_pt500_200events.ntuple.root",
                                                    "res2p_higgs2p_10events.qcdlabels.ntuple.root")]
    tiny = ("-o fc_params '[(32,0.1)]' -o embed_dims '[16,32,16]' -o pair_embed_dims '[8,8,8]' -o num_heads 2 "
            "-o num_layers 1 -o num_cls_layers 1")
    ctr = Container(training_image, tmp_path, [(REPO, "ro"), (shared_dir, "ro"), (tmp_path, "rw")])
    try:
        versions = ctr.run("python -c 'import importlib.metadata as m, torch; "
                           "print(m.version(\"weaver-core\"), torch.__version__)'", tmp_path)
        r = ctr.run(
            f"python -c 'from jetclass2.training import data_config; data_config.write(\"dc.yaml\", reweight=False)' && "
            f"python -m weaver.train --data-train {ntuples[0]} {ntuples[1]} --data-val {ntuples[1]} --data-config dc.yaml "
            f"--network-config {REPO / 'jetclass2' / 'training' / 'network_sophon.py'} -o num_classes 188 {tiny} "
            "--model-prefix net --num-epochs 4 --steps-per-epoch 8 --batch-size 16 --start-lr 3e-3 --optimizer adam "
            "--lr-scheduler none --gpus '' --num-workers 0 --fetch-step 1 --in-memory",
            tmp_path, env={"PYTHONPATH": str(REPO)})
    finally:
        ctr.remove()
    assert versions.returncode == 0, versions.stderr[-2000:]
    weaver, torch = versions.stdout.split()
    assert weaver == "0.5.3" and torch.split("+")[0] == "2.13.0"
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    losses = [float(x) for x in re.findall(r"Train AvgLoss: ([0-9.]+)", r.stdout + r.stderr)]
    assert len(losses) == 4 and losses[-1] < losses[0] - 0.2, losses
    assert list(tmp_path.glob("net_epoch-3_state.pt"))
