"""The weaver command line of `snakemake train`, rendered from the ``training:`` options of the config.

Sophon's ``train_sophon.sh`` (jet-universe/sophon) is the reference; the numbers that weaver-core 0.5.3
does not derive itself are derived here:

- samples per epoch: the configured number is the total over all GPUs; each torchrun process gets
  ``samples_per_epoch // n_gpus`` (Sophon passes ``10000*1024/NGPUS``; weaver 0.5.3 does not divide).
- ``samples_per_epoch_val`` is passed as configured (Sophon does not divide it).
- learning rate: ``start_lr * n_gpus`` (Sophon's README: scale the learning rate with the GPUs).
- several GPUs: ``torchrun --standalone --nnodes=1 --nproc_per_node=N ... --backend nccl``.
- loader: ``--num-workers``, ``--fetch-step``, ``--data-split-num`` as configured; the workers are capped
  so that every worker of every process gets at least one file of each category (weaver asserts it),
  and the split number is raised when one fetch of a worker would exceed ``max_jets_per_fetch``.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass


def n_gpus(gpus) -> int:
    """Number of GPUs in a weaver ``--gpus`` string ("" = CPU = 0)."""
    return len([g for g in str(gpus or "").split(",") if g.strip()])


def processes(gpus) -> int:
    """Training processes: one per GPU, one on CPU."""
    return max(1, n_gpus(gpus))


@dataclass(frozen=True)
class LoaderPlan:
    """Loader settings of one training process and what they imply for memory."""

    num_workers: int          # DataLoader workers per process (0: the process itself loads)
    data_split_num: int
    fetch_step: float
    jets_per_fetch: int       # training jets one worker reads and preprocesses at once (a second fetch is prefetched)


def loader_plan(opts: dict, train_counts: dict[str, list[int]], val_count: int) -> LoaderPlan:
    """Workers and split number for the training files (category -> jets of each file) and ``val_count`` val files."""
    procs = processes(opts.get("gpus"))
    for cat, jets in train_counts.items():
        if len(jets) < procs:
            raise ValueError(f"category {cat}: {len(jets)} training files for {procs} training processes")
    if val_count < procs:
        raise ValueError(f"{val_count} validation files for {procs} training processes")
    workers = int(opts.get("num_workers", 0))
    if workers:  # weaver gives each worker files[worker::workers] of each category and asserts it is not empty
        workers = max(1, min([workers, val_count // procs] + [len(j) // procs for j in train_counts.values()]))
    fetch_step = float(opts.get("fetch_step", 1.0))
    split = int(opts.get("data_split_num", 1))
    jets_per_worker = sum(map(sum, train_counts.values())) / (procs * max(1, workers))
    cap = opts.get("max_jets_per_fetch")
    if cap:
        split = max(split, math.ceil(jets_per_worker * min(fetch_step, 1.0) / cap))
    return LoaderPlan(workers, split, fetch_step, math.ceil(jets_per_worker * min(fetch_step, 1.0) / split))


def launcher(gpus) -> list[str]:
    """weaver itself, or torchrun around it for several GPUs (our entry point: weaver's main, see weaver_entry)."""
    n = n_gpus(gpus)
    if n > 1:
        return ["torchrun", "--standalone", "--nnodes=1", f"--nproc_per_node={n}", "-m", "jetclass2.training.weaver_entry",
                "--backend", "nccl"]
    return [sys.executable, "-m", "jetclass2.training.weaver_entry"]


def network_args(network_config: str, opts: dict) -> list[str]:
    args = ["--network-config", str(network_config), "-o", "num_classes", "188"]
    for k, v in (opts.get("network_options") or {}).items():
        args += ["-o", str(k), str(v)]
    return args


def precision_args(opts: dict) -> list[str]:
    """``--use-amp --amp-dtype fp16``: Sophon's training autocast to float16 with a GradScaler (weaver
    dev/custom_train_eval); weaver 0.5.3 does the same with ``--amp-dtype fp16`` (its default is bf16)."""
    if not opts.get("use_amp"):
        return []
    return ["--use-amp", "--amp-dtype", str(opts.get("amp_dtype", "fp16"))]


def weaver_train_args(opts: dict, *, train_files: dict[str, list[str]], val_files: list[str], data_config: str,
                      network_config: str, model_prefix: str, log_file: str, plan: LoaderPlan,
                      weights_precomputed: bool = False, load_epoch: int | None = None) -> list[str]:
    """The full command (launcher + weaver arguments) of one training run."""
    n = processes(opts.get("gpus"))
    cmd = launcher(opts.get("gpus"))
    if weights_precomputed:  # reweighting histograms from make_weight (train + val), as Sophon
        cmd.append("--no-remake-weights")
    cmd += ["--data-train", *[f"{cat}:{f}" for cat, files in train_files.items() for f in files]]
    cmd += ["--data-val", *val_files]
    cmd += ["--data-config", str(data_config), *network_args(network_config, opts), *precision_args(opts)]
    cmd += ["--model-prefix", str(model_prefix)]
    cmd += ["--num-workers", str(plan.num_workers), "--fetch-step", repr(plan.fetch_step),
            "--data-split-num", str(plan.data_split_num)]
    cmd += ["--batch-size", str(opts["batch_size"]), "--start-lr", repr(float(opts["start_lr"]) * n)]
    if opts.get("samples_per_epoch"):
        cmd += ["--samples-per-epoch", str(int(opts["samples_per_epoch"]) // n)]
    elif opts.get("steps_per_epoch"):
        cmd += ["--steps-per-epoch", str(opts["steps_per_epoch"])]
    if opts.get("samples_per_epoch_val"):
        cmd += ["--samples-per-epoch-val", str(opts["samples_per_epoch_val"])]
    cmd += ["--num-epochs", str(opts["epochs"]), "--optimizer", str(opts["optimizer"])]
    if opts.get("lr_scheduler"):
        cmd += ["--lr-scheduler", str(opts["lr_scheduler"])]
    cmd += ["--gpus", str(opts.get("gpus") or ""), "--log-file", str(log_file)]
    if load_epoch is not None:
        cmd += ["--load-epoch", str(load_epoch)]
    return cmd


def option_value(cmd: list[str], flag: str) -> str | None:
    """The value after ``flag`` in a rendered command (None if absent)."""
    return cmd[cmd.index(flag) + 1] if flag in cmd else None
