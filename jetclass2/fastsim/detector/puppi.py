"""PUPPI weights of the neutral e-flow candidates (Delphes' RunPUPPI with the card's settings).

Local shape alpha_i = log sum_j pT_j^2 / dR_ij^2 over charged primary-vertex particles j within
the cone. Per event and eta region, the median and RMS of alpha over charged pile-up particles
(pT above rms_pt_min) define the pile-up expectation; with the low-pile-up correction the median
and RMS are lowered by sqrt(chi2_quantile(f) * RMS), f = N_PV-below-median / (N_PV-below + N_PU/2).
Neutral weight = chi2 CDF(1 dof) of the signed (alpha - median)|alpha - median| / RMS^2; weights
below min_weight and weighted pT below neutral_min_e + slope * N_PV are zeroed. With CHS,
charged candidates get weight 1 (primary vertex) or 0 (pile-up).
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numba
import numpy as np

_NORMAL = NormalDist()


def chi2_cdf_1dof(x):
    """CDF of the chi-squared distribution with one degree of freedom (0 for x <= 0)."""
    return _chi2_cdf_1dof(np.ascontiguousarray(x, dtype=np.float64).ravel()).reshape(np.shape(x))


@numba.njit(cache=True)
def _chi2_cdf_1dof(x):
    out = np.zeros(len(x))
    for i in range(len(x)):
        if x[i] > 0:
            out[i] = math.erf(math.sqrt(0.5 * x[i]))
    return out


def chi2_ppf_1dof(p):
    """Quantile of the chi-squared distribution with one degree of freedom (p in [0, 1))."""
    return np.array([_NORMAL.inv_cdf(0.5 * (1.0 + v)) ** 2 for v in np.asarray(p, dtype=np.float64).ravel()])


@numba.njit(cache=True)
def _alpha(off, eta, rap, phi, pt, is_ref, cone):
    """alpha of every particle from the reference particles of its event (particles sorted by event).

    As PUPPI does it: the neighbours are selected within the cone in (rapidity, phi), and the
    distance in the sum is taken in (pseudorapidity, phi). PUPPI's particles were built with the
    candidates' eta as their rapidity, so ``rap`` is the candidates' eta and ``eta`` the
    pseudorapidity of the built particle (larger for a massive track)."""
    out = np.zeros(len(eta))
    cone2 = cone * cone
    for e in range(len(off) - 1):
        lo, hi = off[e], off[e + 1]
        refs = np.empty(hi - lo, np.int64)
        nref = 0
        for j in range(lo, hi):
            if is_ref[j]:
                refs[nref] = j
                nref += 1
        for i in range(lo, hi):
            s = 0.0
            for k in range(nref):
                j = refs[k]
                drap = rap[i] - rap[j]
                if drap > cone or drap < -cone:
                    continue
                dphi = abs(phi[i] - phi[j])
                if dphi > np.pi:
                    dphi = 2 * np.pi - dphi
                if drap * drap + dphi * dphi >= cone2:
                    continue
                deta = eta[i] - eta[j]
                dr2 = deta * deta + dphi * dphi
                if dr2 >= 1e-4:
                    s += pt[j] * pt[j] / dr2
            out[i] = np.log(s) if s > 0 else 0.0
    return out


@numba.njit(cache=True)
def _med_rms(off, val, is_pu, is_pv, adjust):
    """Per event: median and RMS of the reference values (zeros skipped in the RMS), number of PV values below."""
    n_ev = len(off) - 1
    med = np.full(n_ev, np.nan)
    rms = np.full(n_ev, np.nan)
    n_pu = np.zeros(n_ev, np.int64)
    n_pv_below = np.zeros(n_ev, np.int64)
    for e in range(n_ev):
        lo, hi = off[e], off[e + 1]
        pu = np.sort(val[lo:hi][is_pu[lo:hi]])
        if len(pu) == 0:
            continue
        n_pu[e] = len(pu)
        # as PUPPI does: when some values are 0 (no reference particle in the cone), the median
        # is taken over the sorted values from the last zero on (the negative ones are skipped)
        start = 0
        for k in range(len(pu)):
            if pu[k] == 0:
                start = k
        m = pu[start + (len(pu) - start) // 2]
        s = 0.0
        c = 0
        for v in pu:
            if v == 0 or (adjust and v > m):
                continue
            s += (v - m) ** 2
            c += 1
        r = np.sqrt(s / c) if c > 0 else 0.0
        med[e] = m
        rms[e] = r if r > 0 else np.sqrt(1e-5)
        pv = val[lo:hi][is_pv[lo:hi]]
        n_pv_below[e] = np.sum(pv <= m)
    return med, rms, n_pu, n_pv_below


# Input kinds of puppi_weights.
NEUTRAL, PV_TRACK, PU_TRACK = 0, 1, 2


def puppi_weights(pcard, ev, eta, phi, pt, kind, n_ev, n_pv, rap=None):
    """Weights of all candidates of a batch.

    kind: NEUTRAL, PV_TRACK (charged from the primary vertex) or PU_TRACK (charged pile-up),
    all sorted by ``ev``.
    n_pv: per event, the vertex count PUPPI uses for its neutral threshold.
    """
    off = np.concatenate([[0], np.cumsum(np.bincount(ev, minlength=n_ev))]).astype(np.int64)
    rap = eta if rap is None else rap
    alpha = _alpha(off, np.ascontiguousarray(eta, dtype=np.float64), np.ascontiguousarray(rap, dtype=np.float64),
                   phi, pt, kind == PV_TRACK, float(pcard["cone"]))
    weights = np.where(kind == PV_TRACK, 1.0, 0.0)
    aeta = np.abs(eta)
    lo = 0.0
    for r, hi in enumerate(pcard["eta_edges"]):
        region = (aeta >= lo) & (aeta < hi)
        ref = region & (pt >= pcard["rms_pt_min"][r])
        mode = pcard.get("reference", "pileup_tracks_pv_correction")
        if mode == "all_tracks":
            pu_ref, pv_ref = ref & (kind != NEUTRAL), np.zeros(len(kind), bool)
        elif mode == "pileup_tracks":
            pu_ref, pv_ref = ref & (kind == PU_TRACK), np.zeros(len(kind), bool)
        elif mode == "pileup_tracks_pv_correction":
            pu_ref, pv_ref = ref & (kind == PU_TRACK), ref & (kind == PV_TRACK)
        elif mode == "pv_tracks":
            pu_ref, pv_ref = ref & (kind == PV_TRACK), np.zeros(len(kind), bool)
        elif mode == "pv_tracks_pu_correction":
            pu_ref, pv_ref = ref & (kind == PV_TRACK), ref & (kind == PU_TRACK)
        else:
            raise ValueError(f"puppi.reference must be all_tracks, pileup_tracks or pileup_tracks_pv_correction, got {mode!r}")
        med, rms, n_pu, n_pv_below = _med_rms(off, alpha, pu_ref, pv_ref, bool(pcard["apply_low_pu_correction"]))
        rms = rms * pcard["rms_scale_factor"][r]
        if pcard["apply_low_pu_correction"]:
            with np.errstate(divide="ignore", invalid="ignore"):
                f = n_pv_below / (n_pv_below + 0.5 * n_pu)
            shift = np.where(f > 0, np.sqrt(chi2_ppf_1dof(np.nan_to_num(np.clip(f, 0, 1 - 1e-12))) * rms), 0.0)
            med, rms = med - shift, rms - shift
        sel = region & (kind == NEUTRAL)
        m, s = med[ev[sel]], rms[ev[sel]]
        a = np.where(alpha[sel] == 0, m, alpha[sel])  # no neighbour: pile-up-like
        with np.errstate(invalid="ignore", divide="ignore"):
            x = (a - m) * np.abs(a - m) / (s * s)
        w = np.where(np.isnan(m), 1.0, chi2_cdf_1dof(np.nan_to_num(x, nan=0.0)))  # no PU reference: keep
        w[w < pcard["min_weight"]] = 0.0
        w[w * pt[sel] < pcard["neutral_min_e"][r] + pcard["neutral_pt_slope"][r] * n_pv[ev[sel]]] = 0.0
        weights[sel] = w
        lo = hi
    return weights
