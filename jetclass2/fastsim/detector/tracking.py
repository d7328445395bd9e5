"""Tracking: acceptance and efficiency (Efficiency), pT smearing (MomentumSmearing) and impact
parameters with their resolutions (TrackSmearing), per particle type as in the card.

Delphes' TrackSmearing rebuilds every track's momentum from the *generated* momentum (the
``P`` the propagator stored), smeared with its own relative resolution (0 in the JetClass-II
card): what MomentumSmearing did is undone, and only its resolution survives, as the
TrackResolution of tracks TrackSmearing leaves alone. With ``ApplyToPileUp`` (Delphes'
default, on in the JetClass-II card, which does not set it) that is none: pile-up tracks get
the same impact-parameter smearing and errors, and a zero momentum resolution, as
hard-scatter tracks. The real files show it: muon candidates carry exactly the generated pT.
"""
from __future__ import annotations

import numpy as np

from .card import log_normal, row_lookup, table_lookup


def particle_kind(pid):
    """'electron', 'muon' or 'hadron' for each charged particle (by |PID|)."""
    apid = np.abs(pid)
    return np.where(apid == 11, 1, np.where(apid == 13, 2, 0))  # 0 hadron, 1 electron, 2 muon


KINDS = ("hadron", "electron", "muon")


def reconstruct_tracks(rng, cols, tcard, prop, is_pu=None):
    """Track reconstruction of the charged particles of a batch that the propagator kept.

    ``prop``: the result of :func:`jetclass2.fastsim.detector.propagation.propagate` for the same
    particles (hit eta, closest approach, impact parameters). Delphes evaluates efficiency and
    momentum resolution at the calorimeter-hit eta (a soft track that curls onto an end cap is
    lost even when it was produced centrally) and the impact-parameter resolutions at the
    momentum eta and the MomentumSmearing pT. ``is_pu``: per particle, whether it comes from a
    pile-up interaction (None: none does).
    Returns (index of each track into the particle columns, dict of track quantities);
    ``res`` is the relative momentum resolution the calorimeters use (Delphes' TrackResolution),
    ``HitEta`` the eta of the track's calorimeter hit.
    """
    px, py, pz = cols["Px"], cols["Py"], cols["Pz"]
    hit_eta = prop["eta"]
    charged = (cols["Charge"] != 0) & prop["inside"] & (np.abs(hit_eta) <= tcard["max_abs_eta"])
    # efficiency and resolution of the track candidates only (the neutral majority of a pile-up
    # batch needs neither); the efficiency draw still takes one number per particle
    ci = np.flatnonzero(charged)
    pt_c = np.hypot(px[ci], py[ci])
    h_c = hit_eta[ci]
    kind = particle_kind(cols["PID"][ci])
    eff = np.zeros(len(ci))
    rel_c = np.zeros(len(ci))
    ecard, mcard = tcard["efficiency"], tcard["momentum_resolution"]
    for k, name in enumerate(KINDS):
        sel = kind == k
        if not sel.any():
            continue
        e = ecard[name]
        eff[sel] = table_lookup(h_c[sel], pt_c[sel], ecard["eta_edges"], e["pt_edges"], e["values"])
        if "high_pt_start" in e:  # muon efficiency falls off in the TeV range
            hi = sel & (pt_c > e["high_pt_start"])
            eff[hi] *= np.exp(0.5 - pt_c[hi] * e["high_pt_slope"])
        a = row_lookup(h_c[sel], mcard["eta_edges"], mcard[name]["a"])
        b = row_lookup(h_c[sel], mcard["eta_edges"], mcard[name]["b"])
        rel_c[sel] = np.minimum(np.sqrt(a * a + (b * pt_c[sel]) ** 2), 1.0)
    found = rng.random(len(px))[ci] < eff
    i = ci[found]
    rel_i = rel_c[found]
    ts = tcard["track_smearing"]
    pu = np.zeros(len(i), bool) if is_pu is None else np.asarray(is_pu)[i]
    smear = ~pu | bool(ts["apply_to_pileup"])
    p_res = float(ts["p_relative_resolution"])
    pt_i = pt_c[found]
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(pz[i] / pt_i)  # the propagator kept only pT > 0
    # MomentumSmearing (log-normal, at the hit eta)
    pt_ms = log_normal(rng, pt_i, rel_i * pt_i)
    if ts["from_generated_momentum"]:
        tpt = pt_i.copy()
        if p_res > 0:
            tpt[smear] = np.maximum(tpt[smear] * (1 + p_res * rng.standard_normal(int(smear.sum()))), 0.0)
        res = np.where(smear, p_res, rel_i)
    else:  # a card without TrackSmearing: MomentumSmearing decides
        tpt, res = pt_ms, rel_i
    mass = np.sqrt(np.maximum(cols["E"][i] ** 2 - (pt_i ** 2 + pz[i] ** 2), 0.0))
    phi = prop["phi_d"][i]  # momentum direction at the closest approach
    ip = tcard["impact_parameter"]
    # TrackSmearing's formulas see the MomentumSmearing pT and the momentum eta (0 beyond the table)
    covered = np.abs(eta) <= ip["eta_edges"][-1]
    e_d0 = np.where(covered & smear, table_lookup(eta, pt_ms, ip["eta_edges"], ip["pt_edges"], ip["d0_mm"]), 0.0)
    e_dz = np.where(covered & smear, table_lookup(eta, pt_ms, ip["eta_edges"], ip["pt_edges"], ip["dz_mm"]), 0.0)
    d0 = prop["d0"][i] + e_d0 * rng.standard_normal(len(i))
    dz = prop["dz"][i] + e_dz * rng.standard_normal(len(i))
    c, s = np.cos(phi), np.sin(phi)
    trk = {
        "PT": tpt, "Eta": eta, "HitEta": hit_eta[i], "Phi": phi, "Mass": mass, "res": res,
        "ErrorPT": np.where(smear, p_res * tpt, 0.0), "D0": d0, "DZ": dz, "ErrorD0": e_d0, "ErrorDZ": e_dz,
        # point of closest approach to the beam line
        "X": d0 * s, "Y": -d0 * c, "Z": dz, "T": cols["T"][i],
    }
    trk["E"] = np.sqrt((trk["PT"] * np.cosh(trk["Eta"])) ** 2 + mass ** 2)
    return i, trk
