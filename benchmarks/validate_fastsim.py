"""Fast simulation vs real Delphes on the same generator records (the shared H->bb file).

Re-simulates the `Particle` branch of ../shared/reference/delphes/hbb_m125_pt500_200events.root
with the fast simulation (50 pile-up), ntuplizes both, and compares the jets of the same events:
pT response to the GEN-jet, soft-drop mass, constituent multiplicity, charged fraction, d0/dz.
Prints the figures and writes docs/validation/*.png.

Usage: python benchmarks/validate_fastsim.py [--library PATH] [--events 200]
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

from fastsim.delphes_format import COLLECTIONS, DelphesWriter  # noqa: E402
from fastsim.detector import Simulator, recentre  # noqa: E402
from fastsim.generation.pileup import default_pileup_library  # noqa: E402
from ntuplizer import process_file  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HBB = REPO.parent / "shared" / "reference" / "delphes" / "hbb_m125_pt500_200events.root"
OUT = REPO / "docs" / "validation"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--library", default=None)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--output", default="/tmp/fastsim_hbb.root")
    args = ap.parse_args()
    lib = args.library or default_pileup_library()
    t = uproot.open(HBB)["Delphes"]
    fields = list(COLLECTIONS["Particle"])
    a = t.arrays([f"Particle.{f}" for f in fields] + ["Vertex.Z", "Vertex.T"], entry_stop=args.events)
    particles = recentre(ak.zip({f: a[f"Particle.{f}"] for f in fields}), a["Vertex.Z"][:, 0], a["Vertex.T"][:, 0])
    sim = Simulator(pileup_library=lib, seed=1)
    t0 = time.perf_counter()
    with DelphesWriter(args.output) as w:
        for i in range(0, len(particles), 50):
            w.extend(sim.process(particles[i:i + 50]))
    dt = time.perf_counter() - t0
    ours, ref = process_file(args.output), process_file(HBB)
    print(f"fast simulation: {1e3 * dt / len(particles):.1f} ms/event (50 PU); jets: fastsim {len(ours)}, Delphes {len(ref)}")
    rows = []

    def compare(name, x, y):
        mx, my = np.median(x), np.median(y)
        rows.append((name, mx, my, mx / my - 1))
        print(f"{name:32s} fastsim {mx:9.4f}  Delphes {my:9.4f}  rel. diff {100 * (mx / my - 1):+6.1f}%")

    resp = lambda j: ak.to_numpy(j.jet_pt / j.genjet_pt)[ak.to_numpy(j.genjet_pt) > 0]  # noqa: E731
    compare("median jet pT / GEN-jet pT", resp(ours), resp(ref))
    print(f"{'  IQR of the response':32s} fastsim {np.subtract(*np.percentile(resp(ours), [75, 25])):9.4f}  "
          f"Delphes {np.subtract(*np.percentile(resp(ref), [75, 25])):9.4f}")
    compare("median soft-drop mass [GeV]", ak.to_numpy(ours.jet_sdmass), ak.to_numpy(ref.jet_sdmass))
    compare("median constituents per jet", ak.to_numpy(ours.jet_nparticles), ak.to_numpy(ref.jet_nparticles))
    chf = lambda j: ak.to_numpy(ak.mean(j.part_charge != 0, axis=1))  # noqa: E731
    compare("median charged fraction", chf(ours), chf(ref))
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    specs = [("jet pT / GEN-jet pT", resp(ours), resp(ref), np.linspace(0.7, 1.3, 40)),
             ("soft-drop mass [GeV]", ak.to_numpy(ours.jet_sdmass), ak.to_numpy(ref.jet_sdmass), np.linspace(0, 250, 40)),
             ("constituents", ak.to_numpy(ours.jet_nparticles), ak.to_numpy(ref.jet_nparticles), np.linspace(0, 120, 40)),
             ("charged fraction", chf(ours), chf(ref), np.linspace(0, 1, 40)),
             ("d0 [mm] (charged)", ak.to_numpy(ak.flatten(ours.part_d0val[ours.part_charge != 0])),
              ak.to_numpy(ak.flatten(ref.part_d0val[ref.part_charge != 0])), np.linspace(-0.3, 0.3, 60)),
             ("dz - z_PV [mm] (charged)", ak.to_numpy(ak.flatten(ours.part_dzval[ours.part_charge != 0])),
              ak.to_numpy(ak.flatten(ref.part_dzval[ref.part_charge != 0])), np.linspace(-0.5, 0.5, 60))]
    for ax, (title, x, y, bins) in zip(axes.flat, specs):
        ax.hist(y, bins=bins, histtype="step", density=True, label="Delphes 3.5.1", lw=2)
        ax.hist(x, bins=bins, histtype="step", density=True, label="fastsim", lw=2)
        ax.set_xlabel(title)
    axes.flat[0].legend()
    fig.suptitle("AK8 PUPPI jets of 200 H->bb events (pTHat > 500 GeV), 50 pile-up: fastsim vs Delphes")
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / "hbb_fastsim_vs_delphes.png", dpi=80)
    print(f"plots: {OUT / 'hbb_fastsim_vs_delphes.png'}")


if __name__ == "__main__":
    main()
