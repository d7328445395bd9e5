"""JetClass-II per-particle features of jet constituents and GEN-jet constituents.

Definitions follow the JetClass-II variable table (and the reference ``makeNtuples.C``):
constituents sorted by pT, dropping |pz| > 10 TeV, |eta| > 5 or pT <= 0; eta differences
signed by the jet's eta sign; phi differences wrapped to (-pi, pi]; impact parameter dz
relative to the primary vertex; particle-type flags from PID and charge.
"""
from __future__ import annotations

import awkward as ak
import numpy as np

from jetclass2.kinematics import wrap_phi

from .jets import p4_from_ptetaphim


def delta_phi(phi1, phi2):
    """phi1 - phi2 wrapped to (-pi, pi]."""
    d = wrap_phi(np.asarray(phi1, dtype=np.float64) - phi2)
    return np.where(d <= -np.pi, d + 2 * np.pi, d)


def gather(flat: dict[str, np.ndarray], index: ak.Array) -> dict[str, ak.Array]:
    """Select ``flat`` columns at jagged global ``index`` (jets * var)."""
    counts = ak.num(index)
    gi = np.asarray(ak.flatten(index), dtype=np.int64)
    return {k: ak.unflatten(v[gi], counts) for k, v in flat.items()}


def select_and_sort(cols: dict[str, ak.Array], max_abs_pz: float, max_abs_eta: float) -> tuple[dict, dict]:
    """Apply the constituent quality cuts and sort by pT (descending) within each jet.

    Returns ``(cols, p4)``: the columns and their (px, py, pz, E), cut and ordered.
    """
    counts = np.asarray(ak.num(cols["PT"]))
    flat = {k: np.asarray(ak.flatten(v)) for k, v in cols.items()}
    px, py, pz, energy = p4_from_ptetaphim(flat["PT"], flat["Eta"], flat["Phi"], flat["Mass"])
    jet_of = np.repeat(np.arange(len(counts)), counts)
    with np.errstate(invalid="ignore"):
        keep = (np.abs(pz) <= max_abs_pz) & (np.abs(flat["Eta"]) <= max_abs_eta) & (flat["PT"] > 0)
    idx = np.flatnonzero(keep)
    # pT-descending within each jet: one stable sort over (jet, -pT)
    idx = idx[np.lexsort((-flat["PT"][idx], jet_of[idx]))]
    new_counts = np.bincount(jet_of[idx], minlength=len(counts))
    un = lambda a: ak.unflatten(a[idx], new_counts)  # noqa: E731
    return ({k: un(v) for k, v in flat.items()},
            {"px": un(px), "py": un(py), "pz": un(pz), "E": un(energy)})


def _relative_to_jet(eta, phi, jet_eta, jet_phi):
    counts = ak.num(eta)
    sign = np.where(jet_eta > 0, 1.0, -1.0)
    rep = lambda a: np.repeat(a, counts)  # noqa: E731
    deta = rep(sign) * (np.asarray(ak.flatten(eta), dtype=np.float64) - rep(jet_eta))
    dphi = delta_phi(np.asarray(ak.flatten(phi), dtype=np.float64), rep(jet_phi))
    return ak.unflatten(deta, counts), ak.unflatten(dphi, counts)


def constituent_features(cols: dict, p4: dict, jet_eta, jet_phi, pv_z, has_pv) -> dict[str, ak.Array]:
    """part_* branches from sorted PF-candidate columns of each jet.

    ``pv_z``/``has_pv`` are per jet (the primary vertex of the jet's event).
    """
    deta, dphi = _relative_to_jet(cols["Eta"], cols["Phi"], np.asarray(jet_eta, np.float64), np.asarray(jet_phi, np.float64))
    counts = ak.num(cols["DZ"])
    dz = np.asarray(ak.flatten(cols["DZ"]), dtype=np.float32)
    pvz = np.repeat(np.asarray(pv_z, dtype=np.float32), counts)
    usepv = np.repeat(np.asarray(has_pv, dtype=bool), counts) & (dz != 0)
    dzval = ak.unflatten(np.where(usepv, dz - pvz, dz), counts)
    pid = cols["PID"]
    charge = cols["Charge"]
    is_e = abs(pid) == 11
    is_mu = abs(pid) == 13
    return {
        "part_px": p4["px"], "part_py": p4["py"], "part_pz": p4["pz"], "part_energy": p4["E"],
        "part_deta": deta, "part_dphi": dphi,
        "part_d0val": cols["D0"], "part_d0err": cols["ErrorD0"],
        "part_dzval": dzval, "part_dzerr": cols["ErrorDZ"],
        "part_charge": charge,
        "part_isElectron": is_e, "part_isMuon": is_mu, "part_isPhoton": pid == 22,
        "part_isChargedHadron": (charge != 0) & ~is_e & ~is_mu,
        "part_isNeutralHadron": (charge == 0) & (pid != 22),
    }


def genparticle_features(cols: dict, p4: dict, jet_eta, jet_phi, pv_z, pv_t, has_pv) -> dict[str, ak.Array]:
    """genpart_* branches from sorted GEN-jet constituent columns, relative to the reco jet."""
    deta, dphi = _relative_to_jet(cols["Eta"], cols["Phi"], np.asarray(jet_eta, np.float64), np.asarray(jet_phi, np.float64))
    counts = ak.num(cols["Z"])
    rep = lambda a, dt: np.repeat(np.asarray(a, dtype=dt), counts)  # noqa: E731
    usepv = rep(has_pv, bool)
    z = np.asarray(ak.flatten(cols["Z"]), dtype=np.float32)
    t = np.asarray(ak.flatten(cols["T"]), dtype=np.float32)
    zrel = np.where(usepv, z - rep(pv_z, np.float32), z)
    trel = np.where(usepv, t - rep(pv_t, np.float32), t)
    # particles at the primary vertex carry float noise in x, y: zero them like the reference
    at_pv = np.abs(zrel) < 1e-10
    x = np.where(at_pv, 0.0, np.asarray(ak.flatten(cols["X"]), dtype=np.float32))
    y = np.where(at_pv, 0.0, np.asarray(ak.flatten(cols["Y"]), dtype=np.float32))
    un = lambda a: ak.unflatten(a, counts)  # noqa: E731
    return {
        "genpart_px": p4["px"], "genpart_py": p4["py"], "genpart_pz": p4["pz"], "genpart_energy": p4["E"],
        "genpart_jet_deta": deta, "genpart_jet_dphi": dphi,
        "genpart_x": un(x), "genpart_y": un(y), "genpart_z": un(zrel), "genpart_t": un(trel),
        "genpart_pid": cols["PID"],
    }
