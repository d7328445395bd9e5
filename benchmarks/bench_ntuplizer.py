"""Ntuplizer throughput and memory on the shared real Delphes files (our tool alone).

Usage: python benchmarks/bench_ntuplizer.py [--repeat N]
Prints jets/s and events/s per file (CPU time, after one warm-up pass that loads the numba
kernels and fastjet) and the peak resident memory of the process. The comparison with the
reference macro, on the same inputs in the same run, is benchmarks/bench_side_by_side.py.
"""
import argparse
import resource
import time
from pathlib import Path

from jetclass2.ntuplizer import Settings, process_file

SHARED = next((p / "shared" / "reference" / "delphes" for p in Path(__file__).resolve().parents
               if (p / "shared" / "reference" / "delphes").is_dir()), Path("../shared/reference/delphes"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    settings = Settings.from_config()
    files = sorted(SHARED.glob("*.root"))
    process_file(files[0], settings)  # warm-up
    tot_jets = tot_events = tot_time = 0
    for path in files:
        from jetclass2.delphes_tree import count_events
        n_ev = count_events(path)
        t0 = time.process_time()
        for _ in range(args.repeat):
            n_jets = len(process_file(path, settings))
        dt = (time.process_time() - t0) / args.repeat
        tot_jets += n_jets
        tot_events += n_ev
        tot_time += dt
        print(f"{path.name:40s} {n_ev:5d} events {n_jets:5d} jets  {n_jets / dt:8.0f} jets/s  {n_ev / dt:8.0f} events/s")
    print(f"{'all files':40s} {tot_events:5d} events {tot_jets:5d} jets  {tot_jets / tot_time:8.0f} jets/s  {tot_events / tot_time:8.0f} events/s")
    # steady state: each file's events replicated to 2000 and processed in memory (no file opening)
    import awkward as ak
    import numpy as np
    from jetclass2.ntuplizer.core import process_events

    from jetclass2.delphes_tree import DelphesEvents, iterate_events
    for path in files:
        ev = next(iterate_events(path))
        k = max(1, 2000 // len(ev))
        big = DelphesEvents(ak.concatenate([ev.particles] * k), ak.concatenate([ev.pfcands] * k),
                            np.tile(ev.pv_z, k), np.tile(ev.pv_t, k), np.tile(ev.has_vertex, k))
        t0 = time.process_time()
        n_jets = len(process_events(big, settings))
        dt = time.process_time() - t0
        print(f"{'steady state ' + path.stem[:27]:40s} {len(big):5d} events {n_jets:5d} jets  "
              f"{n_jets / dt:8.0f} jets/s  {len(big) / dt:8.0f} events/s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
