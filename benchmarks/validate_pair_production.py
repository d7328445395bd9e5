"""Embedded X pairs (jetclass2/generation/processes.py) vs MadGraph's LHE at the same grid points.

For each (sample, m_X, pT_min) with an MG5 run ``MGDIR/<process dir>/Events/<run>/unweighted_events.lhe.gz``
(runs named ``n_<m>_<pt>`` for Res2P_neutral, ``y_<m>_<pt>`` for Res34P, made with the project's
process cards, m_Y = 10 GeV, width_Y = 0.01 GeV), generates twice as many embedded hard
processes (no shower, MPI or hadronisation: the LHE is parton level too) and prints the X pT/pT_min
quantiles (10, 50, 90 %) and the median |eta| of both samples, with bootstrap errors, and their
ratio; draws the distributions into ``docs/generation/``. The PDFs are matched: MG5's built-in
``nn23lo1`` (NNPDF2.3 LO, alpha_s 0.130) on both sides (``--pythia-pdf 13``), since the LHAPDF set of
the production (315000 = Pythia's built-in 18) needs LHAPDF in MG5.

    python benchmarks/validate_pair_production.py --mg5-dir /tmp/pairs_mg5 [--plots docs/generation]
"""
from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

import awkward as ak
import numpy as np

from jetclass2.generation import samples
from jetclass2.generation.pythia_driver import PythiaGenerator

RUNS = {"Res2P_neutral": ("res2p_neutral", "n"), "Res34P": ("res34p", "y")}
QUANTILES = (0.1, 0.5, 0.9)


def read_lhe(path: Path, pdg: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """(pT, |eta|) of every final-state ``pdg`` particle of an LHE file."""
    pt, eta = [], []
    with gzip.open(path, "rt") if str(path).endswith(".gz") else open(path) as f:
        inside = False
        for line in f:
            if line.startswith("<event"):
                inside, first = True, True
                continue
            if line.startswith("</event"):
                inside = False
                continue
            if not inside or line.startswith(("<", "#")):
                continue
            if first:  # the event header line
                first = False
                continue
            cols = line.split()
            if int(cols[0]) == pdg and cols[1] == "1":
                px, py, pz = float(cols[6]), float(cols[7]), float(cols[8])
                t = np.hypot(px, py)
                pt.append(t)
                eta.append(abs(np.arcsinh(pz / t)))
    return np.asarray(pt), np.asarray(eta)


def embedded(cfg: dict, point: samples.GridPoint, n: int, seed: int, pdf: str, alpha_s: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(pT, |eta|) of the two hard-process X of ``n`` embedded events, and CPU ms/event."""
    cmds = samples.pythia_commands(cfg, point, seed) + [
        "PartonLevel:ISR = off", "PartonLevel:FSR = off", "PartonLevel:MPI = off", "HadronLevel:all = off", f"PDF:pHardSet = {pdf}", f"SigmaProcess:alphaSvalue = {alpha_s}"]
    gen = PythiaGenerator(cmds, **samples.generator_options(cfg, point.sample))
    t0 = time.process_time()
    ev = ak.concatenate(list(gen.generate(n, batch_size=1000)))
    ms = (time.process_time() - t0) / n * 1e3
    x = ev[(ev.PID == 25) & (ev.Status == 22)]
    assert ak.all(ak.num(x) == 2), "every event has two hard-process X"
    return ak.to_numpy(ak.flatten(x.PT)).astype(float), np.abs(ak.to_numpy(ak.flatten(x.Eta)).astype(float)), ms


def stats(pt_ratio: np.ndarray, eta: np.ndarray, rng: np.random.Generator, n_boot: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Values (q10, q50, q90 of pT/pT_min, median |eta|) and bootstrap errors (events resampled as pairs)."""
    def values(p, e):
        return np.concatenate([np.quantile(p, QUANTILES), [np.median(e)]])

    central = values(pt_ratio, eta)
    n_ev = len(pt_ratio) // 2
    pairs_p, pairs_e = pt_ratio[: 2 * n_ev].reshape(n_ev, 2), eta[: 2 * n_ev].reshape(n_ev, 2)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n_ev, n_ev)
        boots.append(values(pairs_p[idx].ravel(), pairs_e[idx].ravel()))
    return central, np.std(boots, axis=0)


def plot(name: str, point: samples.GridPoint, mg: tuple, emb: tuple, outdir: Path) -> Path:
    import hist
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    hp = hist.Hist.new.Reg(40, 1.0, 2.5, name="r", label=r"$p_T(X)/p_{T,\min}$").Weight()
    he = hist.Hist.new.Reg(30, 0.0, 3.0, name="e", label=r"$|\eta(X)|$").Weight()
    for (pt, eta), label in ((mg, "MadGraph 3.1.1 (LHE)"), (emb, "embedded Pythia 8 pairs")):
        w = np.full(len(pt), 1.0 / len(pt))
        mplhep.histplot(hp.copy().fill(pt / point.pt_min, weight=w), ax=axes[0], label=label, yerr=True)
        mplhep.histplot(he.copy().fill(eta, weight=w), ax=axes[1], label=label, yerr=True)
    for ax in axes:
        ax.set_ylabel("fraction of X")
        ax.legend(fontsize=8)
    axes[0].set_yscale("log")
    fig.suptitle(f"{name}: m_X = {point.mass:g} GeV, pT_min = {point.pt_min:g} GeV")
    fig.tight_layout()
    out = outdir / f"pairs_{name}_{point.mass:g}_{point.pt_min:g}.png"
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mg5-dir", required=True, type=Path, help="directory with MG5 process dirs res2p_neutral/ and res34p/")
    ap.add_argument("--pythia-pdf", default="13", help="Pythia PDF:pHardSet matching MG5's PDF (13 = nn23lo1)")
    ap.add_argument("--alpha-s", default="0.130", help="SigmaProcess:alphaSvalue matching MG5's PDF")
    ap.add_argument("--events", type=int, default=None, help="embedded events per point (default: twice the LHE's)")
    ap.add_argument("--plots", type=Path, default=None, help="directory for PNG plots (e.g. docs/generation)")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    cfg = samples.load_config()
    rng = np.random.default_rng(args.seed)
    header = (f"{'sample':14s} {'m_X':>5s} {'pT_min':>6s} {'side':9s} {'q10 pT/pTmin':>15s} {'q50':>15s} {'q90':>15s} "
              f"{'med |eta|':>15s}  ms/ev")
    print(header)
    worst = 0.0
    for name, (pdir, tag) in RUNS.items():
        for run in sorted((args.mg5_dir / pdir / "Events").glob(f"{tag}_*_*"), key=lambda p: float(p.name.split("_")[1])):
            _, m, pt = run.name.split("_")
            extra = {"mass_y": 10.0, "width_y": 0.01} if name == "Res34P" else {}
            point = samples.GridPoint(name, mass=float(m), pt_min=float(pt), **extra)  # (125, 500): the point, off the grid
            mg_pt, mg_eta = read_lhe(run / "unweighted_events.lhe.gz")
            n = args.events or len(mg_pt)  # twice the MG5 events: the ratio error is MG5's
            em_pt, em_eta, ms = embedded(cfg, point, n, args.seed, args.pythia_pdf, args.alpha_s)
            vals = {}
            for side, (p, e) in (("MG5", (mg_pt, mg_eta)), ("embedded", (em_pt, em_eta))):
                v, err = stats(p / point.pt_min, e, rng)
                vals[side] = v
                cells = " ".join(f"{a:7.4f}±{b:6.4f}" for a, b in zip(v, err))
                print(f"{name:14s} {point.mass:5g} {point.pt_min:6g} {side:9s} {cells}" + (f"  {ms:.3f}" if side == "embedded" else ""))
            ratio = vals["embedded"] / vals["MG5"]
            worst = max(worst, float(np.max(np.abs(ratio - 1))))
            print(f"{'':14s} {'':5s} {'':6s} {'ratio':9s} " + " ".join(f"{r:14.4f}" for r in ratio))
            if args.plots:
                args.plots.mkdir(parents=True, exist_ok=True)
                plot(name, point, (mg_pt, mg_eta), (em_pt, em_eta), args.plots)
    print(f"largest |embedded/MG5 - 1|: {worst:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
