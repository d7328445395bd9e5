"""Training throughput of the Sophon ParT: weaver's data loading and the model's training step.

Prints jets/s of (1) weaver's data pipeline (read, select, standardise, wrap-pad to 128 particles)
on packed JetClass-II files, per loader worker, and (2) forward + backward + optimizer step of the
full-size Sophon network (and the tiny CI network) on batches from that pipeline, on the CPU and,
when CUDA is available, on the GPU with and without AMP. Loading keeps the GPU busy when
workers x loader rate exceeds the GPU step rate.

Usage: python benchmarks/bench_training.py [--files results/dataset/*_0000.root ...] [--batch 64] [--steps 10]
(default: the jets of the shared reference ntuples replicated into one 20k-jet file, so that the
loader is measured on a file of production-like size).
"""
import argparse
import tempfile
import time
from pathlib import Path

import torch

from training import data_config as dc_writer
from training import network_sophon

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ntuples"

FULL = {"fc_params": [(512, 0.1)]}
TINY = {"fc_params": [(32, 0.1)], "embed_dims": [16, 32, 16], "pair_embed_dims": [8, 8, 8], "num_heads": 2,
        "num_layers": 1, "num_cls_layers": 1}


def loader_batches(files, dc_path, batch):
    from weaver.utils.dataset import SimpleIterDataset

    ds = SimpleIterDataset({"all": [str(f) for f in files]}, str(dc_path), for_training=True, fetch_by_files=True,
                           fetch_step=len(files), remake_weights=False, in_memory=False)
    return torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=0, drop_last=True)


def bench_loader(files, dc_path, batch, max_batches=200):
    n = 0
    batches = []
    t0 = time.perf_counter()
    for i, (X, y, _) in enumerate(loader_batches(files, dc_path, batch)):
        n += len(y["truth_label"])
        if len(batches) < 20:
            batches.append((X, y))
        if i + 1 >= max_batches:
            break
    return n / (time.perf_counter() - t0), batches


def bench_step(dc, batches, opts, device, amp, steps):
    model, _ = network_sophon.get_model(dc, num_classes=188, use_amp=amp, **opts)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda")
    loss_fn = torch.nn.CrossEntropyLoss()
    names = list(dc.input_names)

    def step(X, y):
        inputs = [X[k].to(device) for k in names]
        label = y["truth_label"].long().to(device)
        opt.zero_grad()
        with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
            loss = loss_fn(model(*inputs), label)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    step(*batches[0])  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    n = 0
    t0 = time.perf_counter()
    for i in range(steps):
        X, y = batches[i % len(batches)]
        step(X, y)
        n += len(y["truth_label"])
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0), sum(p.numel() for p in model.parameters())


def main():
    from weaver.utils.data.config import DataConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--files", nargs="+", default=None)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.files is None:
            import awkward as ak

            from ntuplizer.writer import read_jets, write_jets

            jets = ak.concatenate([read_jets(p) for p in sorted(SHARED.glob("*.ntuple.root"))])
            args.files = [str(Path(tmp) / "jets.root")]
            write_jets(args.files[0], ak.concatenate([jets] * (20000 // len(jets) + 1))[:20000])
        dc_path = dc_writer.write(Path(tmp) / "dc.yaml", reweight=False)
        dc = DataConfig.load(str(dc_path))
        rate, batches = bench_loader(args.files, dc_path, args.batch)
        print(f"weaver data loading: {rate:8.0f} jets/s per worker ({len(args.files)} files, batch {args.batch})")
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
        for device in devices:
            for name, opts in (("Sophon ParT (full size)", FULL), ("tiny CI network", TINY)):
                for amp in ((False, True) if device.type == "cuda" else (False,)):
                    r, n_par = bench_step(dc, batches, opts, device, amp, args.steps)
                    label = f"{name}, {device.type}{' + AMP' if amp else ''}"
                    print(f"training step {label:38s}: {r:8.0f} jets/s ({n_par / 1e6:.2f} M parameters, "
                          f"{torch.get_num_threads()} threads)" if device.type == "cpu" else
                          f"training step {label:38s}: {r:8.0f} jets/s ({n_par / 1e6:.2f} M parameters)")
    if not torch.cuda.is_available():
        print("no CUDA device here: GPU figures need a GPU machine (same command)")


if __name__ == "__main__":
    main()
