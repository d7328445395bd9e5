"""Fast simulation vs real Delphes on the same generator records (the shared Delphes files).

Re-simulates the `Particle` branch of the shared real Delphes files with the fast simulation
(50 pile-up), ntuplizes both with the project's ntuplizer (AK8 PUPPI jets, soft drop, labels)
and compares the jets of the same events: pT response to the GEN jet, soft-drop mass,
constituent multiplicity, charged/neutral composition, d0/dz of the jet tracks; and, per
event, the pile-up track rejection (tracks far from the primary vertex) and the PUPPI weights
of the neutral candidates. Prints the figures (markdown table) and writes
docs/validation/<name>_fastsim_vs_delphes.png.

A second part runs the chain on Pythia events of our own (one boosted grid point per sample):
jet response to the GEN-jet, soft-drop mass against the resonance mass, multiplicities, labels.

Usage: python benchmarks/validate_fastsim.py [--files hbb_m125_pt500_200events.root ...]
       [--library PATH] [--card PATH] [--seed 1] [--pythia-events 200]
"""
import argparse
import time
from pathlib import Path

import awkward as ak
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import uproot  # noqa: E402

from fastsim.cli import resimulate  # noqa: E402
from fastsim.detector import Simulator  # noqa: E402
from generation.pileup_library import default_pileup_library  # noqa: E402
from jetclass2.delphes_tree import DelphesWriter  # noqa: E402
from ntuplizer import process_file  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "reference" / "delphes"
OUT = REPO / "docs" / "validation"
TARGETS = {"median jet pT / GEN-jet pT": 0.03, "median soft-drop mass [GeV]": 0.05, "median constituents per jet": 0.15}


def simulate(path, out, lib, card, seed, batch=50):
    """Re-simulate ``path`` into ``out``; returns the simulation time per event (after a warm-up)."""
    resimulate(path, out, Simulator(card=card, pileup_library=lib, seed=seed), entry_stop=2)  # numba warm-up
    t0 = time.perf_counter()
    resimulate(path, out, Simulator(card=card, pileup_library=lib, seed=seed), batch=batch)
    return (time.perf_counter() - t0) / uproot.open(path)["Delphes"].num_entries


def event_level(path):
    """Per-event PU-track contamination and neutral PUPPI weights of a Delphes-format file."""
    f = "ParticleFlowCandidate."
    a = uproot.open(path)["Delphes"].arrays([f + x for x in ("PT", "Eta", "Charge", "DZ", "ErrorDZ", "E", "Eem", "Ehad")] + ["Vertex.Z"])
    ch = (a[f + "Charge"] != 0) & (a[f + "PT"] > 0)
    far = np.abs(a[f + "DZ"] - a["Vertex.Z"][:, 0]) > 1.0  # 1 mm: far beyond the dz resolution
    neutral = (a[f + "Charge"] == 0) & (np.abs(a[f + "Eta"]) < 2.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = ak.to_numpy(ak.flatten((a[f + "E"] / (a[f + "Eem"] + a[f + "Ehad"]))[neutral]))
    return {
        "charged per event": ak.to_numpy(ak.sum(ch, axis=1)),
        "charged with |dz - z_PV| > 1 mm per event": ak.to_numpy(ak.sum(ch & far, axis=1)),
        "neutral (|eta| < 2.5) per event": ak.to_numpy(ak.sum(neutral, axis=1)),
        "PUPPI weight of neutrals": w[np.isfinite(w)],
    }


def jet_quantities(j):
    good = ak.to_numpy(j.genjet_pt) > 0
    ch = j.part_charge != 0
    pt = np.hypot(j.part_px, j.part_py)
    return {
        "median jet pT / GEN-jet pT": ak.to_numpy(j.jet_pt / j.genjet_pt)[good],
        "median soft-drop mass [GeV]": ak.to_numpy(j.jet_sdmass),
        "median constituents per jet": ak.to_numpy(j.jet_nparticles),
        "median charged constituents": ak.to_numpy(ak.sum(ch, axis=1)),
        "median photons": ak.to_numpy(ak.sum(j.part_isPhoton, axis=1)),
        "median neutral hadrons": ak.to_numpy(ak.sum(j.part_isNeutralHadron, axis=1)),
        "median charged pT fraction": ak.to_numpy(ak.sum(pt[ch], axis=1) / ak.sum(pt, axis=1)),
        "median |d0| of jet tracks [mm]": np.abs(ak.to_numpy(ak.flatten(j.part_d0val[ch]))),
        "median |dz| of jet tracks [mm]": np.abs(ak.to_numpy(ak.flatten(j.part_dzval[ch]))),
    }


def matched_ratios(ours, ref):
    """Per-jet fastsim/Delphes ratios for jets of the same events matched through their GEN-jet."""
    key = lambda j: np.round(ak.to_numpy(j.genjet_pt), 2)  # noqa: E731 (same generator record: same GEN-jets)
    ko, kr = key(ours), key(ref)
    common, io, ir = np.intersect1d(ko[ko > 0], kr[kr > 0], return_indices=True)
    io = np.flatnonzero(ko > 0)[io] if len(common) else io
    ir = np.flatnonzero(kr > 0)[ir] if len(common) else ir
    o, r = ours[io], ref[ir]
    sd_ok = ak.to_numpy(r.jet_sdmass) > 20
    return len(common), {
        "jet pT": ak.to_numpy(o.jet_pt / r.jet_pt),
        "soft-drop mass (Delphes > 20 GeV)": ak.to_numpy(o.jet_sdmass / r.jet_sdmass)[sd_ok],
        "constituents": ak.to_numpy(o.jet_nparticles / r.jet_nparticles),
    }


def compare(name, ours, ref, rows):
    mx, my = float(np.median(ours)), float(np.median(ref))
    rel = mx / my - 1 if my else float("nan")
    target = TARGETS.get(name)
    status = "" if target is None else ("met" if abs(rel) <= target else "NOT met")
    rows.append((name, mx, my, rel, target, status))


def own_pythia_events(lib, card, seed, n_events, workdir):
    """Fast simulation of our own Pythia events: response and groomed mass per sample."""
    from generation import samples
    from generation.pythia_driver import PythiaGenerator
    from ntuplizer import Settings
    from ntuplizer.labels import LABEL_NAMES

    cfg = samples.load_config()
    points = [samples.GridPoint("Res2P_neutral", mass=125.0, pt_min=516.0),
              samples.GridPoint("Res2P_charged", mass=80.0, pt_min=516.0),
              samples.GridPoint("Res34P", mass=200.0, pt_min=516.0, mass_y=40.0, width_y=0.01),
              samples.GridPoint("QCD", pt_min=float(samples.qcd_pthat_grid(cfg)[60]))]
    print(f"\n### Pythia events of our own ({n_events} per sample), fast simulation with 50 pile-up, AK8 PUPPI jets\n")
    print("| sample | labelled jets | median pT / GEN-jet pT | IQR | median m_SD (GEN-jet m_SD) | median constituents | most frequent labels |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for i, p in enumerate(points):
        gen = PythiaGenerator(samples.pythia_commands(cfg, p, samples.job_seed(seed, p.sample, i, "pythia")),
                              **samples.generator_options(cfg, p.sample))
        out = Path(workdir) / f"own_{p.sample}.root"
        sim = Simulator(card=card, pileup_library=lib, seed=seed + i)
        with DelphesWriter(out) as w:
            for batch in gen.generate(n_events, batch_size=100, progress_every=0):
                w.extend(sim.process(batch))
        j = process_file(out, Settings.from_config(qcd_labels=p.sample == "QCD"))
        good = ak.to_numpy(j.genjet_pt) > 0
        r = ak.to_numpy(j.jet_pt)[good] / ak.to_numpy(j.genjet_pt)[good]
        q = np.percentile(r, [25, 50, 75])
        labels, counts = np.unique(ak.to_numpy(j.jet_label), return_counts=True)
        top = ", ".join(f"{LABEL_NAMES[k]} {c}" for k, c in sorted(zip(labels, counts), key=lambda x: -x[1])[:3])
        print(f"| {p.describe()} | {len(j)} | {q[1]:.3f} | {q[2] - q[0]:.3f} | {np.median(ak.to_numpy(j.jet_sdmass)):.1f} "
              f"({np.median(ak.to_numpy(j.genjet_sdmass)[good]):.1f}) GeV | {np.median(ak.to_numpy(j.jet_nparticles)):.0f} | {top} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", nargs="+", default=["hbb_m125_pt500_200events.root", "res2p_higgs2p_10events.root"])
    ap.add_argument("--library", default=None)
    ap.add_argument("--card", default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", default="/tmp/fastsim_validation")
    ap.add_argument("--pythia-events", type=int, default=200, help="events per sample of our own (0: skip)")
    args = ap.parse_args()
    lib = args.library or default_pileup_library()
    OUT.mkdir(parents=True, exist_ok=True)
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    for name in args.files:
        real = SHARED / name
        ours_path = Path(args.workdir) / f"fastsim_{name}"
        dt = simulate(real, ours_path, lib, args.card, args.seed)
        ours_j, ref_j = process_file(ours_path), process_file(real)
        qo, qr = jet_quantities(ours_j), jet_quantities(ref_j)
        eo, er = event_level(ours_path), event_level(real)
        rows = []
        for k in qo:
            compare(k, qo[k], qr[k], rows)
        iqr = lambda x: float(np.subtract(*np.percentile(x, [75, 25])))  # noqa: E731
        n_ev = uproot.open(real)["Delphes"].num_entries
        print(f"\n### {name}: {n_ev} events, AK8 PUPPI jets: fastsim {len(ours_j)}, Delphes {len(ref_j)}; "
              f"simulation {1e3 * dt:.1f} ms/event (50 PU)\n")
        print("| quantity | fastsim | Delphes 3.5.1 | rel. difference | target |")
        print("| --- | --- | --- | --- | --- |")
        for k, mx, my, rel, target, status in rows:
            tgt = f"within {100 * target:.0f}%: {status}" if target else ""
            print(f"| {k} | {mx:.4g} | {my:.4g} | {100 * rel:+.1f}% | {tgt} |")
        n_match, ratios = matched_ratios(ours_j, ref_j)
        for k, v in ratios.items():
            q = np.percentile(v, [16, 50, 84]) if len(v) else [np.nan] * 3
            print(f"| same jets ({n_match} matched through their GEN-jet): fastsim/Delphes {k} | median {q[1]:.3f} "
                  f"| 68% in [{q[0]:.2f}, {q[2]:.2f}] | | |")
        r_o, r_r = qo["median jet pT / GEN-jet pT"], qr["median jet pT / GEN-jet pT"]
        print(f"| IQR of the pT response | {iqr(r_o):.4g} | {iqr(r_r):.4g} | {100 * (iqr(r_o) / iqr(r_r) - 1):+.1f}% | |")
        for k in eo:
            stat = np.median if "weight" in k else np.mean
            label = ("median " if "weight" in k else "mean ") + k
            print(f"| {label} | {stat(eo[k]):.4g} | {stat(er[k]):.4g} | {100 * (stat(eo[k]) / stat(er[k]) - 1):+.1f}% | |")

        fig, axes = plt.subplots(3, 4, figsize=(17, 11))
        specs = [("jet pT / GEN-jet pT", r_o, r_r, np.linspace(0.6, 1.3, 36)),
                 ("soft-drop mass [GeV]", qo["median soft-drop mass [GeV]"], qr["median soft-drop mass [GeV]"], np.linspace(0, 250, 36)),
                 ("constituents per jet", qo["median constituents per jet"], qr["median constituents per jet"], np.linspace(0, 120, 31)),
                 ("charged constituents", qo["median charged constituents"], qr["median charged constituents"], np.linspace(0, 80, 41)),
                 ("photons per jet", qo["median photons"], qr["median photons"], np.linspace(0, 60, 31)),
                 ("neutral hadrons per jet", qo["median neutral hadrons"], qr["median neutral hadrons"], np.linspace(0, 30, 31)),
                 ("charged pT fraction", qo["median charged pT fraction"], qr["median charged pT fraction"], np.linspace(0, 1, 26)),
                 ("|d0| of jet tracks [mm]", qo["median |d0| of jet tracks [mm]"], qr["median |d0| of jet tracks [mm]"], np.logspace(-4, 1, 41)),
                 ("|dz - z_PV| of jet tracks [mm]", qo["median |dz| of jet tracks [mm]"], qr["median |dz| of jet tracks [mm]"], np.logspace(-4, 1.5, 41)),
                 ("charged candidates per event", eo["charged per event"], er["charged per event"], np.linspace(0, 250, 26)),
                 ("tracks with |dz - z_PV| > 1 mm per event", eo["charged with |dz - z_PV| > 1 mm per event"],
                  er["charged with |dz - z_PV| > 1 mm per event"], np.arange(0, 21) - 0.5),
                 ("PUPPI weight of neutrals (|eta| < 2.5)", eo["PUPPI weight of neutrals"], er["PUPPI weight of neutrals"], np.linspace(0, 1.02, 35))]
        for ax, (title, x, y, bins) in zip(axes.flat, specs):
            ax.hist(np.clip(y, bins[0], bins[-1]), bins=bins, histtype="step", density=True, label="Delphes 3.5.1", lw=2)
            ax.hist(np.clip(x, bins[0], bins[-1]), bins=bins, histtype="step", density=True, label="fastsim", lw=2)
            ax.set_xlabel(title)
            if bins[0] > 0 and bins[-1] / bins[0] > 100:
                ax.set_xscale("log")
        axes.flat[0].legend()
        fig.suptitle(f"{name}: {n_ev} events re-simulated from their generator record, 50 pile-up; "
                     "AK8 PUPPI jets (ntuplizer) and event-level candidates")
        fig.tight_layout()
        png = OUT / f"{name.split('_')[0]}_fastsim_vs_delphes.png"
        fig.savefig(png, dpi=70)
        plt.close(fig)
        print(f"\nplots: {png.relative_to(REPO)}")
    if args.pythia_events > 0:
        own_pythia_events(lib, args.card, args.seed, args.pythia_events, args.workdir)


if __name__ == "__main__":
    main()
