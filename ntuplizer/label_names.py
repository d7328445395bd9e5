"""The 188 JetClass-II label names in label-index order (re-exported by :mod:`jetclass2.ntuplizer.labels`).

Kept apart from the labelling rules (numba kernels) so that the stages that only need the names
(packing, the dataset loader, QA) do not import numba: ~0.2 s of start-up per packing job.
"""
from __future__ import annotations


def _make_label_names() -> list[str]:
    """The 188 class names in label-index order."""
    names = ["X_" + s for s in ("bb", "cc", "ss", "qq", "bc", "cs", "bq", "cq", "sq", "gg", "ee", "mm",
                                "tauhtaue", "tauhtaum", "tauhtauh")]
    hadronic_pairs = ["bb", "cc", "ss", "qq", "gg"]
    lepton_pairs = ["ee", "mm", "tauhtaue", "tauhtaum", "tauhtauh"]
    single_prongs = ["b", "c", "s", "q", "g", "e", "m"]
    # Y Y -> fully matched hadronic pair + second pair (4 prongs), then + one prong (3 prongs)
    for i, first in enumerate(hadronic_pairs):
        names += ["X_YY_" + first + second for second in hadronic_pairs[i:] + lepton_pairs]
        names += ["X_YY_" + first + prong for prong in single_prongs]
    # one quark/gluon + a leptonic Y
    for lep in lepton_pairs:
        names += ["X_YY_" + prong + lep for prong in ("b", "c", "s", "q", "g")]
    # H+ H- specific flavour combinations
    names += ["X_YY_" + s for s in ("qqqb", "qqqc", "qqqs", "bbcq", "ccbs", "ccbq", "ccsq", "sscq",
                                    "qqbc", "qqbs", "qqcs", "bcsq", "bcs", "bcq", "bsq", "csq")]
    for lep in ("ev", "mv", "tauev", "taumv", "tauhv"):
        names += ["X_YY_" + pair + lep for pair in ("bc", "cs", "bq", "cq", "sq", "qq")]
    # QCD: number of matched b, c, s partons (0, 1, >=2 each)
    for n_b in (2, 1, 0):
        for nc in (2, 1, 0):
            for ns in (2, 1, 0):
                flav = "b" * n_b + "c" * nc + "s" * ns
                names.append("QCD_" + (flav or "light"))
    return names


LABEL_NAMES: list[str] = _make_label_names()
LABEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(LABEL_NAMES)}
