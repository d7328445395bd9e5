"""Dataset categories: their names (from the samples configuration) and the labels each may hold.

A category is the ``category`` of its samples in ``config/samples.yaml`` (Res2P, Res34P, QCD). Its
label family comes from the label names of :mod:`jetclass2.ntuplizer.label_names`: ``X_YY_*`` is Res34P, the
other ``X_*`` labels are Res2P, ``QCD_*`` is QCD.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from jetclass2.generation.samples import GenerationConfigError, load_config
from jetclass2.ntuplizer.label_names import LABEL_NAMES

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


class CategoryError(ValueError):
    """A category name that is not a configured category."""


def _family(label: str) -> str:
    if label.startswith("X_YY_"):
        return "Res34P"
    if label.startswith("X_"):
        return "Res2P"
    if label.startswith("QCD_"):
        return "QCD"
    raise ValueError(f"label {label!r} belongs to no category")


#: category -> sorted label indices it may hold
CATEGORY_LABELS: dict[str, np.ndarray] = {}
for _i, _name in enumerate(LABEL_NAMES):
    CATEGORY_LABELS.setdefault(_family(_name), []).append(_i)
CATEGORY_LABELS = {k: np.array(v, dtype=np.int64) for k, v in CATEGORY_LABELS.items()}


def configured_categories(samples_config: str | Path | None = None) -> list[str]:
    """Categories of the samples configuration, sorted."""
    try:
        cfg = load_config(samples_config)
    except GenerationConfigError as exc:
        raise CategoryError(str(exc)) from exc
    return sorted({s["category"] for s in cfg["samples"].values()})


def validate_category(name: str, samples_config: str | Path | None = None) -> str:
    """``name`` if it is a configured category with a label family; :class:`CategoryError` otherwise.

    The name is also a file-name prefix, so only plain names pass (no glob, no path).
    """
    known = configured_categories(samples_config)
    if not isinstance(name, str) or not _NAME.match(name) or name not in known:
        raise CategoryError(f"unknown category {name!r} (configured: {', '.join(known)})")
    if name not in CATEGORY_LABELS:
        raise CategoryError(f"category {name!r} has no label family (labels exist for {', '.join(CATEGORY_LABELS)})")
    return name


def label_range_text(category: str) -> str:
    idx = CATEGORY_LABELS[category]
    return f"{idx.min()}-{idx.max()}" if len(idx) == idx.max() - idx.min() + 1 else ",".join(map(str, idx))
