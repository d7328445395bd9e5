"""Packing throughput and peak memory: synthetic JetClass-II jets (the shared 100 real jets,
replicated with random labels) written as ntuples, then packed.

Usage: python benchmarks/bench_packing.py [--jets 1000000] [--inputs 10] [--jets-per-file 100000]
"""
import argparse
import resource
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np

from ntuplizer.writer import JetWriter
from packing.pack import pack_category

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "jetclass2" / "jetclass2_sample_100jets.parquet"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jets", type=int, default=200_000)
    ap.add_argument("--inputs", type=int, default=10)
    ap.add_argument("--jets-per-file", type=int, default=20_000)
    args = ap.parse_args()
    base = ak.from_parquet(SAMPLE)
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        per_input = args.jets // args.inputs
        inputs = []
        for i in range(args.inputs):
            jets = base[rng.integers(0, len(base), per_input)]
            jets = ak.with_field(jets, rng.integers(0, 188, per_input).astype(np.int32), "jet_label")
            path = tmp / f"in_{i}.root"
            with JetWriter(path) as w:
                for j in range(0, per_input, 20_000):
                    w.write(jets[j:j + 20_000])
            inputs.append(path)
        size = sum(p.stat().st_size for p in inputs) / 2**20
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        m = pack_category("QCD", inputs, tmp / "out", jets_per_file=args.jets_per_file, seed=1)
        dt = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"packed {m['jets']} jets ({size:.0f} MiB of ntuples) into {len(m['files'])} files in {dt:.1f} s: "
          f"{m['jets'] / dt:.0f} jets/s")
    print(f"peak RSS {rss:.0f} MiB (before packing {rss0:.0f} MiB, includes writing the inputs)")


if __name__ == "__main__":
    main()
