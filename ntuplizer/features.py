"""JetClass-II per-particle features of jet constituents and GEN-jet constituents.

Definitions follow the JetClass-II variable table (and the reference ``makeNtuples.C``):
constituents sorted by pT, dropping |pz| > 10 TeV, |eta| > 5 or pT <= 0; eta differences
signed by the jet's eta sign; phi differences wrapped to (-pi, pi]; impact parameter dz
relative to the primary vertex; particle-type flags from PID and charge.

Everything works on flat arrays: the constituents of all jets concatenated, ``counts`` per jet.
"""
from __future__ import annotations

import numpy as np

from jetclass2.kinematics import wrap_phi

from .jets import p4_from_ptetaphim


def delta_phi(phi1, phi2):
    """phi1 - phi2 wrapped to (-pi, pi]."""
    d = wrap_phi(np.asarray(phi1, dtype=np.float64) - phi2)
    return np.where(d <= -np.pi, d + 2 * np.pi, d)


def select_and_sort(cols: dict[str, np.ndarray], counts: np.ndarray, max_abs_pz: float,
                    max_abs_eta: float) -> tuple[dict, dict, np.ndarray]:
    """Apply the constituent quality cuts and sort by pT (descending) within each jet.

    Returns ``(cols, p4, counts)``: the columns, their (px, py, pz, E), cut and ordered, and the
    new number of constituents per jet.
    """
    counts = np.asarray(counts, dtype=np.int64)
    px, py, pz, energy = p4_from_ptetaphim(cols["PT"], cols["Eta"], cols["Phi"], cols["Mass"])
    jet_of = np.repeat(np.arange(len(counts)), counts)
    with np.errstate(invalid="ignore"):
        keep = (np.abs(pz) <= max_abs_pz) & (np.abs(cols["Eta"]) <= max_abs_eta) & (cols["PT"] > 0)
    idx = np.flatnonzero(keep)
    # pT-descending within each jet: one stable sort over (jet, -pT)
    idx = idx[np.lexsort((-cols["PT"][idx], jet_of[idx]))]
    new_counts = np.bincount(jet_of[idx], minlength=len(counts)).astype(np.int64)
    return ({k: v[idx] for k, v in cols.items()},
            {"px": px[idx], "py": py[idx], "pz": pz[idx], "E": energy[idx]}, new_counts)


def _relative_to_jet(eta, phi, counts, jet_eta, jet_phi):
    sign = np.where(jet_eta > 0, 1.0, -1.0)
    rep = lambda a: np.repeat(a, counts)  # noqa: E731
    deta = rep(sign) * (np.asarray(eta, dtype=np.float64) - rep(jet_eta))
    dphi = delta_phi(np.asarray(phi, dtype=np.float64), rep(jet_phi))
    return deta, dphi


def constituent_features(cols: dict, p4: dict, counts, jet_eta, jet_phi, pv_z, has_pv) -> dict[str, np.ndarray]:
    """part_* branches (flat) from sorted PF-candidate columns of each jet.

    ``pv_z``/``has_pv`` are per jet (the primary vertex of the jet's event).
    """
    deta, dphi = _relative_to_jet(cols["Eta"], cols["Phi"], counts, np.asarray(jet_eta, np.float64),
                                  np.asarray(jet_phi, np.float64))
    dz = np.asarray(cols["DZ"], dtype=np.float32)
    pvz = np.repeat(np.asarray(pv_z, dtype=np.float32), counts)
    usepv = np.repeat(np.asarray(has_pv, dtype=bool), counts) & (dz != 0)
    pid = cols["PID"]
    charge = cols["Charge"]
    is_e = abs(pid) == 11
    is_mu = abs(pid) == 13
    return {
        "part_px": p4["px"], "part_py": p4["py"], "part_pz": p4["pz"], "part_energy": p4["E"],
        "part_deta": deta, "part_dphi": dphi,
        "part_d0val": cols["D0"], "part_d0err": cols["ErrorD0"],
        "part_dzval": np.where(usepv, dz - pvz, dz), "part_dzerr": cols["ErrorDZ"],
        "part_charge": charge,
        "part_isElectron": is_e, "part_isMuon": is_mu, "part_isPhoton": pid == 22,
        "part_isChargedHadron": (charge != 0) & ~is_e & ~is_mu,
        "part_isNeutralHadron": (charge == 0) & (pid != 22),
    }


def genparticle_features(cols: dict, p4: dict, counts, jet_eta, jet_phi, pv_z, pv_t, has_pv) -> dict[str, np.ndarray]:
    """genpart_* branches (flat) from sorted GEN-jet constituent columns, relative to the reco jet."""
    deta, dphi = _relative_to_jet(cols["Eta"], cols["Phi"], counts, np.asarray(jet_eta, np.float64),
                                  np.asarray(jet_phi, np.float64))
    rep = lambda a, dt: np.repeat(np.asarray(a, dtype=dt), counts)  # noqa: E731
    usepv = rep(has_pv, bool)
    z = np.asarray(cols["Z"], dtype=np.float32)
    t = np.asarray(cols["T"], dtype=np.float32)
    zrel = np.where(usepv, z - rep(pv_z, np.float32), z)
    trel = np.where(usepv, t - rep(pv_t, np.float32), t)
    # particles at the primary vertex carry float noise in x, y: zero them like the reference
    at_pv = np.abs(zrel) < 1e-10
    x = np.where(at_pv, 0.0, np.asarray(cols["X"], dtype=np.float32))
    y = np.where(at_pv, 0.0, np.asarray(cols["Y"], dtype=np.float32))
    return {
        "genpart_px": p4["px"], "genpart_py": p4["py"], "genpart_pz": p4["pz"], "genpart_energy": p4["E"],
        "genpart_jet_deta": deta, "genpart_jet_dphi": dphi,
        "genpart_x": x, "genpart_y": y, "genpart_z": zrel, "genpart_t": trel,
        "genpart_pid": cols["PID"],
    }
