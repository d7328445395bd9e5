"""Speed and memory of the fast detector simulation with 50 pile-up, against Pythia generation.

Generates boosted H->bb + jet events (Res2P_neutral, m = 125 GeV, pT > 516 GeV) with the
Pythia driver, then simulates them (after a warm-up batch that compiles the numba kernels)
and writes a Delphes-format file. Prints ms/event for generation, simulation and writing,
the simulation/generation ratio (target <= 0.5) and the peak resident memory (target < 2 GB).

Usage: python benchmarks/bench_fastsim.py [--events 200] [--batch 100] [--library PATH]
"""
import argparse
import cProfile
import pstats
import resource
import tempfile
import time
from pathlib import Path

import awkward as ak

from fastsim.delphes_format import DelphesWriter
from fastsim.detector import Simulator
from fastsim.generation import samples
from fastsim.generation.pileup import default_pileup_library
from fastsim.generation.pythia_driver import PythiaGenerator


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--library", default=None)
    ap.add_argument("--profile", action="store_true", help="print the top functions of the simulation")
    args = ap.parse_args()
    cfg = samples.load_config()
    lib = args.library or default_pileup_library()
    point = samples.GridPoint("Res2P_neutral", mass=125.0, pt_min=516.0)
    gen = PythiaGenerator(samples.pythia_commands(cfg, point, 1))
    t0 = time.perf_counter()
    events = ak.concatenate(list(gen.generate(args.events, batch_size=args.events, progress_every=0)))
    t_gen_wall = (time.perf_counter() - t0) / args.events
    t_next = gen.time_next / args.events
    t_gen = (gen.time_next + gen.time_convert) / args.events

    sim = Simulator(pileup_library=lib, seed=1)
    sim.process(events[:5])  # warm-up: numba kernels load/compile once per process
    prof = cProfile.Profile() if args.profile else None
    t_sim = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        t_write = 0.0
        with DelphesWriter(Path(tmp) / "d.root") as w:
            for i in range(0, len(events), args.batch):
                t0 = time.perf_counter()
                if prof:
                    prof.enable()
                out = sim.process(events[i:i + args.batch])
                if prof:
                    prof.disable()
                t1 = time.perf_counter()
                w.extend(out)
                t_sim += t1 - t0
                t_write += time.perf_counter() - t1
    n = len(events)
    n_cand = float(ak.mean(ak.num(out["ParticleFlowCandidate"])))
    print(f"sample: {point.describe()}, {n} events, batch {args.batch}, mean pile-up {sim.mean_pileup:.0f}")
    print(f"Pythia generation   : {1e3 * t_gen:7.1f} ms/event (next() {1e3 * t_next:.1f}, record conversion "
          f"{1e3 * (t_gen - t_next):.1f}; wall {1e3 * t_gen_wall:.1f})")
    print(f"fast simulation     : {1e3 * t_sim / n:7.1f} ms/event ({n_cand:.0f} candidates/event)")
    print(f"Delphes-format write: {1e3 * t_write / n:7.1f} ms/event")
    print(f"simulation / generation (Pythia next()+conversion): {t_sim / n / t_gen:.2f}   (target <= 0.5)")
    print(f"simulation / Pythia next() only                   : {t_sim / n / t_next:.2f}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB   (target < 2048)")
    print("reference here: Pythia ~13 ms/event (boosted H+jet), Delphes with the JetClass-II card ~67 ms/event")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(15)


if __name__ == "__main__":
    main()
