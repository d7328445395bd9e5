"""Res34P (m_Y, width_Y) grid and Y mass window against the published JetClass-II jets.

Generates embedded Res34P events over the configured grid (config/samples.yaml: nominal m_Y =
ratio x m_X, width a fraction of m_Y, mMax = m_Y + min(5 widths, m_Y/2)) with the project's cards,
the generator record only (showers and hadronisation off: the Y masses are fixed at process level),
and compares with the Res34P jets of the published 100-jet sample (aux_genpart_isResY):

- the fraction of X whose heavier Y lies above m_X/2: binomial test of the published count against
  the generated fraction, per jet (64 jets) and per grid point (the published jets come from 4
  grid points, so the jets are not independent: the grid-point test is the honest one);
- the distribution of m_Y(heavier)/m_X: two-sample KS test (per jet, and on the 4 per-point medians);
- the fraction of Y above m_Y + 5 widths (0 with the window; 3-5% with the former mMax = 0).

    python benchmarks/validate_res34p_grid.py --points 400 --events-per-point 20 --plot docs/generation/res34p_y_grid.png
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import awkward as ak
import numpy as np
from scipy import stats

from jetclass2.generation import samples
from jetclass2.generation.pythia_driver import PythiaGenerator

# ../shared beside the checkout, or $JETCLASS2_SHARED
REFERENCE = str(Path(os.environ.get("JETCLASS2_SHARED", Path(__file__).resolve().parents[2] / "shared"))
                / "reference" / "jetclass2" / "jetclass2_sample_100jets.parquet")
FAST = ["PartonLevel:MPI = off", "PartonLevel:ISR = off", "PartonLevel:FSR = off", "HadronLevel:all = off",
        "BeamRemnants:primordialKT = off"]  # Y masses are chosen in the process-level resonance decays


def reference_pairs(path: str) -> dict:
    """Per published Res34P jet: m_X and its two Y masses."""
    a = ak.from_parquet(path)
    isy, isx = a.aux_genpart_isResY, a.aux_genpart_isResX
    sel = ak.to_numpy(ak.sum(isy, axis=1)) == 2
    my = np.sort(ak.to_numpy(a.aux_genpart_mass[isy][sel]), axis=1)
    mx = ak.to_numpy(ak.firsts(a.aux_genpart_mass[isx][sel]))
    return {"mass_x": mx, "y_lo": my[:, 0], "y_hi": my[:, 1]}


def generated_pairs(cfg: dict, n_points: int, events_per_point: int, seed: int) -> dict:
    """Per generated X: m_X, its two Y masses, the batch's nominal m_Y and width (Pythia record, Y grouped by mother)."""
    batches = samples.job_batches(cfg, "Res34P", 0, n_points * events_per_point, seed, events_per_grid_point=events_per_point)
    gen = None
    out = {k: [] for k in ("mass_x", "y_lo", "y_hi", "m_nom", "w_nom", "point")}
    for b in batches:
        cmds = samples.pythia_commands(cfg, b.point, b.pythia_seed) + FAST
        if gen is None:
            gen = PythiaGenerator(cmds, **samples.generator_options(cfg, "Res34P"))
        else:
            gen.configure(cmds)
        for ev in gen.generate(b.events, batch_size=b.events, progress_every=0):
            pid, m1, mass = ak.to_numpy(ak.flatten(ev.PID)), ak.to_numpy(ak.flatten(ev.M1)), ak.to_numpy(ak.flatten(ev.Mass))
            evt = np.repeat(np.arange(len(ev)), ak.to_numpy(ak.num(ev.PID)))
            start = np.repeat(np.cumsum(ak.to_numpy(ak.num(ev.PID))) - ak.to_numpy(ak.num(ev.PID)), ak.to_numpy(ak.num(ev.PID)))
            isy = np.isin(np.abs(pid), (35, 37)) & (np.abs(pid[np.clip(start + m1, 0, len(pid) - 1)]) == 25)
            key = evt[isy] * 100000 + m1[isy]
            for k in np.unique(key):
                ms = np.sort(mass[isy][key == k])
                if len(ms) != 2:
                    continue
                out["mass_x"].append(b.point.mass)
                out["y_lo"].append(ms[0])
                out["y_hi"].append(ms[1])
                out["m_nom"].append(b.point.mass_y)
                out["w_nom"].append(b.point.width_y)
                out["point"].append(b.index)
    return {k: np.asarray(v) for k, v in out.items()}


def compare(ref: dict, gen: dict) -> dict:
    r_ref, r_gen = ref["y_hi"] / ref["mass_x"], gen["y_hi"] / gen["mass_x"]
    k_ref, n_ref = int(np.sum(r_ref > 0.5)), len(r_ref)
    p_gen = float(np.mean(r_gen > 0.5))
    # grid-point level: a point counts as "Y above m_X/2" when most of its X have the heavier Y there
    pts_ref = {m: float(np.median(r_ref[ref["mass_x"] == m])) for m in np.unique(ref["mass_x"])}
    pts_gen = np.array([np.median(r_gen[gen["point"] == i]) for i in np.unique(gen["point"])])
    kp_ref = sum(v > 0.5 for v in pts_ref.values())
    p_pts = float(np.mean(pts_gen > 0.5))
    above = np.concatenate([gen["y_hi"], gen["y_lo"]]) > np.tile(gen["m_nom"] + 5 * gen["w_nom"], 2) * (1 + 1e-6)
    return {
        "reference_jets": n_ref, "reference_points": len(pts_ref), "generated_x": len(r_gen), "generated_points": len(pts_gen),
        "fraction_above_half": {
            "reference": [k_ref / n_ref, float(np.sqrt(k_ref / n_ref * (1 - k_ref / n_ref) / n_ref))],
            "generated": [p_gen, float(np.sqrt(p_gen * (1 - p_gen) / len(r_gen)))],
            "binomial_p_jets": float(stats.binomtest(k_ref, n_ref, p_gen).pvalue),
            "points_reference": f"{kp_ref}/{len(pts_ref)}", "points_generated": p_pts,
            "binomial_p_points": float(stats.binomtest(kp_ref, len(pts_ref), p_pts).pvalue),
        },
        "ks_ratio": {"p_jets": float(stats.ks_2samp(r_ref, r_gen).pvalue),
                     "p_points": float(stats.ks_2samp(list(pts_ref.values()), pts_gen).pvalue),
                     "reference_point_medians": {f"{k:g}": round(v, 3) for k, v in pts_ref.items()}},
        "fraction_y_above_m0_plus_5_widths": float(np.mean(above)),
    }


def plot(ref: dict, gen: dict, res: dict, path: str) -> None:
    import hist
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.CMS)
    fig, axes = plt.subplots(1, 2, figsize=(16, 7))
    h = hist.Hist.new.Reg(20, 0, 1, name="r", label=r"$m_{Y,\mathrm{heavier}} / m_X$").Double()
    hg, hr = h.copy().fill(gen["y_hi"] / gen["mass_x"]), h.copy().fill(ref["y_hi"] / ref["mass_x"])
    mplhep.histplot(hg, density=True, ax=axes[0], label=f"embedded, this grid ({res['generated_x']} X)")
    mplhep.histplot(hr, density=True, ax=axes[0], histtype="errorbar", color="k",
                    label=f"published jets ({res['reference_jets']} jets, {res['reference_points']} grid points)")
    axes[0].axvline(0.5, ls=":", color="gray")
    axes[0].set_ylabel("density")
    axes[0].legend(fontsize=13, title=f"KS p = {res['ks_ratio']['p_jets']:.2g} (jets), "
                   f"{res['ks_ratio']['p_points']:.2g} (point medians)", title_fontsize=13)
    d = hist.Hist.new.Reg(30, -30, 10, name="d", label=r"$(m_Y - m_{Y,0}) / \Gamma_Y$ (heavier Y)").Double()
    d.fill(np.clip((gen["y_hi"] - gen["m_nom"]) / gen["w_nom"], -29.99, 9.99))
    mplhep.histplot(d, ax=axes[1], label="embedded")
    axes[1].axvline(5, ls=":", color="r", label=r"mMax = $m_{Y,0} + 5\Gamma_Y$")
    axes[1].set_yscale("log")
    axes[1].legend(fontsize=13)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=400, help="grid points drawn")
    ap.add_argument("--events-per-point", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reference", default=REFERENCE)
    ap.add_argument("--samples-config", default=None)
    ap.add_argument("--plot", default=None, help="write the figure here (png)")
    args = ap.parse_args(argv)
    cfg = samples.load_config(args.samples_config)
    t0 = time.process_time()
    gen = generated_pairs(cfg, args.points, args.events_per_point, args.seed)
    res = compare(reference_pairs(args.reference), gen)
    res["cpu_s"] = round(time.process_time() - t0, 1)
    print(json.dumps(res, indent=1))
    if args.plot:
        plot(reference_pairs(args.reference), gen, res, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
