"""jetdata read speed and peak memory on 1M synthetic jets in the published parquet layout.

    python benchmarks/bench_jetdata.py --jets 1000000 -o /tmp/jetdata_bench

Writes (once) ``Res2P_NNNN.parquet`` files of 100k synthetic jets (benchmarks/synthetic_jets.py; the
published schema, ZSTD, row groups of 10k jets), then, each in a fresh process: ``jetdata.get_data``
(6 particle features, 128 particles, 6 jet features) and one epoch of ``JetIterableDataset``
(same features, batches of 1024, shuffle buffer 100k, DataLoader with 0 workers). Prints jets/s and
the process's peak resident memory.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))


def write(outdir: Path, jets: int, per_file: int = 100_000) -> None:
    from synthetic_jets import synthetic_jets

    from jetclass2.packing import columns

    outdir.mkdir(parents=True, exist_ok=True)
    schema = columns.arrow_schema(large=False)
    for i in range(-(-jets // per_file)):
        path = outdir / f"Res2P_{i:04d}.parquet"
        n = min(per_file, jets - i * per_file)
        if path.exists() and pq.ParquetFile(path).metadata.num_rows == n:
            continue
        cols = columns.from_awkward(synthetic_jets(n, np.random.default_rng([1, i])))
        with pq.ParquetWriter(path, schema, compression="zstd", use_compliant_nested_type=False) as w:
            for a in range(0, n, 10_000):
                w.write_batch(columns.to_batch(columns.slice_jets(cols, a, min(a + 10_000, n)), schema), row_group_size=10_000)
        print(f"wrote {path}", file=sys.stderr)


def measure(kind: str, outdir: str) -> dict:
    from jetclass2 import jetdata
    t0 = time.perf_counter()
    if kind == "get_data":
        d = jetdata.get_data(outdir, split="all", num_particles=128)
        n = len(d.labels)
    else:
        from torch.utils.data import DataLoader

        ds = jetdata.JetIterableDataset(outdir, split="all", num_particles=128, shuffle_buffer=100_000, seed=1, batch_size=1024)
        n = sum(len(b["label"]) for b in DataLoader(ds, batch_size=None, num_workers=0))
    dt = time.perf_counter() - t0
    return {"kind": kind, "jets": n, "seconds": round(dt, 1), "jets_per_s": round(n / dt),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jets", type=int, default=1_000_000)
    ap.add_argument("-o", "--outdir", required=True)
    ap.add_argument("--measure", choices=["get_data", "iterable"], help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.measure:
        print(json.dumps(measure(a.measure, a.outdir)))
        return
    write(Path(a.outdir), a.jets)
    for kind in ("get_data", "iterable"):  # fresh processes: independent peak memory
        r = subprocess.run([sys.executable, __file__, "-o", a.outdir, "--measure", kind], capture_output=True, text=True)
        print(r.stdout.strip() or r.stderr[-2000:])


if __name__ == "__main__":
    main()
