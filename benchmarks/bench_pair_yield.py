"""Labelled jets per event and per CPU-second: embedded X pairs vs the old X + jet, and the container path.

For each sample, ``--jobs`` generation jobs of ``--events`` events (a new grid point every
``--events-per-grid-point`` events, so that many grid points are drawn) run through the embedded
chain (``generate`` with the fast simulation and pile-up, then ``ntuplize``), once with the default
``embedded_production: pair`` and, for the samples that have it, once with ``x_jet`` (a copy of the
samples file). Reported: labelled jets per event (the entries of the ntuples; QCD with QCD labels)
with its standard error over jobs, and labelled jets per CPU-second of generate + ntuplize (numba
cache warmed first). With the generation stack built, one job of the container path (MadGraph ->
Pythia 8 -> Delphes, built-in PDFs) per resonant sample runs in the same invocation, with the same
seed and job, and its CPU per labelled jet is put beside the embedded one.

Usage: python benchmarks/bench_pair_yield.py [--jobs 8] [--events 100] [--events-per-grid-point 10]
       [--container-events 100] [--samples Res2P_neutral Res34P Res2P_charged QCD] [--workdir DIR]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import uproot
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jetclass2.generation import samples  # noqa: E402
from jetclass2.generation.pileup_library import build_pileup_library  # noqa: E402

REFERENCE = {"Res2P_neutral": 0.881, "Res2P_charged": 0.959, "Res34P": 0.907, "QCD": 1.785}  # issue 21, reference files


def _cpu_of(cmd: list[str], env: dict | None = None) -> float:
    """Run ``cmd``; its CPU seconds (children's rusage difference)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed: {r.stderr.strip().splitlines()[-1:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def _jets(path: Path) -> int:
    with uproot.open(path) as f:
        return int(f["tree"].num_entries)


def embedded(sample: str, mode: str, samples_config: Path, args, library: Path, work: Path) -> dict:
    """Jets per event (per job) and CPU of generate + ntuplize for ``args.jobs`` jobs."""
    per_job, cpu, jets, events = [], 0.0, 0, 0
    qcd = ["--qcd-labels"] if samples.kind_of(samples.load_config(samples_config), sample) == "qcd" else []
    for job in range(args.jobs):
        delphes, ntuple = work / f"{sample}_{mode}_{job}.root", work / f"{sample}_{mode}_{job}_jets.root"
        cpu += _cpu_of(["generate", "--sample", sample, "--job", str(job), "--events", str(args.events), "--seed", "1",
                        "--samples-config", str(samples_config), "--events-per-grid-point", str(args.events_per_grid_point),
                        "--pileup-library", str(library), "-o", str(delphes), "-q"])
        cpu += _cpu_of(["ntuplize", str(delphes), "-o", str(ntuple), "-q", *qcd])
        n = _jets(ntuple)
        per_job.append(n / args.events)
        jets += n
        events += args.events
    mean = jets / events
    err = float(np.std(per_job, ddof=1) / np.sqrt(len(per_job))) if len(per_job) > 1 else float("nan")
    return {"jets_per_event": mean, "err": err, "jets_per_cpu_s": jets / cpu, "ms_per_event": 1e3 * cpu / events}


def container(sample: str, args, work: Path, stack: Path) -> dict | None:
    """One container-path job (built-in PDFs) + ntuplize: jets per event and CPU per labelled jet."""
    if not (stack / ".complete").exists():
        return None
    pileup = work / "MinBias.pileup"
    env = {**os.environ}
    setup = f". {stack}/setup.sh && "
    if not pileup.exists():
        _cpu_of(["bash", "-c", setup + f"run-container-job pileup --events 500 --seed 1 --workdir {work}/pu -o {pileup} -q"], env)
    out, ntuple = work / f"{sample}_container.root", work / f"{sample}_container_jets.root"
    t0 = time.perf_counter()
    cpu = _cpu_of(["bash", "-c", setup + f"run-container-job generate --sample {sample} --job 0 --events {args.container_events} "
                   f"--seed 1 --pdf builtin --delphes-card {REPO}/cards/delphes/delphes_card_CMS_JetClassII_onlyFatJet.tcl "
                   f"--pileup {pileup} --pileup-mean 50 --workdir {work}/cj_{sample} -o {out} -q"], env)
    wall = time.perf_counter() - t0
    cpu += _cpu_of(["ntuplize", str(out), "-o", str(ntuple), "-q"])
    n = _jets(ntuple)
    return {"jets_per_event": n / args.container_events, "jets_per_cpu_s": n / cpu,
            "ms_per_event": 1e3 * cpu / args.container_events, "wall_s": wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--events-per-grid-point", type=int, default=10)
    ap.add_argument("--container-events", type=int, default=100, help="0: no container-path job")
    ap.add_argument("--samples", nargs="+", default=["Res2P_neutral", "Res34P", "Res2P_charged", "QCD"])
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="pair_yield_"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(work / "numba"))
    cfg_path = Path(samples.load_config()["_path"])
    x_jet = yaml.safe_load(cfg_path.read_text())
    modes = {"pair": cfg_path}
    have_x_jet = [s for s in args.samples if "x_jet" in (x_jet["samples"][s].get("embedded_modes") or {})]
    if have_x_jet:
        for s in have_x_jet:
            x_jet["samples"][s]["embedded_production"] = "x_jet"
        modes["x_jet"] = work / "samples_x_jet.yaml"
        text = yaml.safe_dump(x_jet, sort_keys=False)
        modes["x_jet"].write_text(text.replace("cards/", f"{REPO}/cards/"))
    library = work / "minbias.parquet"
    if not library.exists():
        build_pileup_library(library, 300, 1)
    subprocess.run(["warm-kernels", "-o", str(work / "numba" / "warm.ok"), "-q"], check=True)
    stack = Path(subprocess.run(["bash", str(REPO / "containers" / "stack-cache-dir")], capture_output=True, text=True).stdout.strip())
    print(f"{args.jobs} jobs x {args.events} events per sample and mode, a grid point every {args.events_per_grid_point} "
          f"events; work directory {work}", flush=True)
    print("| sample | path | labelled jets / event | reference | jets per CPU-second | CPU ms / event |")
    print("| --- | --- | --- | --- | --- | --- |")
    for s in args.samples:
        for mode, path in modes.items():
            if mode == "x_jet" and s not in have_x_jet:
                continue
            r = embedded(s, mode, path, args, library, work)
            print(f"| {s} | embedded {mode} | {r['jets_per_event']:.3f} ± {r['err']:.3f} | {REFERENCE.get(s, float('nan')):.3f} | "
                  f"{r['jets_per_cpu_s']:.1f} | {r['ms_per_event']:.1f} |", flush=True)
        if args.container_events and s in have_x_jet:
            c = container(s, args, work, stack)
            if c is None:
                print(f"| {s} | container | (generation stack not built: {stack}) | | | |")
            else:
                print(f"| {s} | container (MG5 + Pythia + Delphes, job 0) | {c['jets_per_event']:.3f} | "
                      f"{REFERENCE.get(s, float('nan')):.3f} | {c['jets_per_cpu_s']:.2f} | {c['ms_per_event']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
