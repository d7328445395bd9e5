"""DelphesPythia8's cost per batch with the full JetClass-II card and with the card trimmed to the
ntuplizer's branches (``run-container-job generate --delphes-outputs ntuples``, jetclass2.generation.delphes_card).

Needs the generation stack on PATH (``. "$(containers/stack-cache-dir)/setup.sh"``). Each batch
(a QCD batch rendered here, and any ``--batch DIR`` holding a real job's ``pythia8.cmnd``,
``delphes_card.tcl`` and LHE file) runs through ``DelphesPythia8`` with both cards, interleaved
(full, trimmed, full, trimmed, ...), same Pythia card, same seed, same pile-up file; CPU is the
child's user + system time (independent of the machine's load), wall time is not. The first pair's
Particle, ParticleFlowCandidate and Vertex branches are compared leaf by leaf.

    python benchmarks/bench_delphes_card.py --pileup FILE.pileup [--batch DIR ...] [--events 100] [--repeats 4]
"""
from __future__ import annotations

import argparse
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import awkward as ak
import uproot

from jetclass2.generation import container_job
from jetclass2.generation.delphes_card import NTUPLE_BRANCHES, trim_card
from jetclass2.generation.madgraph import render_job_cards

REPO = Path(__file__).resolve().parents[1]
CARD = REPO / "cards" / "delphes" / "delphes_card_CMS_JetClassII_onlyFatJet.tcl"


def qcd_batch(workdir: Path, events: int, seed: int, pileup: Path) -> Path:
    """Job 0's first QCD batch of ``events`` events, its Pythia card as the job driver writes it."""
    render_job_cards("QCD", 0, events, seed, workdir, events_per_grid_point=events, pdf="builtin")
    bdir = workdir / "batch_0000"
    (bdir / "pythia8.cmnd").write_text((bdir / "pythia8.cmnd").read_text() + f"Beams:LHEF = {container_job.NO_LHEF}\n")
    (bdir / "delphes_card.tcl").write_text(container_job.delphes_card_text(CARD, pileup, seed, None))
    return bdir


def cards(bdir: Path, pileup: Path) -> dict[str, str]:
    """The batch's Delphes card (pile-up file: ``pileup``) and its trimmed version."""
    text = re.sub(r"^(\s*set\s+PileUpFile\s+)\S+", lambda m: m.group(1) + str(pileup.resolve()),
                  (bdir / "delphes_card.tcl").read_text(), flags=re.MULTILINE)
    return {"full": text, "trimmed": trim_card(text).text}


def run(bdir: Path, card: str, out: str) -> tuple[float, float]:
    """CPU (user + system of DelphesPythia8) and wall seconds of one run."""
    (bdir / out).unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(bdir / f"{out}.log", "w") as log:
        subprocess.run(["DelphesPythia8", card, "pythia8.cmnd", out], cwd=bdir, stdout=log, stderr=subprocess.STDOUT,
                       check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall


def same_leaves(a: Path, b: Path) -> int:
    """Number of leaves of the ntuplizer's collections compared (all equal, or AssertionError)."""
    n = 0
    with uproot.open(a) as fa, uproot.open(b) as fb:
        ta, tb = fa["Delphes"], fb["Delphes"]
        assert ta.num_entries == tb.num_entries
        for c in NTUPLE_BRANCHES:
            for key in ta.keys(filter_name=f"{c}*"):
                leaf = key.split("/")[-1]
                if leaf != f"{c}_size" and not leaf.startswith(f"{c}."):
                    continue
                try:
                    x = ta[key].array(library="ak")
                except Exception:  # TRefArray members
                    continue
                assert ak.array_equal(x, tb[key].array(library="ak"), equal_nan=True), (a, key)
                n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pileup", type=Path, required=True, help="Delphes pile-up file (run-container-job pileup)")
    ap.add_argument("--batch", type=Path, action="append", default=[], help="a real job's batch directory (copied)")
    ap.add_argument("--events", type=int, default=100, help="events of the QCD batch")
    ap.add_argument("--repeats", type=int, default=4, help="runs per card and batch")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_delphes_card_") as tmp:
        tmp = Path(tmp)
        batches = {"QCD": qcd_batch(tmp / "qcd", args.events, 1, args.pileup)}
        for src in args.batch:
            dst = tmp / src.name
            dst.mkdir()
            for f in src.iterdir():
                if f.suffix in (".cmnd", ".tcl", ".lhe"):
                    shutil.copyfile(f, dst / f.name)
            batches[src.name] = dst
        print("| batch | card | CPU per batch (runs) | median | wall median |\n| --- | --- | --- | ---: | ---: |")
        for name, bdir in batches.items():
            times = {"full": [], "trimmed": []}
            for kind, text in cards(bdir, args.pileup).items():
                (bdir / f"{kind}.tcl").write_text(text)
            for i in range(args.repeats):
                for kind in ("full", "trimmed"):
                    times[kind].append(run(bdir, f"{kind}.tcl", f"{kind}_{i}.root"))
            leaves = same_leaves(bdir / "full_0.root", bdir / "trimmed_0.root")
            med = {k: statistics.median(c for c, _ in v) for k, v in times.items()}
            for kind, v in times.items():
                print(f"| {name} | {kind} | {' '.join(f'{c:.2f}' for c, _ in v)} s | {med[kind]:.2f} s | "
                      f"{statistics.median(w for _, w in v):.2f} s |")
            print(f"{name}: trimmed/full CPU {med['trimmed'] / med['full']:.3f} "
                  f"({med['full'] - med['trimmed']:.2f} s less per batch); {leaves} leaves of "
                  f"{', '.join(NTUPLE_BRANCHES)} equal; file sizes "
                  f"{(bdir / 'full_0.root').stat().st_size} -> {(bdir / 'trimmed_0.root').stat().st_size} bytes")


if __name__ == "__main__":
    main()
