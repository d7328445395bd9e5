"""Summary of a test-set prediction: accuracy, per-group accuracy and the group confusion matrix.

Usage: python -m jetclass2.training.evaluate PREDICTION.root -o summary_dir [--smoke-test]
(PREDICTION.root: weaver ``--predict-output``: tree ``Events`` with ``truth_label`` (label index) and
``output`` (the 188 class scores of each jet).) ``--smoke-test`` marks the summary of the tiny default
training, whose accuracy is expected to be about zero.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import uproot  # noqa: E402

from jetclass2.ntuplizer.label_names import LABEL_NAMES  # noqa: E402

from .groups import GROUPS, label_groups  # noqa: E402


def read_prediction(path) -> tuple[np.ndarray, np.ndarray]:
    """(true labels, scores[n_jets, 188]) from a weaver prediction file."""
    f = uproot.open(path)
    if "Events" not in f:
        raise SystemExit(f"{path}: no 'Events' tree (is it a weaver --predict-output file?)")
    tree = f["Events"]
    missing = [b for b in ("truth_label", "output") if b not in tree]
    if missing:
        raise SystemExit(f"{path}: prediction lacks branches {missing}")
    labels = tree["truth_label"].array(library="np").astype(int)
    scores = np.asarray(tree["output"].array(library="np"), dtype=np.float64)
    # weaver writes an empty prediction when no test jet passes the selection (tiny productions)
    scores = scores.reshape(len(labels), -1) if len(labels) else scores.reshape(0, len(LABEL_NAMES))
    if scores.shape[1] != len(LABEL_NAMES):
        raise SystemExit(f"{path}: {scores.shape[1]} scores per jet, expected {len(LABEL_NAMES)}")
    return labels, scores


def summarize(labels: np.ndarray, scores: np.ndarray) -> dict:
    """Accuracy, per-group accuracy (of the predicted class's group) and the group confusion matrix.

    Without jets (no test jet passed the selection) the accuracies are None.
    """
    pred = scores.argmax(axis=1)
    group_index = np.empty(len(LABEL_NAMES), dtype=int)
    for gi, (_g, members) in enumerate(label_groups().items()):
        group_index[members] = gi
    tg, pg = group_index[labels], group_index[pred]
    conf = np.zeros((len(GROUPS), len(GROUPS)), dtype=np.int64)
    np.add.at(conf, (tg, pg), 1)
    per_group = {g: (float(conf[i, i] / conf[i].sum()) if conf[i].sum() else None) for i, g in enumerate(GROUPS)}
    mean = lambda x: float(np.mean(x)) if len(x) else None  # noqa: E731
    return {"jets": int(len(labels)), "accuracy": mean(pred == labels),
            "group_accuracy": mean(tg == pg), "per_group_accuracy": per_group, "group_confusion": conf.tolist()}


SMOKE_TEST_NOTE = ("smoke test: a tiny network trained for a few steps on a few jets checks that the pipeline runs; "
                   "an accuracy near 0 is expected. A physics model needs the full configuration "
                   "(config/jetclass2_full.yaml, Sophon's settings, GPUs).")


def plot_confusion(summary: dict, path: Path) -> None:
    conf = np.asarray(summary["group_confusion"], dtype=float)
    norm = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(11, 10))
    im = ax.imshow(norm, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(GROUPS)), GROUPS, rotation=90, fontsize=7)
    ax.set_yticks(range(len(GROUPS)), GROUPS, fontsize=7)
    ax.set_xlabel("predicted group")
    ax.set_ylabel("true group")
    title = (f"{summary['jets']} test jets: accuracy {summary['accuracy']:.3f}, group accuracy {summary['group_accuracy']:.3f}"
             if summary["jets"] else "no test jet passed the selection")
    ax.set_title(("SMOKE TEST (accuracy ~ 0 expected)\n" if summary.get("smoke_test") else "") + title)
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prediction")
    ap.add_argument("-o", "--outdir", required=True)
    ap.add_argument("--smoke-test", action="store_true", help="the tiny default training: say that accuracy ~ 0 is expected")
    a = ap.parse_args(argv)
    out = Path(a.outdir)
    out.mkdir(parents=True, exist_ok=True)
    s = summarize(*read_prediction(a.prediction))
    if a.smoke_test:
        s = {"smoke_test": True, "note": SMOKE_TEST_NOTE, **s}
    (out / "summary.json").write_text(json.dumps(s, indent=1))
    plot_confusion(s, out / "confusion_groups.png")
    if s["jets"]:
        print(f"accuracy {s['accuracy']:.4f}, group accuracy {s['group_accuracy']:.4f} on {s['jets']} jets -> {out}")
    else:
        print(f"{a.prediction}: no test jet passed the training selection; empty summary -> {out}")
    if a.smoke_test:
        print(SMOKE_TEST_NOTE)


if __name__ == "__main__":
    main()
