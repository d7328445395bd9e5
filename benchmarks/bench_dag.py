"""How long `snakemake -n` takes on the full production's DAG, and how many cluster submissions it makes.

Builds, in a scratch directory, the file tree of the full configuration after generation,
ntuplizing and the packing plans (empty ntuples and Delphes files, synthetic plan.json files
with the configuration's file counts), so that the dry run plans every packing job (scatter,
gather, tarball, finalize), then times

    snakemake -n --profile slurm --configfile config/jetclass2_full.yaml   (the slurm executor's dry run)
    snakemake -n --cores 1 --configfile config/jetclass2_full.yaml         (no profile)

and counts the jobs and the submissions (a group job is one submission; local rules none).
Also the fresh DAG (no file yet, the packing jobs not known before the plans exist).

    python benchmarks/bench_dag.py [--config config/jetclass2_full.yaml] [--jets-per-event 0.9]
"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LOCAL_RULES = {"all", "qa_summary", "data_config"}  # `localrules` and the target rule: no submission


def count(log: str, array_rules=(), array_limit: int = 1000) -> dict:
    """Jobs, group jobs and submissions of a dry run's log; with the profile's job arrays, the fewest
    sbatch calls: one array per category's wave of a rule's jobs (scatter jobs come ready together
    after the plan, gather jobs after the last shard), at most array_limit tasks each. Tarball jobs
    come ready as their files are gathered: one array each at best, as many calls as jobs at worst."""
    m = re.search(r"^total\s+(\d+)", log, re.M)
    groups = re.findall(r"Group job (\S+) \(jobs", log)
    single = [r for r in re.findall(r"^(?:rule|checkpoint) (\w+):", log, re.M) if r not in LOCAL_RULES]
    per_group: dict[str, int] = {}
    for g in groups:
        per_group[g] = per_group.get(g, 0) + 1
    local = sum(1 for r in re.findall(r"^(?:rule|checkpoint) (\w+):", log, re.M) if r in LOCAL_RULES)
    waves: dict[tuple[str, str], int] = {}  # (array rule, category): jobs
    for rule, wildcards in re.findall(r"^rule (\w+):\n(?:    .*\n)*?    wildcards: (.*)$", log, re.M):
        if rule in array_rules:
            cat = re.search(r"category=(\w+)", wildcards).group(1)
            waves[rule, cat] = waves.get((rule, cat), 0) + 1
    arrays = sum(-(-n // array_limit) for n in waves.values())
    return {"jobs": int(m.group(1)) if m else 0, "submissions": len(groups) + len(single),
            "submissions_without_groups": int(m.group(1)) - local if m else 0,
            "group_jobs": per_group, "single_jobs": len(single),
            "array_waves": waves, "submissions_with_arrays": len(groups) + len(single) - sum(waves.values()) + arrays}


def dry_run(work: Path, config: Path, *args, array_rules=(), array_limit=1000) -> tuple[tuple[float, float], dict]:
    cmd = [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
           "--configfile", str(config), *args]
    if shutil.which("lhapdf-config") is None:  # the reference's LHAPDF sets are absent: built-in PDFs (same DAG)
        cmd += ["--config", "container={pdf: builtin}"]
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = (wall, c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime)
    if r.returncode != 0:
        sys.exit(f"dry run failed: {' '.join(cmd)}\n{(r.stdout + r.stderr)[-3000:]}")
    return wall, count(r.stdout + r.stderr, array_rules, array_limit)


def build_tree(work: Path, cfg: dict, jets_per_event: float) -> None:
    """Empty upstream outputs (oldest first) and one synthetic plan per category."""
    sys.path.insert(0, str(REPO))
    from jetclass2 import workflow_config
    from jetclass2.packing.plan import file_name, split_ranges, tarball_groups

    for d in ("config", "cards"):
        (work / d).symlink_to(REPO / d)
    res = work / cfg["results"]
    plan = workflow_config.plan(cfg)
    t = 1 + max(f.stat().st_mtime for d in ("config", "cards") for f in (REPO / d).rglob("*") if f.is_file())  # after the settings
    n_pileup = cfg["detector"]["pileup_library_events"]
    pileup = res / "pileup" / (f"minbias_{n_pileup}.parquet" if cfg["generation"]["backend"] == "embedded"
                               else f"MinBias_{n_pileup}.pileup")
    stages = [[pileup], [], [], []]
    jets: dict[str, int] = {}
    for s, info in cfg["samples"].items():
        cat = plan.category[s]
        for j in range(info["jobs"]):
            stages[1].append(res / "delphes" / s / f"{j:05d}.root")
            if cfg["generation"]["backend"] == "embedded":
                stages[1].append(res / "delphes" / s / f"{j:05d}.root.gridpoints.json")
            stages[2].append(res / "ntuples" / s / f"{j:05d}.root")
        jets[cat] = jets.get(cat, 0) + int(info["jobs"] * info["events_per_job"] * jets_per_event)
    pack = cfg["pack"]
    fmt = pack.get("format", "root")
    for cat, n_jets in jets.items():
        n_files = max(1, -(-n_jets // pack["jets_per_file"]))
        ranges = split_ranges(n_files, pack["split"])
        p = {"category": cat, "jets": n_jets, "n_files": n_files, "jets_per_file": pack["jets_per_file"],
             "files": [file_name(cat, f, fmt) for f in range(n_files)],
             "split": {k: [r.start, r.stop - 1] if len(r) else [] for k, r in ranges.items()},
             "tarballs": tarball_groups(cat, n_files, pack["files_per_tarball"]), "synthetic": True}
        path = res / "pack" / cat / "plan.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(p))
        stages[3].append(path)
    for k, files in enumerate(stages):
        for f in files:
            f.parent.mkdir(parents=True, exist_ok=True)
            f.touch()
            os.utime(f, (t + 60 * k, t + 60 * k))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="config/jetclass2_full.yaml")
    ap.add_argument("--jets-per-event", type=float, default=0.9, help="jets per generated event (sets the file counts)")
    ap.add_argument("--workdir", help="scratch directory (default: a temporary one)")
    a = ap.parse_args()
    os.chdir(REPO)  # the configuration's paths are relative to the repository root
    config = (REPO / a.config).resolve()
    cfg = yaml.safe_load(config.read_text())
    with tempfile.TemporaryDirectory(prefix="bench_dag_") as tmp:
        work = Path(a.workdir or tmp)
        fresh = work / "fresh"
        fresh.mkdir(parents=True)
        for d in ("config", "cards"):
            (fresh / d).symlink_to(REPO / d)
        planned = work / "planned"
        planned.mkdir()
        build_tree(planned, cfg, a.jets_per_event)
        profile = yaml.safe_load((REPO / "slurm" / "config.yaml").read_text())
        arrays = {"array_rules": set((profile.get("slurm-array-jobs") or "").split(",")),
                  "array_limit": int(profile.get("slurm-array-limit", 1000))}
        for name, w in (("fresh (no file yet)", fresh), ("after the plans (every packing job)", planned)):
            for how, args in (("--profile slurm", ("--profile", str(REPO / "slurm"))), ("--cores 1", ("--cores", "1"))):
                wall, c = dry_run(w, config, *args, **arrays)
                print(f"{name:38s} {how:16s} {wall[0]:6.1f} s wall {wall[1]:6.1f} s CPU  jobs {c['jobs']:5d}  submissions {c['submissions']:5d} "
                      f"(one per job: {c['submissions_without_groups']})  group jobs {c['group_jobs']}", flush=True)
                if c["array_waves"] and how.startswith("--profile"):
                    waves = ", ".join(f"{r} {cat} {n}" for (r, cat), n in sorted(c["array_waves"].items()))
                    print(f"{'':38s} with job arrays ({waves}): at least {c['submissions_with_arrays']} submissions", flush=True)


if __name__ == "__main__":
    main()
