"""Per-event cost of the embedded chain: Pythia 8 generation (next() and record conversion),
fast detector simulation with 50 pile-up, writing the Delphes-format file, and ntuplizing,
per sample. sim/gen compares the simulation with the whole generation step (next() + record
conversion), as the job runs them.

Our chain alone (wall time of each step in one process); against the reference chain in the same
run: benchmarks/bench_side_by_side.py.

Usage: python benchmarks/bench_chain.py [--events 100] [--library PATH]
Profile: python -m cProfile -s cumtime benchmarks/bench_chain.py --events 100
"""
import argparse
import resource
import tempfile
import time
from pathlib import Path

import awkward as ak
from jetclass2.ntuplizer import process_file

from jetclass2.delphes_tree import DelphesWriter
from jetclass2.fastsim.detector import Simulator
from jetclass2.generation import samples
from jetclass2.generation.pileup_library import default_pileup_library
from jetclass2.generation.pythia_driver import PythiaGenerator

POINTS = [samples.GridPoint("Res2P_neutral", mass=125.0, pt_min=516.0),
          samples.GridPoint("Res2P_charged", mass=80.0, pt_min=516.0),
          samples.GridPoint("Res34P", mass=200.0, pt_min=516.0, mass_y=40.0, width_y=0.01),
          samples.GridPoint("QCD", pt_min=float(samples.qcd_pthat_grid(samples.load_config())[60]))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--library", default=None)
    args = ap.parse_args()
    cfg = samples.load_config()
    lib = args.library or default_pileup_library()
    print(f"{'sample':44s} {'next()':>8s} {'convert':>8s} {'outside':>8s} {'sim 50PU':>9s} {'write':>7s} {'sim/gen':>8s} "
          f"{'ntuplize':>9s}  [ms/event]")
    for p in POINTS:
        gen = PythiaGenerator(samples.pythia_commands(cfg, p, 1), **samples.generator_options(cfg, p.sample))
        events = ak.concatenate(list(gen.generate(args.events, batch_size=args.events, progress_every=0)))
        Simulator(pileup_library=lib, seed=2).process(events[:2])  # numba compilation outside the timing
        sim = Simulator(pileup_library=lib, seed=1)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "d.root"
            t_sim = t_write = 0.0
            with DelphesWriter(out) as w:
                for i in range(0, len(events), 50):
                    t0 = time.perf_counter()
                    batch = sim.process(events[i:i + 50])
                    t1 = time.perf_counter()
                    w.extend(batch)
                    t_sim += t1 - t0
                    t_write += time.perf_counter() - t1
            t_sim /= args.events
            t_write /= args.events
            t0 = time.perf_counter()
            process_file(out)
            t_nt = (time.perf_counter() - t0) / args.events
        t_next, t_conv = gen.time_next / args.events, gen.time_convert / args.events
        t_gen = t_next + t_conv
        print(f"{p.describe():44s} {1e3 * t_next:8.1f} {1e3 * t_conv:8.1f} {100 * t_conv / t_gen:7.0f}% {1e3 * t_sim:9.1f} "
              f"{1e3 * t_write:7.1f} {t_sim / t_gen:8.2f} {1e3 * t_nt:9.1f}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print("the reference chain (Pythia + Delphes + macro) side by side: python benchmarks/bench_side_by_side.py")


if __name__ == "__main__":
    main()
