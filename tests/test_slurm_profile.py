"""`snakemake --profile slurm` on a real single-node Slurm (started by .ci/setup_slurm.sh)."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import uproot
from test_workflow import REPO, TINY

SETUP = REPO / ".ci" / "setup_slurm.sh"


@pytest.fixture(scope="module")
def slurm():
    if shutil.which("sbatch") is None and (os.geteuid() != 0 or shutil.which("apt-get") is None):
        pytest.skip("Slurm is not installed and cannot be installed here (needs root and apt-get)")
    started = subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True).returncode != 0
    r = subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    yield
    if started:  # stop only the daemons this test started
        subprocess.run(["bash", str(SETUP), "stop"], timeout=60)


def test_profile_runs_the_workflow_through_slurm(slurm, tmp_path):
    cfg = TINY.replace("REPO", str(REPO)).replace("  QCD: {jobs: 1, events_per_job: 12}\n", "")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(cfg)
    # typed as a user would, in the repository root: the profile is ./slurm
    r = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "slurm", "--directory", str(tmp_path)],
                       cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    log = r.stdout + r.stderr
    for rule in ("pileup_library", "generate", "ntuplize", "pack"):
        assert f"rule_{rule}" in log and "submitted with SLURM jobid" in log
    m = json.loads((tmp_path / "results" / "dataset" / "Res2P.manifest.json").read_text())
    n = uproot.open(tmp_path / "results" / "ntuples" / "Res2P_neutral" / "00000.root")["tree"].num_entries
    assert m["jets"] == n
