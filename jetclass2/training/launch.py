"""Run (or resume) the Sophon training of `snakemake train`: file lists, weaver command, checkpoints, best epoch.

Usage: python -m jetclass2.training.launch --options JSON --data-config DC.yaml --model-prefix DIR/net
                                 --weaver-log DIR/net.weaver.log -o DIR/best_epoch_state.pt
                                 [--weights] [--dry-run] MANIFEST...

- the train and val files come from the pack manifests (files that the selection empties are left out);
- the command is rendered by :mod:`jetclass2.training.command` from the ``training:`` options (JSON);
- resume: the last complete epoch (both checkpoint files readable and its validation logged in the
  weaver log) is passed as ``--load-epoch``; a finished training is not run again. Checkpoints written
  by another command (other options or files) are refused, not silently continued;
- weaver forgets its best validation metric when it resumes, so the best epoch is chosen here from all
  validation metrics in the weaver log and copied to the output (written last: it marks a finished
  training; weaver's own ``PREFIX_best_epoch_state.pt`` is not trusted after a resume).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

from jetclass2.atomic import atomic_output
from jetclass2.logs import setup_cli_logging

from .command import loader_plan, n_gpus, weaver_train_args
from .file_lists import files_of, require_intact, selected_jets

log = logging.getLogger("jetclass2.training.launch")

NETWORK_CONFIG = Path(__file__).resolve().parent / "network_sophon.py"
_METRIC = re.compile(r"Epoch #(\d+): Current validation metric: ([-+0-9.eEnaif]+)")


class LaunchError(Exception):
    """A problem with the inputs or the training directory (one line, exit status 2)."""


def split_files(manifests, split: str, selection: str | None) -> dict[str, list[tuple[str, int]]]:
    """Category -> [(file, jets)] of ``split``, leaving out files in which the selection keeps no jet."""
    out = {}
    for m in manifests:
        try:
            files_of([m], split)
        except (OSError, ValueError, KeyError) as exc:
            raise LaunchError(f"{m}: not a readable pack manifest ({type(exc).__name__}: {exc})") from exc
    for cat, paths in files_of(manifests, split).items():
        kept = []
        for p in paths:
            try:
                n = selected_jets(p, selection)
            except Exception as exc:  # uproot raises many kinds on a missing or damaged file
                raise LaunchError(f"{p}: not a readable packed file ({type(exc).__name__}: {exc})") from exc
            if n:
                kept.append((str(p), n))
            else:
                log.info("%s: no jet passes the selection, left out", p)
        if kept:
            out[cat] = kept
    if not out:
        raise LaunchError(f"no {split} files with selected jets in {', '.join(map(str, manifests))}")
    return out


def validation_metrics(weaver_log) -> dict[int, float]:
    """Epoch -> validation metric logged by weaver (rank 0's log with several GPUs); the last entry wins."""
    out = {}
    for path in (Path(weaver_log), Path(f"{weaver_log}.000")):
        if path.exists():
            for m in _METRIC.finditer(path.read_text(errors="replace")):
                out[int(m.group(1))] = float(m.group(2))
    return out


def _readable(path: Path) -> bool:
    """A complete torch checkpoint (a zip archive whose members all pass their CRC check)."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def last_complete_epoch(model_prefix, weaver_log) -> int | None:
    """The last epoch whose state and optimizer checkpoints are complete and whose validation was logged."""
    metrics = validation_metrics(weaver_log)
    for epoch in sorted(metrics, reverse=True):
        if all(_readable(Path(f"{model_prefix}_epoch-{epoch}_{kind}.pt")) for kind in ("state", "optimizer")):
            return epoch
    return None


def best_epoch(model_prefix, weaver_log) -> tuple[int, float]:
    """(epoch, metric) of the highest validation metric (the earliest on ties, as weaver) among saved epochs."""
    metrics = {e: m for e, m in validation_metrics(weaver_log).items() if Path(f"{model_prefix}_epoch-{e}_state.pt").exists()}
    if not metrics:
        raise LaunchError(f"{weaver_log}: no validated epoch with a saved state")
    epoch = min(metrics, key=lambda e: (-metrics[e], e))
    return epoch, metrics[epoch]


def _comparable(cmd: list[str]) -> list[str]:
    """The command without ``--load-epoch N`` (what must match for a resume)."""
    if "--load-epoch" in cmd:
        i = cmd.index("--load-epoch")
        return cmd[:i] + cmd[i + 2:]
    return cmd


def _run(cmd: list[str], env: dict) -> int:
    """Run weaver in the foreground, passing SIGTERM/SIGINT on (Slurm and Snakemake stop jobs with them)."""
    proc = subprocess.Popen(cmd, env=env)

    def forward(signum, _frame):
        proc.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return proc.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def launch(opts: dict, *, manifests, data_config, model_prefix, weaver_log, output, weights: bool,
           dry_run: bool = False) -> list[str]:
    """Train or resume; returns the weaver command that was (or would be) run."""
    try:  # weaver skips a file whose checksum fails and still exits 0: the dataset is checked first
        require_intact(manifests)
    except ValueError as exc:
        raise LaunchError(str(exc)) from None
    selection = (yaml.safe_load(Path(data_config).read_text()) or {}).get("selection")
    train = split_files(manifests, "train", selection)
    val = [f for files in split_files(manifests, "val", selection).values() for f, _ in files]
    plan = loader_plan(opts, {c: [n for _, n in fs] for c, fs in train.items()}, len(val))
    log.info("loader per training process: %d workers, --fetch-step %s, --data-split-num %d: at most %d training jets "
             "per worker and fetch", plan.num_workers, plan.fetch_step, plan.data_split_num, plan.jets_per_fetch)
    kwargs = dict(train_files={c: [f for f, _ in fs] for c, fs in train.items()}, val_files=val,
                  data_config=str(data_config), network_config=str(NETWORK_CONFIG), model_prefix=str(model_prefix),
                  log_file=str(weaver_log), plan=plan, weights_precomputed=weights)
    record = Path(f"{model_prefix}_command.json")
    resume = last_complete_epoch(model_prefix, weaver_log)
    cmd = weaver_train_args(opts, **kwargs, load_epoch=resume)
    if resume is not None:
        previous = json.loads(record.read_text()) if record.exists() else None
        if previous != _comparable(cmd):
            raise LaunchError(f"{record.parent}: epoch checkpoints of another training command (options or files differ); "
                              f"remove {Path(model_prefix).name}_epoch-* and {weaver_log} to start afresh")
        log.info("resuming after epoch %d (last complete checkpoint in %s)", resume, record.parent)
    if dry_run:
        return cmd
    Path(model_prefix).parent.mkdir(parents=True, exist_ok=True)
    if resume is None:  # a fresh start: validation metrics of an earlier training must not count
        for old in (Path(weaver_log), Path(f"{weaver_log}.000")):
            if old.exists():
                old.replace(old.with_name(old.name + ".old"))
    if resume is None or resume < int(opts["epochs"]) - 1:
        with atomic_output(record) as tmp:
            tmp.write_text(json.dumps(_comparable(cmd)))
        env = dict(os.environ)
        if n_gpus(opts.get("gpus")) > 1:  # torchrun ranks use cuda:0..N-1 of the visible devices
            env.setdefault("CUDA_VISIBLE_DEVICES", str(opts["gpus"]))
        log.info("running %s", " ".join(a if len(a) < 200 else a[:60] + "..." for a in cmd[:4]) + " ...")
        rc = _run(cmd, env)
        if rc != 0:
            raise SystemExit(f"weaver training failed (exit status {rc}); see {weaver_log}; `snakemake train` resumes it")
    else:
        log.info("all %s epochs already trained", opts["epochs"])
    epoch, metric = best_epoch(model_prefix, weaver_log)
    with atomic_output(output) as tmp:
        shutil.copyfile(f"{model_prefix}_epoch-{epoch}_state.pt", tmp)
    log.info("best epoch %d (validation metric %.5f) -> %s", epoch, metric, output)
    return cmd


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifests", nargs="+")
    ap.add_argument("--options", required=True, help="the training: section of the config, as JSON")
    ap.add_argument("--data-config", required=True)
    ap.add_argument("--weights", action="store_true", help="the data config holds make_weight's reweighting histograms")
    ap.add_argument("--model-prefix", required=True)
    ap.add_argument("--weaver-log", required=True)
    ap.add_argument("-o", "--output", required=True, help="the best epoch's state (written when training has finished)")
    ap.add_argument("--dry-run", action="store_true", help="print the weaver command, run nothing")
    a = ap.parse_args(argv)
    setup_cli_logging()
    try:
        cmd = launch(json.loads(a.options), manifests=a.manifests, data_config=a.data_config, model_prefix=a.model_prefix,
                     weaver_log=a.weaver_log, output=a.output, weights=a.weights, dry_run=a.dry_run)
    except (LaunchError, ValueError) as exc:
        print(f"jetclass2.training.launch: {exc}", file=sys.stderr)
        return 2
    if a.dry_run:
        print(shlex.join(cmd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
