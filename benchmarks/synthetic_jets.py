"""Synthetic JetClass-II jets for loader benchmarks: the exact branch schema (jetclass2.ntuplizer.schema), plausible values.

Multiplicities follow the reference ntuples (about 45 reconstructed particles, 70 GEN-jet particles and
6 auxiliary generator particles per jet); kinematics are consistent (E >= |p|, particles inside the jet
cone, jet_energy = sum of the particle energies), so weaver's derived variables (logs of pT and E
ratios, deltaR) are finite, and labels cover the 188 classes uniformly.

Usage: python benchmarks/synthetic_jets.py --files 20 --jets-per-file 100000 -o DIR
(files already present with the requested size are kept: the set is written once).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
from jetclass2.ntuplizer import schema
from jetclass2.ntuplizer.writer import write_jets

N_LABELS = 188


def _counts(rng, n, mean, lo, hi):
    return np.clip(np.rint(rng.lognormal(np.log(mean) - 0.45**2 / 2, 0.45, n)), lo, hi).astype(np.int64)  # mean ~ mean


def _jagged(flat, counts):
    return ak.unflatten(flat, counts)


def synthetic_jets(n: int, rng: np.random.Generator) -> ak.Array:
    """``n`` jets with every JetClass-II branch, in schema order and dtypes."""
    jet_pt = np.exp(rng.uniform(np.log(200.0), np.log(2500.0), n))
    jet_eta = rng.uniform(-2.4, 2.4, n)
    jet_phi = rng.uniform(-np.pi, np.pi, n)
    npart = _counts(rng, n, 45, 2, 200)
    tot = int(npart.sum())
    owner = np.repeat(np.arange(n), npart)
    # pT fractions summing to one per jet
    w = rng.exponential(1.0, tot)
    wsum = np.bincount(owner, weights=w, minlength=n)
    pt = w / wsum[owner] * jet_pt[owner]
    deta = np.clip(rng.normal(0, 0.2, tot), -0.8, 0.8)
    dphi = np.clip(rng.normal(0, 0.2, tot), -0.8, 0.8)
    eta, phi = jet_eta[owner] + deta, jet_phi[owner] + dphi
    kind = np.searchsorted(np.cumsum([0.01, 0.01, 0.35, 0.5]), rng.random(tot, dtype=np.float32))  # e, mu, photon, charged h, neutral h
    mass = np.choose(kind, [0.000511, 0.1057, 0.0, 0.1396, 0.4977])
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    charged = (kind == 0) | (kind == 1) | (kind == 3)
    charge = np.where(charged, 2 * rng.integers(0, 2, tot, dtype=np.int32) - 1, 0)
    jet_energy = np.bincount(owner, weights=energy, minlength=n)
    cols = {
        "part_px": px, "part_py": py, "part_pz": pz, "part_energy": energy, "part_deta": deta, "part_dphi": dphi,
        "part_d0val": np.where(charged, rng.normal(0, 0.05, tot), 0), "part_d0err": np.where(charged, np.abs(rng.normal(0.02, 0.01, tot)), 0),
        "part_dzval": np.where(charged, rng.normal(0, 0.08, tot), 0), "part_dzerr": np.where(charged, np.abs(rng.normal(0.03, 0.01, tot)), 0),
        "part_charge": charge,
        "part_isElectron": kind == 0, "part_isMuon": kind == 1, "part_isPhoton": kind == 2,
        "part_isChargedHadron": kind == 3, "part_isNeutralHadron": kind == 4,
    }
    cols = {k: _jagged(v, npart) for k, v in cols.items()}
    cols.update({
        "jet_pt": jet_pt, "jet_eta": jet_eta, "jet_phi": jet_phi, "jet_energy": jet_energy,
        "jet_sdmass": rng.uniform(10.0, 520.0, n), "jet_nparticles": npart,
        "jet_tau1": rng.uniform(0, 0.5, n), "jet_tau2": rng.uniform(0, 0.3, n), "jet_tau3": rng.uniform(0, 0.2, n),
        "jet_tau4": rng.uniform(0, 0.1, n), "jet_label": rng.integers(0, N_LABELS, n),
    })
    ngen = _counts(rng, n, 70, 2, 300)
    tg = int(ngen.sum())
    for f in ("px", "py", "pz", "energy", "jet_deta", "jet_dphi", "x", "y", "z", "t"):
        cols[f"genpart_{f}"] = _jagged(10 * rng.standard_normal(tg, dtype=np.float32), ngen)
    cols["genpart_pid"] = _jagged(np.array([22, 211, -211, 130, 2112, 11, 13], np.int32)[rng.integers(0, 7, tg)], ngen)
    for f, v in (("pt", jet_pt), ("eta", jet_eta), ("phi", jet_phi), ("energy", jet_energy), ("sdmass", rng.uniform(10, 520, n))):
        cols[f"genjet_{f}"] = v * rng.normal(1, 0.05, n)
    cols["genjet_nparticles"] = ngen
    naux = _counts(rng, n, 6, 1, 30)
    ta = int(naux.sum())
    for f in ("pt", "eta", "phi", "mass"):
        cols[f"aux_genpart_{f}"] = _jagged(50 * rng.standard_normal(ta, dtype=np.float32), naux)
    cols["aux_genpart_pid"] = _jagged(np.array([1, 2, 3, 4, 5, 21, 25, 35], np.int32)[rng.integers(0, 8, ta)], naux)
    for f in ("isResX", "isResY", "isResDecayProd", "isTauDecayProd", "isQcdParton"):
        cols[f"aux_genpart_{f}"] = _jagged(rng.random(ta, dtype=np.float32) < 0.2, naux)
    return schema.conform(cols)


def ensure_dataset(outdir, n_files: int, jets_per_file: int, seed: int = 1, log=print) -> list[Path]:
    """``n_files`` files of ``jets_per_file`` synthetic jets in ``outdir`` (written once, then reused)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_files):
        path = outdir / f"synthetic_{jets_per_file}_{i:04d}.root"
        try:
            ok = uproot.open(path)["tree"].num_entries == jets_per_file
        except Exception:
            ok = False
        if not ok:
            log(f"writing {path} ({jets_per_file} jets)")
            write_jets(path, synthetic_jets(jets_per_file, np.random.default_rng([seed, i])))
        paths.append(path)
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--jets-per-file", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--outdir", required=True)
    a = ap.parse_args(argv)
    ensure_dataset(a.outdir, a.files, a.jets_per_file, a.seed)


if __name__ == "__main__":
    main()
