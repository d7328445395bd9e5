"""Packing map-reduce throughput and memory on synthetic JetClass-II jets.

The 100 published jets, replicated with random labels of a category and every float perturbed
per jet (so that compression sees no repeated jets), are written as ZLIB ntuples like the
ntuplizer's. Then the packing jobs run as the workflow runs them, each in its own process
(``python -m packing scatter|gather|...``): every job's wall time and peak memory (its own
``ru_maxrss``), jets/s per scatter and gather job, and the total wall time with N jobs in parallel.
The last lines extrapolate to the full Res34P category (129M jets, 1290 files of 100k, 1440
ntuples in groups of 10) on 100 cores.

Usage: python benchmarks/bench_packing.py [--jets 1000000] [--inputs 10] [--jets-per-file 100000]
       [--ntuples-per-scatter 1] [--parallel 2] [--workdir DIR]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import awkward as ak
import numpy as np

from ntuplizer.writer import JetWriter
from packing.categories import CATEGORY_LABELS
from packing.plan import make_plan, save_plan

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CANDIDATES = [REPO.parent / "shared" / "reference" / "jetclass2" / "jetclass2_sample_100jets.parquet",
                     Path("/work/shared/reference/jetclass2/jetclass2_sample_100jets.parquet")]


def synthetic_ntuples(outdir: Path, n_jets: int, n_inputs: int, category: str, seed: int = 1) -> list[Path]:
    sample = next((p for p in SAMPLE_CANDIDATES if p.exists()), None)
    if sample is None:
        sys.exit("bench_packing: the 100 published jets (shared/reference/jetclass2) are not found")
    base = ak.from_parquet(sample)
    rng = np.random.default_rng(seed)
    labels = CATEGORY_LABELS[category]
    paths = []
    per_input = n_jets // n_inputs
    for i in range(n_inputs):
        path = outdir / f"ntuple_{i:04d}.root"
        with JetWriter(path) as w:
            for start in range(0, per_input, 20_000):
                n = min(20_000, per_input - start)
                jets = base[rng.integers(0, len(base), n)]
                fields = {}
                for name in jets.fields:
                    arr = jets[name]
                    if str(ak.type(arr)).endswith("float32"):
                        scale = rng.normal(1, 0.02, n).astype(np.float32)
                        arr = arr * (scale[:, None] if arr.ndim == 2 else scale)
                    fields[name] = arr
                fields["jet_label"] = rng.choice(labels, n).astype(np.int32)
                w.write(ak.zip(fields, depth_limit=1))
        paths.append(path)
    return paths


def run_job(args: list[str], log: Path) -> dict:
    """One packing job in its own process: wall time and peak RSS of that process."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        p = subprocess.Popen([sys.executable, "-m", "packing", *args], stdout=f, stderr=subprocess.STDOUT,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
        _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench_packing: job failed: {' '.join(args)}\n{log.read_text()[-2000:]}")
    rate = re.search(r"in ([0-9.]+) s \(([0-9]+) jets/s\)", log.read_text())  # the job's own timing, without start-up
    return {"wall": wall, "rss_mb": usage.ru_maxrss / 1024, "inner": float(rate.group(1)) if rate else float("nan"),
            "user_s": usage.ru_utime, "sys_s": usage.ru_stime}


def run_all(jobs: list[tuple[list[str], Path]], parallel: int) -> tuple[list[dict], float]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        results = list(pool.map(lambda j: run_job(*j), jobs))
    return results, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jets", type=int, default=1_000_000)
    ap.add_argument("--inputs", type=int, default=10)
    ap.add_argument("--jets-per-file", type=int, default=100_000)
    ap.add_argument("--ntuples-per-scatter", type=int, default=1)
    ap.add_argument("--parallel", type=int, default=2, help="packing jobs run at the same time")
    ap.add_argument("--category", default="Res34P")
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one, removed)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--full-ntuples-per-scatter", type=int, default=20, help="grouping of config/jetclass2_full.yaml")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_packing_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        inputs = synthetic_ntuples(work / "ntuples", args.jets, args.inputs, args.category) if not (work / "ntuples").is_dir() \
            else sorted((work / "ntuples").glob("*.root"))
        if not inputs:
            inputs = synthetic_ntuples(work / "ntuples", args.jets, args.inputs, args.category)
        size = sum(p.stat().st_size for p in inputs) / 2**20
        print(f"synthetic ntuples: {args.jets} jets in {len(inputs)} files, {size:.0f} MiB ({time.perf_counter() - t0:.0f} s to write)")
        pack = work / "pack"
        shutil.rmtree(pack, ignore_errors=True)
        (pack / "logs").mkdir(parents=True)
        t0 = time.perf_counter()
        plan = make_plan(args.category, inputs, jets_per_file=args.jets_per_file, seed=1,
                         ntuples_per_scatter=args.ntuples_per_scatter)
        save_plan(plan, pack / "plan.json")
        t_plan = time.perf_counter() - t0
        n_jets = plan["jets"]
        print(f"plan: {n_jets} jets, {len(plan['groups'])} scatter jobs, {plan['n_files']} files: {t_plan:.1f} s")
        plan_path = str(pack / "plan.json")
        scatter_jobs = [(["scatter", plan_path, "--group", str(g), "-o", str(pack / "scatter" / f"{g:05d}.arrow")],
                         pack / "logs" / f"scatter_{g}.log") for g in range(len(plan["groups"]))]
        scatter, t_scatter = run_all(scatter_jobs, args.parallel)
        gather_jobs = [(["gather", plan_path, "--index", str(f), "--shard-dir", str(pack / "scatter"), "-o",
                         str(pack / "files" / name)], pack / "logs" / f"gather_{f}.log") for f, name in enumerate(plan["files"])]
        gather, t_gather = run_all(gather_jobs, args.parallel)
        tar_jobs = [(["tarball", plan_path, "--number", str(t), "--files-dir", str(pack / "files"), "-o",
                      str(pack / "tar" / spec["file"])], pack / "logs" / f"tar_{t}.log") for t, spec in enumerate(plan["tarballs"])]
        tars, t_tar = run_all(tar_jobs, args.parallel)
        fin, t_fin = run_all([(["finalize", plan_path, "--work", str(pack), "--outdir", str(work / "dataset"), "--jobs",
                                str(args.parallel)], pack / "logs" / "finalize.log")], 1)
        manifest = json.loads((work / "dataset" / f"{args.category}.manifest.json").read_text())
        assert manifest["jets"] == n_jets
        total = t_plan + t_scatter + t_gather + t_tar + t_fin
        jets_per_scatter = n_jets / len(plan["groups"])
        shard_mb = sum(p.stat().st_size for p in (pack / "scatter").glob("*.arrow")) / 2**20
        out_mb = sum(f["bytes"] for f in manifest["files"]) / 2**20

        def stats(rows, jets):
            walls = np.array([r["wall"] for r in rows])
            inner = np.array([r["inner"] for r in rows])
            cpu = np.array([r["user_s"] + r["sys_s"] for r in rows])
            text = (f"{len(rows)} jobs, wall {walls.mean():.1f} s each (max {walls.max():.1f}, CPU {cpu.mean():.1f} s), "
                    f"{jets / walls.mean():.0f} jets/s per job")
            if np.isfinite(inner).all():
                text += f" ({jets / inner.mean():.0f} jets/s without interpreter start-up)"
            return text + f", peak RSS {max(r['rss_mb'] for r in rows):.0f} MiB"

        print(f"scatter: {stats(scatter, jets_per_scatter)}; shards {shard_mb:.0f} MiB")
        print(f"gather:  {stats(gather, args.jets_per_file)}; files {out_mb:.0f} MiB")
        print(f"tarball: {stats(tars, args.jets_per_file * 10)}")
        print(f"finalize (hash check, swap): {t_fin:.1f} s, peak RSS {fin[0]['rss_mb']:.0f} MiB")
        print(f"total with {args.parallel} parallel jobs: {total:.0f} s for {n_jets} jets "
              f"(plan {t_plan:.0f}, scatter {t_scatter:.0f}, gather {t_gather:.0f}, tarballs {t_tar:.0f}, finalize {t_fin:.0f})")
        # extrapolation: per-jet job costs measured above, Res34P job counts of the full configuration
        full_jets, full_files, full_ntuples, cores = 129_000_000, 1290, 1440, 100
        n_scatter = -(-full_ntuples // args.full_ntuples_per_scatter)
        files_per_tar = plan["tarballs"][0]["last"] - plan["tarballs"][0]["first"] + 1
        waves = lambda n: -(-n // cores)  # noqa: E731
        for label, key in (("wall time per job as measured here", "wall"), ("CPU time per job (one free core per job)", "cpu")):
            per = {name: np.mean([r["wall"] if key == "wall" else r["user_s"] + r["sys_s"] for r in rows])
                   for name, rows in (("scatter", scatter), ("gather", gather), ("tar", tars), ("fin", fin))}
            t_scatter_full = waves(n_scatter) * per["scatter"] / jets_per_scatter * full_jets / n_scatter
            t_gather_full = waves(full_files) * per["gather"] * 100_000 / args.jets_per_file
            t_tar_full = waves(129) * per["tar"] * 10 / files_per_tar * 100_000 / args.jets_per_file
            t_plan_full = t_plan / len(inputs) * full_ntuples
            t_fin_full = per["fin"] / n_jets * full_jets * args.parallel / 16  # 16 hashing threads (rule pack_finalize)
            t_full = t_plan_full + t_scatter_full + t_gather_full + t_tar_full + t_fin_full
            print(f"extrapolated Res34P (129M jets; {n_scatter} scatter jobs of {full_jets // n_scatter} jets, {full_files} "
                  f"gather jobs, 129 tarballs) on {cores} cores, from {label}: ~{t_full / 60:.0f} min (plan "
                  f"{t_plan_full / 60:.1f}, scatter {t_scatter_full / 60:.1f}, gather {t_gather_full / 60:.1f}, tarballs "
                  f"{t_tar_full / 60:.1f}, finalize {t_fin_full / 60:.1f}); no I/O contention assumed")
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
