"""Fault injection: kill the default production at random points, recover as README.md says, compare.

    python benchmarks/fault_injection.py --kills 3 [--seed 1] [--workdir DIR] [--keep]

Runs the workflow of this checkout (``--snakefile``, ``--directory``: a small configuration in a
temporary directory) once uninterrupted, then ``--kills`` times: starts it afresh, kills snakemake
and every job it started (SIGKILL of its process group) after a random time (seeded) within the
uninterrupted run's wall time, and recovers exactly as README.md says (``snakemake --unlock``, then
``snakemake --rerun-incomplete``). Every final data file (pile-up library, Delphes-format files,
ntuples, the packed files, tarballs and manifests) is compared byte for byte with the uninterrupted
run; left-over packing intermediates (``results/pack/*/{scatter,files,tar}``) and staging files of
killed jobs are counted; ``verify-dataset`` must pass. Prints one table row per kill.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONFIG = """
seed: 5
results: results
samples:
  Res2P_neutral: {jobs: 2, events_per_job: 12}
  QCD: {jobs: 2, events_per_job: 20}
generation: {backend: embedded, samples_config: REPO/config/samples.yaml, min_pt: 500}
detector: {card: REPO/cards/delphes/fastsim_CMS_JetClassII.yaml, pileup_mean: 10, pileup_library_events: 40}
ntuplizer: {config: REPO/config/ntuplizer.yaml, jet_radius: 0.8}
pack: {jets_per_file: 4, split: [4, 1, 1], files_per_tarball: 3, ntuples_per_scatter: 1}
"""
DATA = re.compile(r"^results/(pileup/[^/]+\.parquet|delphes/\w+/\d+\.root|ntuples/\w+/\d+\.root|"
                  r"dataset/[A-Za-z0-9]+(_[0-9-]+\.(root|parquet|tar)|\.manifest\.json))$")


def snakemake(work: Path, *args, background=False, log=None):
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
           "--cores", "2", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if background:  # its own process group: one killpg reaches snakemake and every job it started
        return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True)


def setup(work: Path) -> None:
    (work / "config").mkdir(parents=True)
    (work / "config" / "config.yaml").write_text(CONFIG.replace("REPO", str(REPO)))


def data_files(work: Path) -> dict[str, str]:
    """Relative name -> SHA-256 of the final data files (dataset links followed)."""
    out = {}
    for p in sorted((work / "results").rglob("*")):
        rel = p.relative_to(work).as_posix()
        if DATA.match(rel) and p.exists():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def leftovers(work: Path) -> list[str]:
    """Packing intermediates and staging files of killed jobs still there after the recovery."""
    res = work / "results"
    found = [p for d in ("scatter", "files", "tar") for p in res.glob(f"pack/*/{d}")]
    found += [p for p in res.rglob(".*") if re.search(r"\.\d+(\.|$)", p.name) and not p.name.endswith(".lock")]
    live = {os.readlink(p) for p in (res / "dataset").iterdir() if p.is_symlink() and p.name.isalnum()}
    found += [p for p in (res / "dataset").glob(".*.v*") if p.name not in live]
    return sorted(str(p.relative_to(work)) for p in found)


def progress(log: Path) -> str:
    steps = re.findall(r"(\d+) of (\d+) steps", log.read_text(errors="replace"))
    return f"{steps[-1][0]}/{steps[-1][1]}" if steps else "0/?"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", help="default: a temporary directory (removed unless --keep)")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args(argv)
    base = Path(a.workdir or tempfile.mkdtemp(prefix="fault_injection."))
    rng = np.random.default_rng(a.seed)
    ref = base / "uninterrupted"
    setup(ref)
    t0 = time.perf_counter()
    r = snakemake(ref)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        print(r.stderr[-3000:], file=sys.stderr)
        return 1
    expected = data_files(ref)
    print(f"uninterrupted run: {wall:.0f} s, {len(expected)} data files", flush=True)
    header = ("kill", "at [s]", "steps done", "plain rerun", "--unlock", "--rerun-incomplete", "recovery [s]",
              "identical", "differ/missing", "verify", "leftovers")
    rows = []
    failed = False
    for k in range(a.kills):
        work = base / f"kill{k}"
        setup(work)
        at = float(rng.uniform(0.05, 0.95) * wall)
        log = work / "killed.log"
        with open(log, "w") as fh:
            proc = snakemake(work, background=True, log=fh)
            try:
                proc.wait(timeout=at)
                killed = False
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the process group: snakemake and its running jobs
                proc.wait()
                killed = True
        plain = snakemake(work)  # what a user tries first
        plain_text = "ok" if plain.returncode == 0 else ("LockException" if "LockException" in plain.stderr else
                                                        "Incomplete" if "IncompleteFilesException" in plain.stderr else
                                                        f"exit {plain.returncode}")
        t1 = time.perf_counter()
        unlock = snakemake(work, "--unlock")
        rerun = snakemake(work, "--rerun-incomplete")
        recovery = time.perf_counter() - t1
        got = data_files(work)
        same = sum(got.get(n) == h for n, h in expected.items())
        bad = sorted(n for n, h in expected.items() if got.get(n) != h) + sorted(set(got) - set(expected))
        v = subprocess.run([sys.executable, "-m", "jetclass2.packing", "verify", str(work / "results" / "dataset"),
                            "--categories", "Res2P", "QCD"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
        left = leftovers(work)
        rows.append((k, f"{at:.0f}" + ("" if killed else " (done)"), progress(log), plain_text, unlock.returncode,
                     rerun.returncode, f"{recovery:.0f}", f"{same}/{len(expected)}", len(bad),
                     "ok" if v.returncode == 0 else "FAIL", len(left)))
        if rerun.returncode or bad or v.returncode or left:
            failed = True
            print(f"kill {k}: differ {bad[:5]} leftovers {left[:5]} {rerun.stderr[-1500:]} {v.stderr}", file=sys.stderr)
        print(" | ".join(map(str, rows[-1])), flush=True)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print()
    for row in (header, *rows):
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths)))
    if not a.keep and not a.workdir:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
