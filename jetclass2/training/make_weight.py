"""Sophon's make_weight step: weaver's reweighting histograms from the train + val files.

Usage: python -m jetclass2.training.make_weight --data-config DC.yaml -o DC.weights.auto.yaml MANIFEST...

Sophon runs ``weaver --print`` on all its train and val files once (``train_sophon.sh make_weight``)
so that weaver writes the class-grouped flat (pT, m_SD) histograms into an auto-generated data
configuration, then trains with ``--no-remake-weights``. This runs weaver's own ``WeightMaker`` on
the same files (no network is built) and writes the configuration under a fixed name (``.auto.yaml``:
weaver then uses it as is).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jetclass2.atomic import atomic_output
from jetclass2.logs import setup_cli_logging

from .file_lists import files_of, require_intact


def make_weights(manifests, data_config, output) -> Path:
    from weaver.utils.data.config import DataConfig
    from weaver.utils.data.preprocess import WeightMaker

    require_intact(manifests)
    files = [str(p) for split in ("train", "val") for paths in files_of(manifests, split).values() for p in paths]
    if not files:
        raise ValueError(f"no train or val files in {', '.join(map(str, manifests))}")
    dc = DataConfig.load(str(data_config))
    if not dc.weight_name or dc.use_precomputed_weights:
        raise ValueError(f"{data_config}: no reweighting section to compute histograms for")
    output = Path(output)
    with atomic_output(output) as tmp:  # weaver writes the file; a failed run leaves no half-written one
        WeightMaker(files, dc).produce(str(tmp))
    return output


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifests", nargs="+")
    ap.add_argument("--data-config", required=True)
    ap.add_argument("-o", "--output", required=True, help="ends in .auto.yaml")
    a = ap.parse_args(argv)
    setup_cli_logging()
    if not a.output.endswith(".auto.yaml"):
        print(f"jetclass2.training.make_weight: {a.output}: the output name must end in .auto.yaml (weaver then uses it as is)", file=sys.stderr)
        return 2
    try:
        make_weights(a.manifests, a.data_config, a.output)
    except (OSError, ValueError, KeyError) as exc:
        print(f"jetclass2.training.make_weight: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
