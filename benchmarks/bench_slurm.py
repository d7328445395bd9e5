"""Submissions and per-job Snakemake start-up of the Slurm profile, on a real Slurm (one that `sinfo` shows idle).

Runs the small configuration of tests/test_slurm_profile.py (Res2P_neutral, 3 jobs of 4 events) through
`snakemake --profile slurm` in a scratch directory, with the profile's job arrays and, for comparison,
without them (`--slurm-array-jobs none --jobs 200`), and reports per run: jobs through Slurm, sbatch calls
(single and group jobs, arrays and their tasks), and from every job's Slurm log (kept with
--slurm-keep-successful-logs) and `scontrol show job` (start and end, kept MinJobAge seconds):

  to command   the job's start to its rule's command (the job step's Snakemake, then the one it runs the
               rule in: each parses the Snakefile and builds the job's DAG)
  after        the command's end to the job's end
  snakemakes   Snakemake processes the job started (its log's headers)

Timestamps of the logs have 1 s resolution. `.ci/setup_slurm.sh` starts a single-node Slurm (CI), `.ci/setup_slurm.sh
stop` stops it.

    python benchmarks/bench_slurm.py [--mode arrays|none|both]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from test_workflow import TINY  # noqa: E402  (the configuration the Slurm test runs)

STAMP = r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]\n"


def _time(s: str) -> datetime:
    return datetime.strptime(" ".join(s.split()), "%a %b %d %H:%M:%S %Y")


def slurm_times(ids: list[str]) -> dict[str, tuple[datetime, datetime]]:
    """Start and end of each job (array tasks as ARRAY_TASK) from `scontrol show job`."""
    times = {}
    for jid in ids:
        out = subprocess.run(["scontrol", "show", "job", "-o", jid], capture_output=True, text=True).stdout
        for line in out.splitlines():
            f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            key = f"{f['ArrayJobId']}_{f['ArrayTaskId']}" if "ArrayTaskId" in f else f["JobId"]
            times[key] = (datetime.fromisoformat(f["StartTime"]), datetime.fromisoformat(f["EndTime"]))
    return times


def job_startup(log: str, start: datetime, end: datetime) -> dict | None:
    """Seconds from the job's start to its (first) command, after its last command; Snakemakes it started."""
    commands = [_time(s) for s in re.findall(STAMP + "local(?:rule|checkpoint) ", log, re.M)]
    finished = [_time(s) for s in re.findall(STAMP + "Finished", log, re.M)]
    if not commands or not finished:
        return None
    return {"to_command": (commands[0] - start).total_seconds(), "after": (end - finished[-1]).total_seconds(),
            "snakemakes": log.count("\nSNAKEMAKE\n"), "members": len(commands)}


def run(mode: str, work: Path) -> None:
    cfg = re.sub(r"(?m)^  QCD: .*\n", "", TINY.replace("REPO", str(REPO)))
    (work / "config").mkdir(parents=True)
    (work / "config" / "config.yaml").write_text(cfg)
    extra = ["--slurm-array-jobs", "none", "--jobs", "200"] if mode == "none" else []
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "slurm", "--directory", str(work), "--max-threads",
                        str(os.cpu_count()), "--slurm-keep-successful-logs", *extra], cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    log = r.stdout + r.stderr
    if r.returncode != 0:
        sys.exit(f"snakemake failed ({mode}):\n{log[-3000:]}")
    single = re.findall(r"submitted with SLURM jobid (\d+) \(log: [^)]*/slurm_logs/(\w+?)/", log)
    arrays = re.findall(r"Submitted array job with Snakemake IDs ([\d,]+) and SLURM job ID (\d+)", log)
    jobs = int(re.findall(r"\d+ of (\d+) steps", log)[-1])
    times = slurm_times([j for j, _ in single] + [a for _, a in arrays])
    rows: dict[str, list[dict]] = {}
    for path in sorted((work / ".snakemake" / "slurm_logs").rglob("*.log")):
        key = path.stem
        if key not in times:
            continue
        row = job_startup(path.read_text(), *times[key])
        if row:
            kind = path.relative_to(work / ".snakemake" / "slurm_logs").parts[0]
            if "_" in key:
                kind += " (array task 1)" if key.endswith("_1") else " (array task > 1)"
            rows.setdefault(kind, []).append(row)
    tasks = sum(len(ids.split(",")) for ids, _ in arrays)
    print(f"== {mode}: {jobs} jobs ({jobs - 2} through Slurm), {len(single) + len(arrays)} sbatch calls: "
          f"{len(single)} single or group jobs, {len(arrays)} arrays of {tasks} tasks; {wall:.0f} s wall", flush=True)
    print(f"  {'job':48s} {'n':>3s} {'to command [s]':>16s} {'after [s]':>10s} {'snakemakes':>10s}")
    for kind, rs in sorted(rows.items()):
        to = [x["to_command"] for x in rs]
        print(f"  {kind:48s} {len(rs):3d} {statistics.median(to):7.1f} ({min(to):.0f}-{max(to):.0f}) "
              f"{statistics.median(x['after'] for x in rs):10.1f} {statistics.median(x['snakemakes'] for x in rs):10.0f}")
    every = [x["to_command"] for rs in rows.values() for x in rs]
    print(f"  all jobs: start to command median {statistics.median(every):.1f} s ({min(every):.0f}-{max(every):.0f}), "
          f"n={len(every)}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=["arrays", "none", "both"], default="both", help="with the profile's arrays, without, or both")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_slurm_") as tmp:
        for mode in (["arrays", "none"] if a.mode == "both" else [a.mode]):
            run(mode, Path(tmp) / mode)


if __name__ == "__main__":
    main()
