"""Pythia + Delphes per batch: ``DelphesPythia8`` once per batch (as the container job did) against one
``DelphesPythia8Batches`` for all of a job's batches (jetclass2/generation/delphes_batches.py), on the
same batches.

Needs the generation stack on PATH (``. "$(containers/stack-cache-dir)/setup.sh"``). One container job
of ``--batches`` batches of ``--events`` events is generated (MadGraph for resonant samples) with its
work directory kept; then, ``--repeats`` times and alternating, both ways run on its batches (the same
Pythia cards, Delphes seeds, pile-up file and trimmed card as the job). CPU is user + system of the
programs (independent of the machine's load); the program is compiled before the first run and its
compilation reported apart. Every leaf of every event of the two outputs is compared (the stopwatch
leaves, and for Pythia-alone samples the EventLHEF members DelphesPythia8 leaves uninitialised, apart).

    python benchmarks/bench_delphes_batches.py [--sample Res34P] [--batches 8] [--events 100] [--repeats 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import awkward as ak
import uproot

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jetclass2.generation import container_job as cj  # noqa: E402
from jetclass2.generation import delphes_batches  # noqa: E402

CARD = REPO / "cards" / "delphes" / "delphes_card_CMS_JetClassII_onlyFatJet.tcl"
CONVERTER = REPO / "cards" / "delphes" / "pileup_converter.tcl"
SEED = 1


#: wall-clock stopwatches of the event loop, not physics
TIMERS = ("ReadTime", "ProcTime")
#: TObject members uproot reads in some files and not in others
SOMETIMES_READABLE = ("fBits", "fUniqueID")


def leaves(paths: list[Path]) -> dict:
    """Every leaf uproot reads as an array, by name (TRef arrays it cannot, and the stopwatches, left
    out), concatenated over ``paths``; a leaf only some of the files give is left out too."""
    parts = []
    for p in paths:
        out = {}
        with uproot.open(p) as f:
            t = f["Delphes"]
            for key in t.keys():
                if t[key].branches or key.endswith(TIMERS):
                    continue
                try:
                    out[key.split("/")[-1]] = t[key].array(library="ak")
                except Exception:  # TRefArray members
                    continue
        parts.append(out)
    common = set.intersection(*(set(p) for p in parts))
    return {k: ak.concatenate([p[k] for p in parts]) for k in parts[0] if k in common}


def differing(a: dict, b: dict) -> list[str]:
    """The leaves of :func:`leaves` whose values differ between ``a`` and ``b``, sorted. Raises
    ``ValueError`` when they share too few leaves or one has a leaf the other lacks (other than
    :data:`SOMETIMES_READABLE`)."""
    common, only = a.keys() & b.keys(), a.keys() ^ b.keys()
    if len(common) <= 100 or not all(k.endswith(SOMETIMES_READABLE) for k in only):
        raise ValueError(f"not the same tree layout: {len(common)} leaves in common, only in one: {sorted(only)}")
    return sorted(k for k in common if len(a[k]) != len(b[k]) or ak.to_list(a[k]) != ak.to_list(b[k]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", default="Res34P")
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--events", type=int, default=100, help="events per batch")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--pileup-events", type=int, default=300)
    ap.add_argument("--pdf", default="builtin", choices=["builtin", "lhapdf"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_delphes_batches_") as tmp:
        tmp = Path(tmp)
        os.environ["JETCLASS2_CACHE"] = str(tmp / "cache")
        pileup = tmp / "minbias.pileup"
        cj.make_pileup(pileup, args.pileup_events, SEED, tmp / "pileup", CONVERTER)
        work = tmp / "job"
        n = args.batches * args.events
        t0 = time.perf_counter()
        cj.run_job(args.sample, 0, n, SEED, tmp / "job.root", CARD, pileup, work, events_per_grid_point=args.events,
                   pdf=args.pdf, keep_workdir=True, delphes_per_batch=True)
        print(f"{args.sample}: job of {args.batches} x {args.events} events generated in {time.perf_counter() - t0:.0f} s")
        batches = json.loads((work / cj.PROVENANCE).read_text())["batches"]
        steps = cj.Steps(args.sample)
        with steps.timed("compile"):
            program = delphes_batches.program(work)
        print(f"{delphes_batches.PROGRAM} compiled in {steps.times['compile']['cpu_s']:.1f} s CPU")
        cpu, kept = {"per batch": [], "one program": []}, {}
        for r in range(args.repeats):
            for way in cpu:
                steps = cj.Steps(args.sample)
                if way == "per batch":
                    files = [cj._shower_and_simulate(steps, args.sample, CARD, pileup, None, SEED, args.sample, 0, b,
                                                     work / f"batch_{b['batch']:04d}", keep=True) for b in batches]
                else:
                    files = [cj._shower_and_simulate_session(steps, args.sample, program, CARD, pileup, None, SEED,
                                                             args.sample, 0, batches, work, keep=True)]
                cpu[way].append(sum(v["cpu_s"] for v in steps.times.values()))
                if r == 0:
                    kept[way] = leaves(files)
        a, b = kept["per batch"], kept["one program"]
        no_lhe = not (work / cj.PROCESS_CARD).is_file()  # Pythia alone: no MadGraph process, no LHE events
        differ = differing(a, b)
        allowed = [k for k in differ if no_lhe and k.startswith("EventLHEF.")]
        print("| way | CPU per job of %d batches (runs) | median | per batch |\n| --- | --- | ---: | ---: |" % args.batches)
        med = {w: statistics.median(v) for w, v in cpu.items()}
        for w, v in cpu.items():
            print(f"| {w} | {' '.join(f'{c:.2f}' for c in v)} s | {med[w]:.2f} s | {med[w] / args.batches:.3f} s |")
        print(f"{args.sample}: one program / per batch CPU {med['one program'] / med['per batch']:.3f} "
              f"({(med['per batch'] - med['one program']) / args.batches:.2f} s less per batch of {args.events} events); "
              f"{len(a)} leaves of {len(a['Event.Number'])} events compared: "
              + ("all equal" if not differ else f"{len(differ)} differ: {', '.join(differ)}")
              + (" (EventLHEF of Pythia-alone events, uninitialised in DelphesPythia8: expected)" if differ and differ == allowed else ""))
        if differ != allowed:
            sys.exit(1)


if __name__ == "__main__":
    main()
