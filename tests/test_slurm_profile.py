"""`snakemake --profile slurm` on a real Slurm, when one answers here (CI: .ci/run sets one up).

The tests never install, configure, start or stop anything: without a working Slurm the
profile test skips and says why.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import uproot
import yaml
from test_workflow import REPO, TINY


def _slurm_missing() -> str | None:
    """Why no Slurm can run jobs here, or None when sinfo shows an idle node."""
    if shutil.which("sinfo") is None:
        return "no Slurm here (sinfo not found); .ci/run sets one up when CI=true"
    try:
        r = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 20 s (Slurm installed, controller not running?)"
    if r.returncode != 0:
        return f"sinfo failed: {(r.stderr or r.stdout).strip()[:200]}"
    if not re.search(r"\b(idle|mix)", r.stdout):
        return f"no idle Slurm node (sinfo: {r.stdout.strip()[:200]})"
    return None


@pytest.fixture(scope="module")
def slurm():
    why = _slurm_missing()
    if why:
        pytest.skip(why)


def test_profile_runs_the_workflow_through_slurm(slurm, tmp_path):
    cfg = re.sub(r"(?m)^  QCD: .*\n", "", TINY.replace("REPO", str(REPO)))  # one category is enough here
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(cfg)
    # typed as a user would, in the repository root: the profile is ./slurm
    # (--max-threads: the CI node is small; the packing jobs ask for 8-16 cores, config/resources.yaml;
    # the Slurm logs of successful jobs are kept for the checks below)
    r = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "slurm", "--directory", str(tmp_path),
                        "--max-threads", str(os.cpu_count()), "--slurm-keep-successful-logs"],
                       cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    log = r.stdout + r.stderr
    # single jobs and the profile's groups (one submission each): a generate job with its ntuplize
    # job; qa_summary is a local rule (no submission)
    for name in ("rule_pileup_library", "group_generation", "rule_pack_plan", "rule_qa_category"):
        assert name in log, name
    # job arrays: every ready job of an array rule in one sbatch call; Slurm ran each task
    # (its log, named ARRAYID_TASK by Slurm), and each task ran a job of its own
    profile = yaml.safe_load((REPO / "slurm" / "config.yaml").read_text())
    array_rules = set(profile["slurm-array-jobs"].split(","))
    arrays = re.findall(r"Submitted array job with Snakemake IDs ([\d,]+) and SLURM job ID (\d+)\. "
                        r"The individual task IDs are (\d+)-(\d+)", log)
    logs = tmp_path / ".snakemake" / "slurm_logs"
    used = {}
    for ids, array_id, first, last in arrays:
        tasks = sorted(logs.glob(f"rule_*/{array_id}_*.log"))
        assert [int(f.stem.split("_")[1]) for f in tasks] == list(range(int(first), int(last) + 1)) == \
            list(range(1, len(ids.split(",")) + 1)), (array_id, tasks)
        rule = tasks[0].parent.name.removeprefix("rule_")
        # the job a task ran: the wildcards of the last Snakemake in its log (the job step's own)
        ran = [re.findall(r"(?m)^localrule (\w+):\n(?:    .*\n)*?    wildcards: (.*)$", f.read_text())[-1] for f in tasks]
        assert {name for name, _ in ran} == {rule} and len({w for _, w in ran}) == len(tasks), ran
        used[rule] = used.get(rule, 0) + len(tasks)
    assert set(used) <= array_rules and {"pack_scatter", "pack_gather"} <= set(used), used
    # this configuration: a scatter job per ntuple, a gather job per 4-jet file (the plan's counts)
    plan = json.loads((tmp_path / "results" / "pack" / "Res2P" / "plan.json").read_text())
    assert used["pack_gather"] == len(plan["files"]) > 1 and used["pack_scatter"] == len(plan["groups"]) > 1
    # every job but `all` and qa_summary (local) went through Slurm: a generation group's two jobs
    # in one submission, an array's tasks in one
    groups = set(re.findall(r"submitted with SLURM jobid (\d+) \(log: [^)]*/group_generation", log))
    assert len(groups) == 3  # Res2P_neutral's 3 jobs
    submissions = len(set(re.findall(r"submitted with SLURM jobid (\d+)", log))) + len(arrays)
    jobs = int(re.findall(r"\d+ of (\d+) steps", log)[-1])  # with the packing jobs added after the plan
    assert submissions == jobs - 2 - len(groups) - sum(n - 1 for n in used.values())
    m = json.loads((tmp_path / "results" / "dataset" / "Res2P.manifest.json").read_text())
    n = sum(uproot.open(p)["tree"].num_entries for p in (tmp_path / "results" / "ntuples").glob("Res2P*/*.root"))
    assert m["jets"] == n


def test_ci_stop_ends_only_the_recorded_daemons(tmp_path):
    """`.ci/setup_slurm.sh stop` ends the PIDs its start recorded (if still the same program), nothing else."""
    recorded = subprocess.Popen(["sleep", "300"])
    other = subprocess.Popen(["sleep", "300"])
    stale = subprocess.Popen(["sleep", "300"])  # recorded under another name: a reused PID, left alone
    try:
        state = tmp_path / "state"
        state.mkdir()
        (state / "pids").write_text(f"sleep {recorded.pid}\nslurmd {stale.pid}\n")
        r = subprocess.run(["bash", str(REPO / ".ci" / "setup_slurm.sh"), "stop"], capture_output=True, text=True,
                           env={**os.environ, "SLURM_CI_STATE": str(state)}, timeout=60)
        assert r.returncode == 0, r.stderr
        assert recorded.wait(timeout=10) == -signal.SIGTERM
        time.sleep(0.2)
        assert other.poll() is None and stale.poll() is None
        assert not state.exists()
    finally:
        for p in (recorded, other, stale):
            p.kill()
            p.wait()


def test_tests_leave_the_machine_alone():
    """No test installs packages, writes under /etc, starts Slurm or kills processes by name."""
    forbidden = ["apt" + "-get", "/" + "etc/", "pk" + "ill", "kill" + "all", "system" + "ctl"]
    for test in sorted(Path(__file__).parent.glob("*.py")):
        text = test.read_text()
        for word in forbidden:
            assert word not in text, f"{test.name} uses {word!r}"
