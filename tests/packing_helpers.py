"""Inputs and runners shared by the packing, dataset and QA tests: real jets of the shared reference ntuples."""
import os
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from jetclass2.ntuplizer.schema import BRANCH_NAMES
from jetclass2.ntuplizer.writer import JetWriter

REPO = Path(__file__).resolve().parents[1]


def reference_dir() -> Path:
    """../shared/reference beside the checkout, or $JETCLASS2_SHARED/reference; the test skips without it."""
    for base in (REPO.parent / "shared", Path(os.environ.get("JETCLASS2_SHARED", "/nonexistent"))):
        if (base / "reference" / "ntuples").is_dir():
            return base / "reference"
    pytest.skip("reference data not found (../shared beside the checkout, or set JETCLASS2_SHARED)")


def split_ntuple(source: Path, outdir: Path, parts: int) -> list[Path]:
    """Write the jets of ``source`` as ``parts`` ntuples of consecutive jets (the ntuplizer's writer)."""
    jets = uproot.open(source)["tree"].arrays(BRANCH_NAMES)
    bounds = np.linspace(0, len(jets), parts + 1).astype(int)
    paths = []
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        path = outdir / f"{source.name.split('.')[0]}_{i}.root"
        with JetWriter(path) as w:
            w.write(jets[lo:hi])
        paths.append(path)
    return paths


def res2p_inputs(tmp_path: Path) -> list[Path]:
    """Five Res2P ntuples of real jets: the 175 H->bb jets in four, the 20 Res2P jets of the 10-event file."""
    ref = reference_dir() / "ntuples"
    (tmp_path / "ntuples").mkdir(exist_ok=True)
    return split_ntuple(ref / "hbb_m125_pt500_200events.ntuple.root", tmp_path / "ntuples", 4) + [
        ref / "res2p_higgs2p_10events.ntuple.root"]


def run_cli(*args, timeout=300, **kw) -> subprocess.CompletedProcess:
    """``python -m jetclass2.packing ...`` as the workflow runs it."""
    return subprocess.run([sys.executable, "-m", "jetclass2.packing", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)}, **kw)


def popen_cli(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "jetclass2.packing", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})


def jets_of(paths, branches=("jet_pt", "jet_eta", "jet_phi", "jet_label")) -> np.ndarray:
    """Jets of files as rows (sortable), for comparing multisets of jets."""
    rows = []
    for p in paths:
        a = uproot.open(p)["tree"].arrays(list(branches), library="np")
        rows.append(np.stack([a[b].astype(np.float64) for b in branches], axis=1))
    return np.concatenate(rows) if rows else np.zeros((0, len(branches)))


def relabelled_inputs(tmp_path: Path, category: str, parts: int = 6) -> list[Path]:
    """The 175 real H->bb jets of the shared ntuple, their labels replaced by the labels of ``category`` in
    turn (a dataset of another category for tests of the pages and tables that cover several categories)."""
    from jetclass2.packing.categories import CATEGORY_LABELS

    ref = reference_dir() / "ntuples" / "hbb_m125_pt500_200events.ntuple.root"
    jets = uproot.open(ref)["tree"].arrays(BRANCH_NAMES)
    family = CATEGORY_LABELS[category]
    labels = family[np.arange(len(jets)) % len(family)].astype(np.int32)
    jets = ak.with_field(jets, labels, "jet_label")
    (tmp_path / "ntuples").mkdir(exist_ok=True)
    bounds = np.linspace(0, len(jets), parts + 1).astype(int)
    paths = []
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        paths.append(tmp_path / "ntuples" / f"hbb_as_{category}_{i}.root")
        with JetWriter(paths[-1]) as w:
            w.write(jets[lo:hi])
    return paths
