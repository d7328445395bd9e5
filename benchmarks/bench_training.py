"""Training throughput and loader memory of the full configuration (config/jetclass2_full.yaml).

1. weaver's data loader (read, select, reweight-sample, standardise, wrap-pad to 128 particles, batch)
   on synthetic JetClass-II files (benchmarks/synthetic_jets.py: the exact branch schema, 100k jets per
   file, written once to a cache directory), with the full config's loader options as `snakemake train`
   renders them (jetclass2/training/command.py): make_weight's reweighting histograms, --fetch-step,
   --data-split-num, batch size. One loader worker is measured in a fresh process (a DataLoader worker
   runs exactly this loop): jets/s and peak resident memory. The files are dealt to Res2P, Res34P and QCD
   in the full production's proportions and split so that one fetch reads the same jets (and the same
   fractions of each category's files) as one worker of the full production (1344 training files, 5
   workers per GPU, --data-split-num 200) on 1 GPU and on 4 GPUs, for 5, 10 and 20 files: the memory
   is then shown flat in the number of files. Further rows: 1 GPU with max_jets_per_fetch (--cap), and
   the literal small-dataset case (20 files, each worker's 4 files read in 200 parts).
2. forward + backward + optimizer step of the full-size Sophon ParT on the CPU (fp32: AMP is a GPU
   feature), seconds per batch, on batches from that loader.

Usage: python benchmarks/bench_training.py [--cache DIR] [--files 5 10 20] [--step-batch 200] [--steps 2]
The first run writes the synthetic files (about 25 s and 500 MB per file). No GPU here: the GPU step
rate with fp16 AMP and the GPU utilisation need a GPU machine (the step section adds the CUDA rows when
torch sees one).
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from synthetic_jets import ensure_dataset  # noqa: E402

from jetclass2.training import command  # noqa: E402
from jetclass2.training import data_config as dc_writer  # noqa: E402


def full_options() -> dict:
    return yaml.safe_load((REPO / "config" / "jetclass2_full.yaml").read_text())["training"]


def full_train_counts(jets_per_file: int = 100_000) -> dict[str, list[int]]:
    """Training files of the full production: one jet per event (JetClass-II's 201M jets from 201.6M events),
    train share of pack.split, files of pack.jets_per_file jets."""
    cfg = yaml.safe_load((REPO / "config" / "jetclass2_full.yaml").read_text())
    split = cfg["pack"]["split"]
    per_cat: dict[str, int] = {}
    for sample, s in cfg["samples"].items():
        cat = sample.split("_", 1)[0]
        per_cat[cat] = per_cat.get(cat, 0) + s["jobs"] * s["events_per_job"]
    jpf = cfg["pack"]["jets_per_file"]
    return {c: [jpf] * round(n * split[0] / sum(split) / jpf) for c, n in per_cat.items()}


def by_category(files, shares: dict[str, float]) -> dict[str, list]:
    """The files dealt to the categories in proportion to ``shares`` (largest remainders, at least one each)."""
    total = sum(shares.values())
    exact = {c: len(files) * v / total for c, v in shares.items()}
    n = {c: max(1, int(x)) for c, x in exact.items()}
    for c in sorted(exact, key=lambda c: exact[c] - int(exact[c]), reverse=True):
        if sum(n.values()) >= len(files):
            break
        n[c] += 1
    out, i = {}, 0
    for c in shares:
        out[c] = list(files[i:i + n[c]])
        i += n[c]
    return out


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def probe(file_dict, dc_path, split, fetch_step, batch, min_fetches):
    """One loader worker: iterate until `min_fetches` fetches were consumed; print jets/s and memory as JSON."""
    import torch
    from weaver.utils.dataset import SimpleIterDataset

    ds = SimpleIterDataset(file_dict, dc_path, for_training=True, batch_size=batch,
                           load_range_and_fraction=((0, 1), 1, split), fetch_step=fetch_step,
                           remake_weights=False, infinity_mode=True, name="train")
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=0, drop_last=True)
    base = rss_mb()
    it = iter(loader)
    inner = None
    n = 0
    t0 = None
    fetches_seen = 0
    last_table = None
    selected = sampled = 0  # jets passing the selection, jets kept by the reweighting sampler
    while True:
        _X, y, _ = next(it)
        if inner is None:  # the first fetch is loaded: from here on the next fetch loads while this one is consumed
            inner = it._dataset_fetcher.dataset_iter  # weaver's _SimpleIter (num_workers=0)
            t0 = time.perf_counter()
        if inner.table is not last_table:
            last_table = inner.table
            fetches_seen += 1
            if fetches_seen > min_fetches:  # the first batch of fetch min_fetches+1: min_fetches fully consumed
                break
            selected += len(inner.table["_pf_mask"])
            sampled += len(inner.indices)
        n += len(y["truth_label"])
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"jets": n, "seconds": dt, "jets_per_s": n / dt, "baseline_mb": base, "peak_mb": peak,
                      "kept_fraction": sampled / max(1, selected)}))


def run_probe(file_dict, dc_path, split, fetch_step, batch, min_fetches=1) -> dict:
    code = ("import sys, json; sys.path.insert(0, %r); import bench_training as b; "
            "b.probe(json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))"
            % str(REPO / "benchmarks"))
    r = subprocess.run([sys.executable, "-c", code, json.dumps({c: [str(f) for f in fs] for c, fs in file_dict.items()}), str(dc_path), str(split),
                        str(fetch_step), str(batch), str(min_fetches)], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def train_step(model, opt, scaler, input_names, X, y, device, amp):
    """One step as weaver trains with --use-amp --amp-dtype fp16 (autocast float16 + GradScaler) or fp32."""
    import torch

    opt.zero_grad()
    with torch.autocast("cuda", enabled=amp, dtype=torch.float16):
        out = model(*[X[k].to(device) for k in input_names])
        loss = torch.nn.functional.cross_entropy(out, y["truth_label"].long().to(device))
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()


def bench_step(dc_path, files, batch, steps):
    """Seconds per training step of the full-size network on the CPU (and the GPU when present)."""
    import torch
    from weaver.utils.data.config import DataConfig
    from weaver.utils.dataset import SimpleIterDataset

    from jetclass2.training import network_sophon

    dc = DataConfig.load(str(dc_path))
    ds = SimpleIterDataset({"synthetic": [str(files[0])]}, str(dc_path), for_training=True, batch_size=batch,
                           load_range_and_fraction=((0, 1), 1, 20), fetch_step=1.0, remake_weights=False, name="train")
    batches = []
    for X, y, _ in torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=0, drop_last=True):
        batches.append((X, y))
        if len(batches) >= 2:
            break
    net_opts = {k: ast.literal_eval(v) if isinstance(v, str) else v for k, v in (full_options().get("network_options") or {}).items()}
    rows = []
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        for amp in ((False, True) if device.type == "cuda" else (False,)):
            model, _ = network_sophon.get_model(dc, num_classes=188, use_amp=amp, **net_opts)
            model.to(device).train()
            opt = torch.optim.RAdam(model.parameters(), lr=5e-4)
            scaler = torch.amp.GradScaler("cuda", enabled=amp)
            train_step(model, opt, scaler, dc.input_names, *batches[0], device, amp)  # warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for i in range(steps):
                train_step(model, opt, scaler, dc.input_names, *batches[i % len(batches)], device, amp)
            if device.type == "cuda":
                torch.cuda.synchronize()
            dt = (time.perf_counter() - t0) / steps
            rows.append((device.type + (" + fp16 AMP" if amp else ", fp32"), dt, batch / dt,
                         sum(p.numel() for p in model.parameters())))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default=os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                                                    "jetclass2-bench"))
    ap.add_argument("--files", type=int, nargs="+", default=[5, 10, 20])
    ap.add_argument("--jets-per-file", type=int, default=100_000)
    ap.add_argument("--step-batch", type=int, default=200, help="jets per training step (about 8 GB of memory on the CPU)")
    ap.add_argument("--steps", type=int, default=1, help="timed steps after one warm-up step")
    ap.add_argument("--skip-step", action="store_true")
    ap.add_argument("--cap", type=int, default=80_000, help="also measure 1 GPU with this max_jets_per_fetch (0: no)")
    a = ap.parse_args()
    t_start = time.perf_counter()
    files = ensure_dataset(Path(a.cache) / "synthetic", max(a.files), a.jets_per_file)
    opts = full_options()
    with tempfile.TemporaryDirectory() as tmp:
        dc_path = dc_writer.write(Path(tmp) / "dc.yaml")
        key = hashlib.md5(dc_path.read_bytes()).hexdigest()[:10]
        weights = Path(a.cache) / f"weights_{max(a.files)}x{a.jets_per_file}_{key}.auto.yaml"
        if not weights.exists():  # make_weight's histograms of the synthetic set, computed once
            from weaver.utils.data.config import DataConfig
            from weaver.utils.data.preprocess import WeightMaker

            WeightMaker([str(f) for f in files], DataConfig.load(str(dc_path))).produce(str(weights))
        counts = full_train_counts(a.jets_per_file)
        print(f"full configuration: {sum(map(len, counts.values()))} training files of {a.jets_per_file} jets "
              f"({', '.join(f'{c} {len(v)}' for c, v in counts.items())}); loader options num_workers {opts['num_workers']}, "
              f"fetch_step {opts['fetch_step']}, data_split_num {opts['data_split_num']}, "
              f"max_jets_per_fetch {opts.get('max_jets_per_fetch')}, batch {opts['batch_size']}")
        print(f"{'case':48s} {'files':>5s} {'split':>5s} {'jets/fetch':>10s} {'jets/s/worker':>13s} "
              f"{'kept':>5s} {'base MB':>8s} {'peak MB':>8s}")
        def row(case, file_dict, split, min_fetches=1):
            r = run_probe(file_dict, weights, split, opts["fetch_step"], opts["batch_size"], min_fetches)
            nf = sum(map(len, file_dict.values()))
            print(f"{case:48s} {nf:5d} {split:5d} {nf * a.jets_per_file // split:10d} {r['jets_per_s']:13.0f} "
                  f"{r['kept_fraction']:5.2f} {r['baseline_mb']:8.0f} {r['peak_mb']:8.0f}", flush=True)

        shares = {c: len(v) for c, v in counts.items()}
        cases = [("0", opts.get("max_jets_per_fetch"), a.files), ("0,1,2,3", opts.get("max_jets_per_fetch"), [max(a.files)])]
        if a.cap:
            cases.append(("0", a.cap, [max(a.files)]))
        for gpus, cap, ns in cases:
            plan = command.loader_plan({**opts, "gpus": gpus, "max_jets_per_fetch": cap}, counts, val_count=10**6)
            label = f"full, {command.n_gpus(gpus)} GPU, split {plan.data_split_num}: {plan.jets_per_fetch} jets"
            for n in ns:  # the categories' files and jets per fetch of one worker of the full production
                row(label, by_category(files[:n], shares), max(1, round(n * a.jets_per_file / plan.jets_per_fetch)))
        n = max(a.files)
        plan = command.loader_plan({**opts, "gpus": "0"}, {"synthetic": [a.jets_per_file] * n}, val_count=n)
        row(f"as rendered for {n} files ({plan.num_workers} workers), worker 0", {"synthetic": files[:n][0::plan.num_workers]},
            plan.data_split_num, min_fetches=2)
        print("(jets/s/worker: jets delivered after the reweighting sampler, which keeps the 'kept' fraction of the "
              "selected jets; peak MB: resident memory of the worker process, base MB: before the first fetch)")
        if not a.skip_step:
            import torch

            for label, dt, rate, n_par in bench_step(weights, files, a.step_batch, a.steps):
                print(f"training step, full-size Sophon ParT ({n_par / 1e6:.2f} M parameters), {label}, batch {a.step_batch}: "
                      f"{dt:.2f} s per batch ({rate:.0f} jets/s, {torch.get_num_threads()} threads)")
            if not torch.cuda.is_available():
                print("no CUDA device here: the GPU step rate (fp16 AMP) and GPU utilisation were not measured")
    print(f"benchmark wall time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
