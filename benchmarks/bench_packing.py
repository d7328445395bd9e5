"""Packing map-reduce throughput and memory on synthetic JetClass-II jets.

The 100 published jets, replicated with random labels of a category and every float perturbed
per jet (so that compression sees no repeated jets), are written as ZSTD ntuples with the
ntuples' tree layout. Then the packing jobs run as the workflow runs them, each in its own
process (``python -m jetclass2.packing scatter|gather|...``): every job's wall time, CPU time and peak
memory (its own ``ru_maxrss``), jets/s per scatter and gather job (wall, and per CPU-second of the
job's own work as it logs it: the rate on a free core, which a shared machine's wall time hides),
and the total wall time with N jobs in parallel. The last lines extrapolate to the full Res34P
category (129M jets, 1290 files of 100k, 1440 ntuples in groups of 20) on 100 cores.

``--lean`` (for >= 5M jets on a small disk): each ntuple is deleted once scattered, each packed
file once gathered (its size kept), the shards after the last gather; tarball and finalize jobs
are then not run (their per-file cost does not depend on the total: take it from a smaller run).

Usage: python benchmarks/bench_packing.py [--jets 1000000] [--inputs 10] [--jets-per-file 100000]
       [--ntuples-per-scatter 1] [--parallel 2] [--compression lz4] [--jets-per-basket 10000]
       [--workdir DIR] [--lean]
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
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from jetclass2.ntuplizer.schema import BRANCH_NAMES, BRANCHES

from jetclass2.packing import columns
from jetclass2.packing.categories import CATEGORY_LABELS
from jetclass2.packing.plan import make_plan, save_plan
from jetclass2.packing.rootwriter import PackedTreeWriter

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CANDIDATES = [REPO.parent / "shared" / "reference" / "jetclass2" / "jetclass2_sample_100jets.parquet",
                     Path("/work/shared/reference/jetclass2/jetclass2_sample_100jets.parquet")]


def synthetic_ntuples(outdir: Path, n_jets: int, n_inputs: int, category: str, seed: int = 1, parallel: int = 1) -> list[Path]:
    sample = next((p for p in SAMPLE_CANDIDATES if p.exists()), None)
    if sample is None:
        sys.exit("bench_packing: the 100 published jets (shared/reference/jetclass2) are not found")
    outdir.mkdir(parents=True, exist_ok=True)
    per_input = n_jets // n_inputs
    with ProcessPoolExecutor(parallel) as pool:
        return list(pool.map(_synthetic_ntuple, [(outdir / f"ntuple_{i:04d}.root", sample, per_input, category, [seed, i])
                                                  for i in range(n_inputs)]))


def _synthetic_ntuple(job) -> Path:
    path, sample, per_input, category, seed = job
    base = columns.from_batch(pq.read_table(sample, columns=BRANCH_NAMES).combine_chunks().to_batches()[0])
    rng = np.random.default_rng(seed)
    labels = CATEGORY_LABELS[category]
    outdir = path.parent
    with PackedTreeWriter(outdir / f".{path.name}.tmp", name=path.name, compression="zstd",
                          baskets=-(-per_input // 20_000)) as w:
        for start in range(0, per_input, 20_000):
            n = min(20_000, per_input - start)
            cols = columns.take(base, rng.integers(0, columns.n_jets(base), n))
            for name, dtype, jagged in BRANCHES:  # every float of a jet scaled by its own factor
                if dtype == "float32":
                    scale = rng.normal(1, 0.02, n).astype(np.float32)
                    if jagged:
                        offsets, values = cols[name]
                        cols[name] = (offsets, values * np.repeat(scale, np.diff(offsets)))
                    else:
                        cols[name] = cols[name] * scale
            cols["jet_label"] = rng.choice(labels, n).astype(np.int32)
            w.write(cols)
    os.replace(outdir / f".{path.name}.tmp", path)
    return path


def run_job(args: list[str], log: Path, after=None) -> dict:
    """One packing job in its own process: wall time, CPU time and peak RSS of that process, and the
    wall and CPU time of its work as the job logs them (without interpreter start-up); ``after()``
    runs once it is done."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        p = subprocess.Popen([sys.executable, "-m", "jetclass2.packing", *args], stdout=f, stderr=subprocess.STDOUT,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
        _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench_packing: job failed: {' '.join(args)}\n{log.read_text()[-2000:]}")
    rate = re.search(r"in ([0-9.]+) s \(([0-9]+) jets/s\), CPU ([0-9.]+) s", log.read_text())  # the job's own timing
    if after:
        after()
    return {"wall": wall, "rss_mb": usage.ru_maxrss / 1024, "inner": float(rate.group(1)) if rate else float("nan"),
            "inner_cpu": float(rate.group(3)) if rate else float("nan"), "user_s": usage.ru_utime, "sys_s": usage.ru_stime}


def run_all(jobs: list[tuple], parallel: int) -> tuple[list[dict], float]:
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
    ap.add_argument("--compression", default="lz4", help="packed files' codec (pack --compression)")
    ap.add_argument("--jets-per-basket", type=int, default=10_000)
    ap.add_argument("--parallel", type=int, default=2, help="packing jobs run at the same time")
    ap.add_argument("--category", default="Res34P")
    ap.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one, removed)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--lean", action="store_true", help="delete inputs and outputs as soon as measured; no tarballs, no finalize")
    ap.add_argument("--full-ntuples-per-scatter", type=int, default=20, help="grouping of config/jetclass2_full.yaml")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_packing_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        inputs = sorted((work / "ntuples").glob("ntuple_*.root"))
        if len(inputs) != args.inputs:
            shutil.rmtree(work / "ntuples", ignore_errors=True)
            inputs = synthetic_ntuples(work / "ntuples", args.jets, args.inputs, args.category, parallel=args.parallel)
        size = sum(p.stat().st_size for p in inputs)
        pack = work / "pack"
        shutil.rmtree(pack, ignore_errors=True)
        (pack / "logs").mkdir(parents=True)
        t_synth = time.perf_counter() - t0
        t0 = time.perf_counter()
        plan = make_plan(args.category, inputs, jets_per_file=args.jets_per_file, seed=1, compression=args.compression,
                         ntuples_per_scatter=args.ntuples_per_scatter, basket=args.jets_per_basket)
        save_plan(plan, pack / "plan.json")
        t_plan = time.perf_counter() - t0
        n_jets = plan["jets"]
        print(f"synthetic ntuples: {n_jets} jets in {len(inputs)} files, {size / 2**20:.0f} MiB, {size / n_jets:.0f} B/jet "
              f"(ZSTD; {t_synth:.0f} s to write)")
        print(f"plan: {n_jets} jets, {len(plan['groups'])} scatter jobs, {plan['n_files']} files, {args.compression}, "
              f"{args.jets_per_basket} jets per basket: {t_plan:.1f} s")
        plan_path = str(pack / "plan.json")

        def drop_inputs(g):
            return (lambda: [Path(plan["inputs"][i]["path"]).unlink() for i in plan["groups"][g]]) if args.lean else None

        shard_bytes, file_bytes = [], []

        def drop_file(path):
            def after():
                file_bytes.append(json.loads(Path(str(path) + ".json").read_text())["bytes"])
                if args.lean:
                    path.unlink()
            return after

        scatter_jobs = [(["scatter", plan_path, "--group", str(g), "-o", str(pack / "scatter" / f"{g:05d}.arrow")],
                         pack / "logs" / f"scatter_{g}.log", drop_inputs(g)) for g in range(len(plan["groups"]))]
        scatter, t_scatter = run_all(scatter_jobs, args.parallel)
        shard_bytes = [p.stat().st_size for p in (pack / "scatter").glob("*.arrow")]
        gather_jobs = [(["gather", plan_path, "--index", str(f), "--shard-dir", str(pack / "scatter"), "-o",
                         str(pack / "files" / name)], pack / "logs" / f"gather_{f}.log", drop_file(pack / "files" / name))
                       for f, name in enumerate(plan["files"])]
        gather, t_gather = run_all(gather_jobs, args.parallel)
        tars, t_tar, fin, t_fin = [], 0.0, [], 0.0
        if args.lean:
            shutil.rmtree(pack / "scatter", ignore_errors=True)
        else:
            tar_jobs = [(["tarball", plan_path, "--number", str(t), "--files-dir", str(pack / "files"), "-o",
                          str(pack / "tar" / spec["file"])], pack / "logs" / f"tar_{t}.log") for t, spec in enumerate(plan["tarballs"])]
            tars, t_tar = run_all(tar_jobs, args.parallel)
            fin, t_fin = run_all([(["finalize", plan_path, "--work", str(pack), "--outdir", str(work / "dataset"), "--jobs",
                                    str(args.parallel)], pack / "logs" / "finalize.log")], 1)
            manifest = json.loads((work / "dataset" / f"{args.category}.manifest.json").read_text())
            assert manifest["jets"] == n_jets
        total = t_plan + t_scatter + t_gather + t_tar + t_fin
        jets_per_scatter = n_jets / len(plan["groups"])

        def stats(rows, jets):
            walls = np.array([r["wall"] for r in rows])
            inner = np.array([r["inner"] for r in rows])
            inner_cpu = np.array([r["inner_cpu"] for r in rows])
            cpu = np.array([r["user_s"] + r["sys_s"] for r in rows])
            text = (f"{len(rows)} jobs, wall {walls.mean():.1f} s each (max {walls.max():.1f}; CPU {cpu.mean():.1f} s), "
                    f"{jets / walls.mean():.0f} jets/s per job")
            if np.isfinite(inner).all():
                text += (f"; the job's own work (no interpreter start-up): {jets / inner.mean():.0f} jets/s wall, "
                         f"{jets / inner_cpu.mean():.0f} jets per CPU-second ({inner_cpu.mean():.2f} s CPU, start-up "
                         f"{(cpu - inner_cpu).mean():.2f} s CPU)")
            return text + f", peak RSS {max(r['rss_mb'] for r in rows):.0f} MiB"

        print(f"scatter: {stats(scatter, jets_per_scatter)}; shards {sum(shard_bytes) / n_jets:.0f} B/jet")
        print(f"gather:  {stats(gather, args.jets_per_file)}; files {sum(file_bytes) / n_jets:.0f} B/jet ({args.compression})")
        if tars:
            print(f"tarball: {stats(tars, args.jets_per_file * 10)}")
            print(f"finalize (SHA-256 of every file, checks, swap): {t_fin:.1f} s, peak RSS {fin[0]['rss_mb']:.0f} MiB")
        print(f"total with {args.parallel} parallel jobs: {total:.0f} s for {n_jets} jets "
              f"(plan {t_plan:.0f}, scatter {t_scatter:.0f}, gather {t_gather:.0f}, tarballs {t_tar:.0f}, finalize {t_fin:.0f})")
        # extrapolation: per-jet job costs measured above, Res34P job counts of the full configuration
        full_jets, full_files, full_ntuples, cores = 129_000_000, 1290, 1440, 100
        n_scatter = -(-full_ntuples // args.full_ntuples_per_scatter)
        waves = lambda n: -(-n // cores)  # noqa: E731
        for label, key in (("wall time per job as measured here", "wall"), ("CPU time per job (one free core per job)", "cpu")):
            per = {name: np.mean([r["wall"] if key == "wall" else r["user_s"] + r["sys_s"] for r in rows]) if rows else 0.0
                   for name, rows in (("scatter", scatter), ("gather", gather), ("tar", tars), ("fin", fin))}
            t_scatter_full = waves(n_scatter) * per["scatter"] / jets_per_scatter * full_jets / n_scatter
            t_gather_full = waves(full_files) * per["gather"] * 100_000 / args.jets_per_file
            t_plan_full = t_plan / len(inputs) * full_ntuples
            parts = f"plan {t_plan_full / 60:.1f}, scatter {t_scatter_full / 60:.1f}, gather {t_gather_full / 60:.1f}"
            t_full = t_plan_full + t_scatter_full + t_gather_full
            if tars:
                files_per_tar = plan["tarballs"][0]["last"] - plan["tarballs"][0]["first"] + 1
                t_tar_full = waves(129) * per["tar"] * 10 / files_per_tar * 100_000 / args.jets_per_file
                t_fin_full = per["fin"] / n_jets * full_jets * args.parallel / 16  # 16 hashing threads (rule pack_finalize)
                t_full += t_tar_full + t_fin_full
                parts += f", tarballs {t_tar_full / 60:.1f}, finalize {t_fin_full / 60:.1f}"
            else:
                parts += "; tarballs and finalize not run (--lean)"
            print(f"extrapolated Res34P (129M jets; {n_scatter} scatter jobs of {full_jets // n_scatter} jets, {full_files} "
                  f"gather jobs, 129 tarballs) on {cores} cores, from {label}: ~{t_full / 60:.0f} min ({parts}); "
                  "no I/O contention assumed")
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
