"""The plots of the dataset QA page (``hist`` + ``mplhep``): counts with statistical uncertainties,
one panel per label group (small multiples), label names on label axes, ratio panels against the
published jets.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from jetclass2.generation.samples import mass_grid, pt_grid, qcd_pthat_grid
from jetclass2.ntuplizer.label_names import LABEL_NAMES
from jetclass2.packing.categories import CATEGORY_LABELS

PLOTS = ("labels.png", "kinematics.png", "mass.png", "constituents.png", "reference.png", "grid.png")
CAPTIONS = {
    "labels.png": "Jets per label (all jets of the manifest), with the Poisson uncertainty; x: absent label.",
    "kinematics.png": "Jet pT per label group (jets read), counts with Poisson uncertainties.",
    "mass.png": "Soft-drop mass per label group (jets read), counts with Poisson uncertainties.",
    "constituents.png": "Constituents per jet per label group; the title gives the GEN-jet match rate "
                        "(binomial uncertainty).",
    "reference.png": "Our jets against the published JetClass-II jets (same category where the published file has "
                     "at least 5), normalised; ratio ours/published with statistical uncertainty of both samples.",
    "grid.png": "Generation grid points drawn (from the generation jobs' provenance).",
}
DPI = 80
PANEL_COLUMNS = 6


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    plt.style.use(mplhep.style.ROOT)
    plt.rcParams.update({"font.size": 11, "axes.titlesize": 11, "axes.labelsize": 11, "legend.fontsize": 9,
                         "xtick.labelsize": 9, "ytick.labelsize": 9, "figure.dpi": DPI})
    return plt


def ratio_with_uncertainty(ours, ref):
    """Per bin, the ratio of the two normalised distributions and its statistical uncertainty.

    ``r = (a/A) / (b/B)`` with ``a``, ``b`` the counts of a bin and ``A``, ``B`` the totals;
    ``sigma = r * sqrt(1/a + 1/b)`` (independent Poisson counts; the totals' uncertainty is neglected).
    Bins without published jets: NaN. Bins with published jets but none of ours: ``r = 0`` and the
    uncertainty of one jet, ``(1/A) / (b/B)``.
    """
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    na, nb = a.sum(), b.sum()
    r = np.full(a.shape, np.nan)
    err = np.full(a.shape, np.nan)
    if na <= 0 or nb <= 0:
        return r, err
    has = b > 0
    r[has] = (a[has] / na) / (b[has] / nb)
    both = has & (a > 0)
    err[both] = r[both] * np.sqrt(1 / a[both] + 1 / b[both])
    one = has & (a == 0)
    err[one] = (1 / na) / (b[one] / nb)
    return r, err


def comparison_edges(ref_values, our_values, max_bins: int = 10) -> np.ndarray:
    """Bins of the reference comparison: quantiles of the published jets (about 5 of them per bin, as
    few as they are), the outer edges stretched over both samples so that every jet is counted."""
    ref_values = np.asarray(ref_values, dtype=np.float64)
    ref_values = ref_values[np.isfinite(ref_values)]
    both = np.concatenate([ref_values, np.asarray(our_values, dtype=np.float64)])
    both = both[np.isfinite(both)]
    if not len(both):
        return np.array([0.0, 1.0])
    n = int(np.clip(len(ref_values) // 5, 1, max_bins)) if len(ref_values) else 1
    edges = np.unique(np.quantile(ref_values, np.linspace(0, 1, n + 1))) if len(ref_values) else np.array([])
    lo, hi = both.min(), both.max()
    edges = np.unique(np.concatenate([[lo], edges[(edges > lo) & (edges < hi)], [hi]]))
    if len(edges) < 2:
        edges = np.array([lo - 0.5, lo + 0.5])
    edges[-1] = np.nextafter(edges[-1], np.inf)  # the largest value falls in the last bin
    return edges


def _hist1d(values, edges, label: str):
    import hist

    h = hist.Hist(hist.axis.Variable(edges, name="x", label=label, underflow=False, overflow=False))
    h.fill(x=np.asarray(values, dtype=np.float64))
    return h


def _integer_axis(ax, axis="y"):
    from matplotlib.ticker import MaxNLocator

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_locator(MaxNLocator(integer=True, nbins=5))


def _plain_log_axis(ax, axis="y"):
    """Log scale with plain numbers (1, 10, 100, 1000) as labels, none on minor ticks."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    a = ax.yaxis if axis == "y" else ax.xaxis
    a.set_major_locator(LogLocator(base=10))
    a.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    a.set_minor_formatter(NullFormatter())


def _small_multiples(plt, groups: dict, values, edges, xlabel: str, title: str, titles: dict | None = None):
    """One panel per label group: counts with Poisson uncertainties, common binning."""
    import mplhep

    names = [g for g, sel in groups.items() if sel.sum()]
    ncol = min(PANEL_COLUMNS, max(1, len(names)))
    nrow = max(1, -(-len(names) // ncol))
    w, h = (2.9, 2.4) if ncol > 3 else (4.4, 3.3)  # a few groups: larger panels, room for the title
    fig, axes = plt.subplots(nrow, ncol, figsize=(max(7.0, w * ncol + 0.6), h * nrow + 0.8), squeeze=False,
                             sharex=True)
    for ax, g in zip(axes.flat, names):
        h = _hist1d(values[groups[g]], edges, xlabel)
        mplhep.histplot(h, ax=ax, histtype="errorbar", yerr=np.sqrt(h.values()), xerr=True, color="k",
                        marker="o", markersize=3, elinewidth=1)
        ax.set_title((titles or {}).get(g, f"{g}: {int(groups[g].sum())} jets"), fontsize=10)
        ax.set_ylim(0, max(1, h.values().max()) * 1.25)
        _integer_axis(ax)
        ax.set_xlabel("")
        ax.set_ylabel("")
    for ax in axes.flat[len(names):]:
        ax.set_axis_off()
    if not names:
        axes[0][0].text(0.5, 0.5, "no jets", ha="center", va="center", transform=axes[0][0].transAxes)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    for row in axes:
        row[0].set_ylabel("jets / bin")
    fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    return fig


def _common_edges(values, lo_q=0.002, hi_q=0.998, bins=20, integer=False) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]  # a NaN (a FAIL of the checks) must not stop the plots
    if not len(v):
        return np.linspace(0, 1, bins + 1)
    lo, hi = np.quantile(v, [lo_q, hi_q]) if len(v) > 50 else (v.min(), v.max())
    if integer:
        lo, hi = np.floor(lo), np.ceil(hi) + 1
        step = max(1, int(np.ceil((hi - lo) / bins)))
        return np.arange(lo, hi + step, step) - 0.5
    if hi <= lo:
        lo, hi = lo - 1, hi + 1
    return np.linspace(lo, hi, bins + 1)


def plot_labels(plt, category: str, counts: dict):
    """Jets per label of the category's family, label names on the axis."""
    family = CATEGORY_LABELS[category]
    y = np.array([counts.get(int(k), 0) for k in family], dtype=np.float64)
    x = np.arange(len(family))
    fig, ax = plt.subplots(figsize=(max(8, 0.13 * len(family) + 2.5), 5.5))
    present = y > 0
    ax.bar(x[present], y[present], width=0.8, color="#5790fc", edgecolor="none", label="jets")
    ax.errorbar(x[present], y[present], yerr=np.sqrt(y[present]), fmt="none", ecolor="k", elinewidth=1, capsize=0)
    positive = y[present]
    log = len(positive) and positive.max() > 20 * max(1, positive.min())
    bottom = 0.5 if log else 0
    if (~present).any():
        ax.plot(x[~present], np.full((~present).sum(), 0.7 if log else 0), "x", color="#e42536", ms=7, mew=2,
                label=f"absent ({(~present).sum()})", clip_on=False)
    if log:
        ax.set_yscale("log")
        ax.set_ylim(bottom, positive.max() * 3)
        _plain_log_axis(ax)
    else:
        ax.set_ylim(0, max(1, y.max() + np.sqrt(y.max())) * 1.15)
        _integer_axis(ax)
    ax.set_xticks(x, [f"{LABEL_NAMES[k]} ({k})" for k in family], rotation=90,
                  fontsize=9 if len(family) <= 30 else 7)
    ax.minorticks_off()
    ax.set_xlim(-0.7, len(family) - 0.3)
    ax.set_ylabel("jets")
    ax.set_title(f"{category}: jets per label, {int(present.sum())} of {len(family)} labels present, "
                 f"{int(y.sum())} jets (label index in brackets)", fontsize=12)
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def plot_reference(plt, category: str, sample: dict, reference: dict | None):
    """Normalised distributions of ours and the published jets, and their ratio with uncertainties."""
    import mplhep

    branches = (("jet_pt", "jet $p_T$ [GeV]", "jets / GeV"), ("jet_sdmass", "soft-drop mass [GeV]", "jets / GeV"),
                ("jet_nparticles", "constituents per jet", "jets / constituent"))
    fig, axes = plt.subplots(2, 3, figsize=(15, 6.5), gridspec_kw={"height_ratios": [3, 1.3]}, sharex="col")
    n_ref = 0 if reference is None else len(reference["jet_pt"])
    for col, (branch, label, unit) in enumerate(branches):
        top, bot = axes[0][col], axes[1][col]
        ours = np.asarray(sample[branch], dtype=np.float64)
        ref = np.asarray(reference[branch], dtype=np.float64) if n_ref else np.zeros(0)
        edges = comparison_edges(ref, ours)
        a = _hist1d(ours, edges, label)
        b = _hist1d(ref, edges, label)
        width = np.diff(edges)
        for h, n, name, color, marker in ((a, len(ours), "this production", "k", "o"),
                                          (b, len(ref), "published", "#e42536", "s")):
            if n:
                v = h.values()
                mplhep.histplot(v / (n * width), edges, yerr=np.sqrt(v) / (n * width), ax=top, histtype="errorbar",
                                xerr=True, color=color, marker=marker, markersize=4, label=f"{name} ({n} jets)")
        top.set_ylabel(f"fraction of {unit}")
        top.set_ylim(bottom=0)
        top.set_xlabel("")
        top.legend(loc="upper right")
        bot.set_ylabel("ours / published")
        bot.set_xlabel(label)
        if not (len(ours) and len(ref)):
            bot.text(0.5, 0.5, "no ratio: a sample is empty", ha="center", va="center", transform=bot.transAxes)
            continue
        r, err = ratio_with_uncertainty(a.values(), b.values())
        centers = 0.5 * (edges[1:] + edges[:-1])
        bot.errorbar(centers, r, yerr=err, xerr=width / 2, fmt="o", color="k", markersize=4, elinewidth=1)
        bot.axhline(1, color="#e42536", lw=1)
        finite = np.isfinite(r + err)
        top_r = min(4.0, max(2.0, np.nanmax(r[finite] + err[finite]) * 1.05 if finite.any() else 2.0))
        bot.set_ylim(0, top_r)
        above = np.isfinite(r) & (r > top_r)  # off scale: a marker at the top edge
        if above.any():
            bot.plot(centers[above], np.full(above.sum(), top_r * 0.96), "^", color="#f89c20", ms=8, clip_on=False)
    fig.suptitle(f"{category}: our jets against the published JetClass-II jets" +
                 (f" ({n_ref} published jets)" if n_ref else " (published jets absent)"), fontsize=13)
    fig.tight_layout()
    return fig


def plot_grid(plt, cfg, points: dict):
    import mplhep

    drawn = {s: p for s, p in points.items() if p}
    fig, axes = plt.subplots(1, max(1, len(drawn)), figsize=(5.5 * max(1, len(drawn)), 4.5), squeeze=False)
    for ax, (sample_name, pts) in zip(axes[0], drawn.items()):
        if any("mass_x" in p for p in pts):
            ax.scatter([p.get("mass_x") for p in pts], [p.get("pt_min") for p in pts], s=10, color="k")
            ax.set_xlim(0, mass_grid(cfg).max() * 1.05)
            ax.set_ylim(pt_grid(cfg).min() * 0.9, pt_grid(cfg).max() * 1.1)
            ax.set_yscale("log")
            _plain_log_axis(ax)
            ax.set_xlabel("$m_X$ [GeV]")
            ax.set_ylabel("$p_{T,min}$ [GeV]")
        else:
            edges = qcd_pthat_grid(cfg)
            h = _hist1d([p.get("pthat_min") for p in pts], edges, r"$\hat p_{T,min}$ [GeV]")
            mplhep.histplot(h, ax=ax, histtype="errorbar", yerr=np.sqrt(h.values()), xerr=True, color="k")
            ax.set_xscale("log")
            _plain_log_axis(ax, "x")
            _integer_axis(ax)
            ax.set_ylim(bottom=0)
            ax.set_ylabel("grid points drawn")
        ax.set_title(f"{sample_name}: {len(pts)} grid points drawn", fontsize=11)
    if not drawn:
        axes[0][0].text(0.5, 0.5, "no provenance files (*.gridpoints.json)", ha="center", va="center")
        axes[0][0].set_axis_off()
    fig.tight_layout()
    return fig


def make_plots(outdir: Path, category: str, m: dict, sample: dict, groups: dict, reference: dict | None, cfg,
               points) -> None:
    """Write the plots of :data:`PLOTS` of one category into ``outdir``."""
    plt = _pyplot()
    n = len(sample["jet_pt"])

    def save(fig, name):
        fig.savefig(Path(outdir) / name, dpi=DPI)
        plt.close(fig)

    save(plot_labels(plt, category, {int(k): v for k, v in m["labels"].items()}), "labels.png")
    save(_small_multiples(plt, groups, sample["jet_pt"], _common_edges(sample["jet_pt"]), "jet $p_T$ [GeV]",
                          f"{category}: jet $p_T$ per label group ({n} jets read)"), "kinematics.png")
    save(_small_multiples(plt, groups, sample["jet_sdmass"], _common_edges(sample["jet_sdmass"]),
                          "soft-drop mass [GeV]", f"{category}: soft-drop mass per label group ({n} jets read)"),
         "mass.png")
    matched = np.asarray(sample["genjet_nparticles"]) > 0
    titles = {}
    for g, sel in groups.items():
        k = int(sel.sum())
        if k:
            p = matched[sel].mean()
            titles[g] = f"{g}: {k} jets, match {p:.2f}±{np.sqrt(p * (1 - p) / k):.2f}"
    save(_small_multiples(plt, groups, sample["jet_nparticles"], _common_edges(sample["jet_nparticles"], integer=True),
                          "constituents per jet", f"{category}: constituents per jet and GEN-jet match rate per label "
                          f"group ({n} jets read)", titles), "constituents.png")
    save(plot_reference(plt, category, sample, reference), "reference.png")
    save(plot_grid(plt, cfg, points), "grid.png")
