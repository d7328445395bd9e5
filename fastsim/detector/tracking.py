"""Tracking: acceptance and efficiency (Efficiency), pT smearing (MomentumSmearing) and impact
parameters with their resolutions (TrackSmearing), per particle type as in the card.

Delphes' TrackSmearing rebuilds every track's momentum from the *generated* momentum (the
``P`` the propagator stored), smeared with its own relative resolution (0 in the JetClass-II
card): what MomentumSmearing did is undone, and only its resolution survives, as the
TrackResolution of pile-up tracks (TrackSmearing leaves pile-up tracks unsmeared, with zero
errors, unless ``apply_to_pileup``). The real files show it: muon candidates carry exactly the
generated pT.
"""
from __future__ import annotations

import numpy as np

from .card import log_normal, row_lookup, table_lookup


def particle_kind(pid):
    """'electron', 'muon' or 'hadron' for each charged particle (by |PID|)."""
    apid = np.abs(pid)
    return np.where(apid == 11, 1, np.where(apid == 13, 2, 0))  # 0 hadron, 1 electron, 2 muon


KINDS = ("hadron", "electron", "muon")


def reconstruct_tracks(rng, cols, tcard, is_pu=None, hit_eta=None):
    """Track reconstruction of all charged particles of the batch.

    ``is_pu``: per particle, whether it comes from a pile-up interaction (None: none does).
    ``hit_eta``: eta of the particle's hit on the calorimeter surface (None: momentum eta).
    Delphes evaluates efficiency and momentum resolution at the hit position, so a soft track
    that curls onto an end cap at large |eta| is lost even when it was produced centrally.
    Returns (index of each track into the particle columns, dict of track quantities);
    ``res`` is the relative momentum resolution the calorimeters use (Delphes' TrackResolution).
    """
    px, py, pz = cols["Px"], cols["Py"], cols["Pz"]
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(pz / np.where(pt > 0, pt, 1.0)), np.sign(pz) * 50.0)
    pos_eta = eta if hit_eta is None else np.asarray(hit_eta)
    kind = particle_kind(cols["PID"])
    charged = (cols["Charge"] != 0) & (np.abs(pos_eta) <= tcard["max_abs_eta"])
    eff = np.zeros(len(pt))
    rel_res = np.zeros(len(pt))
    ecard, mcard = tcard["efficiency"], tcard["momentum_resolution"]
    for k, name in enumerate(KINDS):
        sel = charged & (kind == k)
        if not sel.any():
            continue
        e = ecard[name]
        eff[sel] = table_lookup(pos_eta[sel], pt[sel], ecard["eta_edges"], e["pt_edges"], e["values"])
        if "high_pt_start" in e:  # muon efficiency falls off in the TeV range
            hi = sel & (pt > e["high_pt_start"])
            eff[hi] *= np.exp(0.5 - pt[hi] * e["high_pt_slope"])
        a = row_lookup(pos_eta[sel], mcard["eta_edges"], mcard[name]["a"])
        b = row_lookup(pos_eta[sel], mcard["eta_edges"], mcard[name]["b"])
        rel_res[sel] = np.minimum(np.sqrt(a * a + (b * pt[sel]) ** 2), 1.0)
    tracked = charged & (rng.random(len(pt)) < eff)
    i = np.flatnonzero(tracked)
    ts = tcard["track_smearing"]
    pu = np.zeros(len(i), bool) if is_pu is None else np.asarray(is_pu)[i]
    smear = ~pu | bool(ts["apply_to_pileup"])
    p_res = float(ts["p_relative_resolution"])
    if ts["from_generated_momentum"]:
        tpt = pt[i].copy()
        if p_res > 0:
            tpt[smear] = np.maximum(tpt[smear] * (1 + p_res * rng.standard_normal(int(smear.sum()))), 0.0)
        res = np.where(smear, p_res, rel_res[i])
    else:  # a card without TrackSmearing: MomentumSmearing decides
        tpt, res = log_normal(rng, pt[i], rel_res[i] * pt[i]), rel_res[i]
    mass = np.sqrt(np.maximum(cols["E"][i] ** 2 - (px[i] ** 2 + py[i] ** 2 + pz[i] ** 2), 0.0))
    phi = np.arctan2(py[i], px[i])
    # impact parameters of the straight line through the production point (the generated
    # displacements are millimetres, far below the curvature radius of the tracks concerned)
    x0, y0, z0 = cols["X"][i], cols["Y"][i], cols["Z"][i]
    c, s = np.cos(phi), np.sin(phi)
    d0_true = x0 * s - y0 * c
    dz_true = z0 - (x0 * c + y0 * s) * np.sinh(eta[i])
    ip = tcard["impact_parameter"]
    e_d0 = table_lookup(eta[i], pt[i], ip["eta_edges"], ip["pt_edges"], ip["d0_mm"])
    e_dz = table_lookup(eta[i], pt[i], ip["eta_edges"], ip["pt_edges"], ip["dz_mm"])
    e_d0, e_dz = np.where(smear, e_d0, 0.0), np.where(smear, e_dz, 0.0)
    d0 = d0_true + e_d0 * rng.standard_normal(len(i))
    dz = dz_true + e_dz * rng.standard_normal(len(i))
    trk = {
        "PT": tpt, "Eta": eta[i], "Phi": phi, "Mass": mass, "res": res, "ErrorPT": np.where(smear, p_res * tpt, 0.0),
        "D0": d0, "DZ": dz, "ErrorD0": e_d0, "ErrorDZ": e_dz,
        # point of closest approach to the beam line
        "X": d0 * s, "Y": -d0 * c, "Z": dz, "T": cols["T"][i],
    }
    trk["E"] = np.sqrt((trk["PT"] * np.cosh(trk["Eta"])) ** 2 + mass ** 2)
    return i, trk
