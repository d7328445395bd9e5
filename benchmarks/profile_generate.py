"""Where the embedded ``generate`` job spends its time, per stage, on the side-by-side benchmark's
grid points (job 0 of each sample among the points with pT_min >= 500 GeV, production seed 1).

Each stage is timed in process (CPU time, ``time.process_time``) by wrapping the function that
does it; per event = stage time / events, after a warm-up job (numba compilation, lazy imports).
Job set-up (Pythia initialisation, card, pile-up library) is reported apart. The stages nest
(e.g. ``simulate`` contains ``propagate``), so the simulation rows add up to ``simulate``.
With ``--digest`` it also prints a SHA-256 of every array of the written files, to check that an
optimisation left the output bit for bit the same (compare two runs' lines).

Usage: python benchmarks/profile_generate.py [--events 100] [--samples S ...] [--digest]
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

JOB, SEED, MIN_PT = 0, 1, 500.0

TIMES: dict[str, float] = defaultdict(float)

# (module, attribute, stage name): wrapped in the module where it is looked up
STAGES = [
    ("jetclass2.generation.pythia_driver", "PythiaGenerator.configure", "job set-up: Pythia init"),
    ("jetclass2.fastsim.job", "_simulator", "job set-up: card, pile-up library"),
    ("jetclass2.fastsim.detector.simulator", "Simulator.process", "simulate (all)"),
    ("jetclass2.fastsim.detector.simulator", "_check_input", "  input checks"),
    ("jetclass2.fastsim.detector.pileup", "PileupLibrary.overlay", "  pile-up overlay"),
    ("jetclass2.fastsim.detector.simulator", "propagate", "  propagation (hard scatter)"),
    ("jetclass2.fastsim.detector.simulator", "propagate_pileup", "  propagation (pile-up)"),
    ("jetclass2.fastsim.detector.simulator", "reconstruct_tracks", "  tracking"),
    ("jetclass2.fastsim.detector.simulator", "calorimeter", "  calorimeters"),
    ("jetclass2.fastsim.detector.simulator", "energy_fractions", "  energy fractions"),
    ("jetclass2.fastsim.detector.simulator", "_puppi_weights", "  PUPPI"),
    ("jetclass2.fastsim.detector.simulator", "_candidates", "  candidates"),
    ("jetclass2.fastsim.detector.simulator", "Simulator._vertices", "  vertices"),
    ("jetclass2.fastsim.detector.simulator", "_shift_record", "  record shift"),
    ("jetclass2.delphes_tree", "DelphesWriter.extend", "write (all)"),
    ("jetclass2.delphes_tree", "_as_record", "  to record dtypes"),
]


def _wrap(module, attr, name):
    import importlib

    mod = importlib.import_module(module)
    owner, leaf = mod, attr
    if "." in attr:
        cls, leaf = attr.split(".")
        owner = getattr(mod, cls)
    fn = getattr(owner, leaf)

    def timed(*a, **k):
        t0 = time.process_time()
        try:
            return fn(*a, **k)
        finally:
            TIMES[name] += time.process_time() - t0

    setattr(owner, leaf, timed)


def digest_file(path: Path) -> str:
    import numpy as np
    import uproot

    h = hashlib.sha256()
    with uproot.open(path) as f:
        t = f["Delphes"]
        for name in sorted(t.keys()):
            arr = t[name].array(library="ak")
            import awkward as ak

            h.update(name.encode())
            h.update(np.ascontiguousarray(ak.to_numpy(ak.flatten(arr, axis=None))).tobytes())
    return h.hexdigest()[:16]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--samples", nargs="*", default=["Res2P_neutral", "Res2P_charged", "Res34P", "QCD"])
    ap.add_argument("--digest", action="store_true", help="print a hash of each written file's arrays")
    args = ap.parse_args()
    from jetclass2.fastsim.job import main as generate

    for st in STAGES:
        _wrap(*st)
    from jetclass2.generation import pythia_driver

    work = Path(tempfile.mkdtemp(prefix="profile_generate_"))

    def job(sample, n, out):
        argv = ["--sample", sample, "--job", str(JOB), "--seed", str(SEED), "--min-pt", str(MIN_PT), "--events", str(n),
                "-o", str(out), "-q"]
        if generate(argv) != 0:
            raise RuntimeError(f"generate {argv} failed")

    job(args.samples[0], 10, work / "warmup.root")
    TIMES.clear()
    nb = {"next": 0.0, "convert": 0.0}
    orig_generate = pythia_driver.PythiaGenerator.generate

    def gen_timed(self, *a, **k):
        n0, c0 = self.time_next, self.time_convert
        yield from orig_generate(self, *a, **k)
        nb["next"] += self.time_next - n0
        nb["convert"] += self.time_convert - c0

    pythia_driver.PythiaGenerator.generate = gen_timed
    t0 = time.process_time()
    for s in args.samples:
        job(s, args.events, work / f"{s}.root")
    total = time.process_time() - t0
    n = args.events * len(args.samples)
    TIMES["Pythia nextBatch"] = nb["next"]
    TIMES["record conversion"] = nb["convert"]
    setup = TIMES["job set-up: Pythia init"] + TIMES["job set-up: card, pile-up library"]
    print(f"{n} events ({args.events} per sample: {', '.join(args.samples)}), CPU time in process")
    print(f"{'stage':36s} {'ms/event':>9s}")
    order = ["Pythia nextBatch", "record conversion"] + [s[2] for s in STAGES[2:]]
    for name in order:
        print(f"{name:36s} {1e3 * TIMES[name] / n:9.2f}")
    print(f"{'job set-up (per job, s)':36s} {setup / len(args.samples):9.2f}")
    print(f"{'total per event excl. set-up':36s} {1e3 * (total - setup) / n:9.2f}")
    if args.digest:
        for s in args.samples:
            print(f"digest {s} {digest_file(work / f'{s}.root')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
