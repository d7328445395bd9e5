"""Weaver data configuration of the Sophon pre-training, built from ``config/training/sophon.yaml``.

Usage: python -m jetclass2.training.data_config -o data_config.yaml [--no-points] [--no-reweight]
(``--no-points`` drops ``pf_points`` for ONNX inference, where the exported model has no such input).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import yaml

from jetclass2.resources import resolve, resource

from .groups import GROUPS, label_groups

DEFAULT_SETTINGS = resource("config/training/sophon.yaml")


def build(settings_path=None, points: bool = True, reweight: bool = True) -> dict:
    """The weaver data configuration as a dict."""
    s = yaml.safe_load(open(resolve(settings_path) if settings_path else DEFAULT_SETTINGS))
    pt_lo, pt_hi = s["selection"]["jet_pt"]
    m_lo, m_hi = s["selection"]["jet_sdmass"]
    k = s["momentum_scale"]
    new_vars = {
        "part_mask": "ak.ones_like(part_energy)",
        **{f"part_{v}_scale": f"part_{v} / jet_pt * {k}" for v in ("px", "py", "pz", "energy")},
        "part_pt": "np.hypot(part_px, part_py)",
        "part_pt_scale": "np.hypot(part_px_scale, part_py_scale)",
        "part_pt_scale_log": "np.log(part_pt_scale)",
        "part_e_scale_log": "np.log(part_energy_scale)",
        "part_logptrel": "np.log(part_pt/jet_pt)",
        "part_logerel": "np.log(part_energy/jet_energy)",
        "part_deltaR": "np.hypot(part_deta, part_dphi)",
        "part_d0": "np.tanh(part_d0val)",
        "part_dz": "np.tanh(part_dzval)",
    }
    for group, labels in label_groups().items():
        new_vars[f"label_{group}"] = f"np.isin(jet_label, {labels})"
    n = s["n_particles"]
    inputs = {}
    if points:
        inputs["pf_points"] = {"length": n, "pad_mode": "wrap", "vars": [["part_deta", None], ["part_dphi", None]]}
    inputs["pf_features"] = {"length": n, "pad_mode": "wrap", "vars": s["pf_features"]}
    inputs["pf_vectors"] = {"length": n, "pad_mode": "wrap",
                            "vars": [[f"part_{v}_scale", None] for v in ("px", "py", "pz", "energy")]}
    inputs["pf_mask"] = {"length": n, "pad_mode": "constant", "vars": [["part_mask", None]]}
    cfg = {
        "selection": f"(jet_pt > {pt_lo}) & (jet_pt < {pt_hi}) & (jet_sdmass > {m_lo}) & (jet_sdmass < {m_hi})",
        "new_variables": new_vars,
        "preprocess": {"method": "manual", "data_fraction": 0.5},
        "inputs": inputs,
        "labels": {"type": "custom", "value": {"truth_label": "jet_label"}},
        "observers": s["observers"],
    }
    if reweight:
        rw = s["reweight"]
        e = rw["jet_sdmass_edges"]
        cfg["weights"] = {
            "use_precomputed_weights": False,
            "reweight_method": rw["method"],
            "reweight_vars": {"jet_pt": rw["jet_pt"],
                              "jet_sdmass": np.arange(e["start"], e["stop"] + e["step"], e["step"]).tolist()},
            "reweight_classes": [f"label_{g}" for g in GROUPS],
            "class_weights": rw["class_weights"],
            "reweight_hists": None,
        }
        if len(rw["class_weights"]) != len(GROUPS):
            raise ValueError(f"{settings_path or DEFAULT_SETTINGS}: {len(rw['class_weights'])} class weights for {len(GROUPS)} groups")
    return cfg


def write(path, **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(build(**kwargs), sort_keys=False, width=200))
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--settings", default=None)
    ap.add_argument("--no-points", action="store_true")
    ap.add_argument("--no-reweight", action="store_true")
    a = ap.parse_args(argv)
    write(a.output, settings_path=a.settings, points=not a.no_points, reweight=not a.no_reweight)


if __name__ == "__main__":
    main()
