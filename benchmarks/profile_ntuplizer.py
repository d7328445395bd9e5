"""CPU time per stage of `ntuplize`, per event beyond an input without events.

Usage: python benchmarks/profile_ntuplizer.py EMPTY.root IN.root [IN.root ...] [--qcd PATTERN] [--passes 3]

Every input is ntuplized once untimed, then ``--passes`` times (and EMPTY.root as often as there
are inputs); the fastest pass counts. Stages are ntuplizer/jetclass2 functions timed in place
(nested ones are included in their parents). The per-file cost (ntuplize on the empty input, and
opening an input with the header reader and with uproot's TTree) is printed after the stages. Inputs whose path contains ``--qcd`` get QCD labels
(the side-by-side benchmark's setting). Pin it to one core (taskset -c N) on a shared machine.
"""
from __future__ import annotations

import argparse
import collections
import functools
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jetclass2.ntuplizer import core, jets, labels, ntuplize, writer  # noqa: E402

from jetclass2 import delphes_tree  # noqa: E402

T: dict[str, float] = collections.defaultdict(float)
STAGES = [
    (delphes_tree, "open_input", "opening the input: TTree header (per file, not per event)"),
    (delphes_tree, "_basket_reader", "reading: basket positions and counters"),
    (delphes_tree._BasketReader, "columns", "reading: inflating the baskets, columns"),
    (delphes_tree, "_events", "reading: finite check, records, momentum eta"),
    (core, "_reco_clustering", "anti-kT in fastjet: PUPPI candidates"),
    (jets, "cluster_flat", "anti-kT in fastjet: PUPPI + GEN"),
    (labels, "label_flat", "labels"),
    (jets, "soft_drop_masses", "soft drop (numba)"),
    (jets, "nsubjettiness", "N-subjettiness kernel (numba)"),
    (core, "_observables", "substructure: soft drop, N-subjettiness (kernel and fastjet-contrib)"),
    (core, "reco_jet_branches", "reco jet branches (incl. substructure)"),
    (core, "genjet_branches", "GEN-jet branches (incl. GEN anti-kT, soft drop)"),
    (core, "process_events", "process_events (all of the above but reading)"),
    (writer.JetWriter, "write", "writing (uproot, zstd)"),
]


def _timed(owner, name, label):
    f = getattr(owner, name)

    @functools.wraps(f)
    def g(*a, **k):
        c = time.process_time()
        try:
            return f(*a, **k)
        finally:
            T[label] += time.process_time() - c

    setattr(owner, name, g)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("empty")
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--qcd", default="QCD")
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--out", default="/tmp/profile_ntuplizer.root")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    for owner, name, label in STAGES:
        _timed(owner, name, label)
    jobs = [(p, args.qcd in p) for p in args.inputs]

    def run(lst):
        best = None
        for _ in range(args.passes):
            T.clear()
            c = time.process_time()
            for p, q in lst:
                ntuplize([p], args.out, qcd_labels=q)
            total = time.process_time() - c
            if best is None or total < best[0]:
                best = (total, dict(T))
        return best

    run(jobs)  # untimed pass: lazy initialisations, numba caches
    full, stages = run(jobs)
    empty, empty_stages = run([(args.empty, False)] * len(jobs))
    n = sum(delphes_tree.count_events(p) for p in args.inputs)
    print(f"{len(jobs)} inputs, {n} events: {full:.3f} s; the empty input {len(jobs)}x: {empty:.3f} s; "
          f"{(full - empty) / n * 1e3:.3f} ms per event beyond it ({n / (full - empty):.0f} events/s)")
    print(f"{'stage':70s} {'ms/event':>9s}")
    for _, _, label in STAGES[1:]:
        if label in stages:
            print(f"{label:70s} {(stages[label] - empty_stages.get(label, 0.0)) / n * 1e3:9.3f}")
    opening = empty_stages.get(STAGES[0][2], 0.0) / len(jobs)
    print(f"per input file: ntuplize on the empty input {empty / len(jobs) * 1e3:.1f} ms, of which opening it "
          f"{opening * 1e3:.1f} ms")
    for fast, what in ((True, "the header reader (open_input)"), (False, "uproot's TTree (open_input(fast=False))")):
        best = min(_cpu(lambda fast=fast: [delphes_tree.open_input(p, fast=fast) for p in args.inputs])
                   for _ in range(args.passes))
        print(f"opening an input with {what}: {best / len(args.inputs) * 1e3:.1f} ms CPU per file")
    return 0


def _cpu(f) -> float:
    c = time.process_time()
    f()
    return time.process_time() - c


if __name__ == "__main__":
    sys.exit(main())
