"""The 30 class groups of the Sophon pre-training reweighting, derived from the label names.

A group collects the labels with the same prong content: Q = b/c/s/light quark, g = gluon,
l = electron or muon, v = neutrino, and the tau pairs (tauhtaul = tau_h tau_e|mu).
"""
from __future__ import annotations

from collections import Counter

from jetclass2.ntuplizer.labels import LABEL_NAMES, label_tokens

_TOKEN_CLASS = {"b": "Q", "c": "Q", "s": "Q", "q": "Q", "g": "g", "e": "l", "m": "l", "v": "v",
                "tauhtaue": "tauhtaul", "tauhtaum": "tauhtaul", "tauhtauh": "tauhtauh",
                "tauev": "taulv", "taumv": "taulv", "tauhv": "tauhv"}

#: Group names in the order of the reweighting (and of class_weights in the training config).
GROUPS = [
    "X_QQ", "X_gg", "X_ll", "X_tauhtaul", "X_tauhtauh",
    "X_YY_QQQQ", "X_YY_QQgg", "X_YY_gggg", "X_YY_QQQ", "X_YY_QQg", "X_YY_Qgg", "X_YY_ggg",
    "X_YY_QQll", "X_YY_QQl", "X_YY_Qll", "X_YY_QQtauhtaul", "X_YY_QQtauhtauh", "X_YY_Qtauhtaul", "X_YY_Qtauhtauh",
    "X_YY_ggll", "X_YY_ggl", "X_YY_gll", "X_YY_ggtauhtaul", "X_YY_ggtauhtauh", "X_YY_gtauhtaul", "X_YY_gtauhtauh",
    "X_YY_QQlv", "X_YY_QQtaulv", "X_YY_QQtauhv",
    "QCD",
]
_ORDER = ["Q", "g", "l", "tauhtaul", "tauhtauh", "taulv", "tauhv"]


def group_of(label: str) -> str:
    """The reweighting group of one label name."""
    if label.startswith("QCD_"):
        return "QCD"
    prefix = "X_YY_" if label.startswith("X_YY_") else "X_"
    counts = Counter(_TOKEN_CLASS[t] for t in label_tokens(label[len(prefix):]))
    if counts.get("v") and counts.get("l"):  # the charged lepton and neutrino of a W-like Y
        del counts["v"]
        counts["lv"] = counts.pop("l")
    return prefix + "".join(k * counts[k] for k in _ORDER + ["lv"] if counts.get(k))


def label_groups() -> dict[str, list[int]]:
    """Group name -> label indices, in :data:`GROUPS` order."""
    out = {g: [] for g in GROUPS}
    for i, name in enumerate(LABEL_NAMES):
        g = group_of(name)
        if g not in out:
            raise ValueError(f"label {name} falls in no reweighting group ({g})")
        out[g].append(i)
    return out
