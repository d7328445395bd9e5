"""The workflow as a user runs it: wall time and jets of the default configuration, and the time
Snakemake takes to build the DAG of the full JetClass-II configuration.

Runs `snakemake --cores N` on config/config.yaml in a scratch directory (the pile-up library is
part of the run), counts the packed jets per category from the manifests, then times
`snakemake -n` on config/jetclass2_full.yaml (2016 generation jobs).

Usage: python benchmarks/bench_workflow.py [--cores 2] [--keep DIR]
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake(*args, cwd):
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=cwd, capture_output=True, text=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", default=None, help="run in this directory and keep its results")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="jetclass2_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "config").mkdir(exist_ok=True)
    cfg = (REPO / "config" / "config.yaml").read_text()
    for rel in ("config/samples.yaml", "cards/delphes/fastsim_CMS_JetClassII.yaml", "config/ntuplizer.yaml"):
        cfg = cfg.replace(f" {rel}", f" {REPO / rel}")
    (work / "config" / "config.yaml").write_text(cfg)
    t0 = time.perf_counter()
    r = snakemake("--snakefile", str(REPO / "Snakefile"), "--directory", str(work), "--cores", str(args.cores), cwd=REPO)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"snakemake failed:\n{r.stderr[-3000:]}")
    total = 0
    for m in sorted((work / "results" / "dataset").glob("*.manifest.json")):
        d = json.loads(m.read_text())
        split = {s: sum(f["jets"] for f in d["files"] if f["split"] == s) for s in ("train", "val", "test")}
        total += d["jets"]
        print(f"{d['category']:7s} {d['jets']:6d} jets in {len(d['files'])} files (train/val/test {split['train']}/"
              f"{split['val']}/{split['test']}), {len(d['labels'])} labels")
    print(f"default configuration on {args.cores} cores: {wall:.1f} s wall, {total} jets ({work})")
    t0 = time.perf_counter()  # built-in PDFs: the reference's LHAPDF sets are not installed here (same DAG)
    r = snakemake("-n", "--cores", "1", "--configfile", "config/jetclass2_full.yaml",
                  "--config", "container={pdf: builtin}", cwd=REPO)
    dag = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"snakemake -n failed:\n{(r.stdout + r.stderr)[-3000:]}")
    n_jobs = next((line.split()[1] for line in r.stdout.splitlines() if line.startswith("total")), "?")
    print(f"full JetClass-II configuration: DAG of {n_jobs} jobs built in {dag:.1f} s (snakemake -n)")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
