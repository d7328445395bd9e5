"""ECAL and HCAL towers with energy flow (Delphes' SimpleCalorimeter), vectorised per batch.

Every visible particle deposits its energy times the card's ECAL/HCAL fraction in the tower
its propagated hit falls in; tracked particles also register their track energy there. The
tower energy is smeared log-normally and thresholded; the neutral excess (tower minus track
energy) becomes a photon (ECAL) or neutral-hadron (HCAL) candidate when it is above the
energy threshold and significant against the combined track and tower resolution; otherwise
the tracks of the tower are rescaled to the weighted mean of the track and tower measurements.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .card import log_normal


class CaloGeometry:
    """Eta bins (upper edges, each with its number of phi bins) of one calorimeter."""

    def __init__(self, ccard):
        edges, nphi = [], []
        for seg in ccard["cells"]:
            if "range" in seg:
                r = seg["range"]
                e = r["start"] + r["step"] * np.arange(r["count"])
            else:
                e = np.asarray(seg["edges"], dtype=np.float64)
            edges.append(e)
            nphi.append(np.full(len(e), seg["n_phi"]))
        edges = np.concatenate(edges)
        nphi = np.concatenate(nphi)
        order = np.argsort(edges, kind="stable")
        edges, nphi = edges[order], nphi[order]
        keep = np.concatenate([[True], np.diff(edges) > 1e-6])  # shared edges of adjacent segments
        self.edges, self.nphi = edges[keep], nphi[keep].astype(np.int64)
        self.max_phi = int(self.nphi.max())
        self.res = ccard["resolution"]
        # a uniform grid over the edges: grid[j] = first edge >= edges[0] + j * step, where the
        # search for a hit starts (one or two steps from there instead of a binary search)
        self.grid_step = max(float(np.min(np.diff(self.edges))), 1e-3) if len(self.edges) > 1 else 1.0
        n_grid = int((self.edges[-1] - self.edges[0]) / self.grid_step) + 1
        self.grid = np.searchsorted(self.edges, self.edges[0] + self.grid_step * np.arange(n_grid), side="left")

    def sigma(self, energy, eta):
        """Energy resolution at the tower-centre eta."""
        aeta = np.abs(eta)
        out = np.zeros(len(energy))
        lo = 0.0
        for r in self.res:
            sel = (aeta > lo if lo > 0 else aeta >= 0) & (aeta <= r["eta_max"])
            factor = r["a"] + r["b"] * (aeta[sel] - r["eta0"]) ** 2
            e = energy[sel]
            out[sel] = factor * np.sqrt((r["c"] * e) ** 2 + r["s"] ** 2 * e + r["n"] ** 2)
            lo = r["eta_max"]
        return out


def energy_fractions(pid, fcard):
    """(ECAL, HCAL) energy fraction of each particle from the card's table by |PID|."""
    apid = np.abs(pid).astype(np.int64)
    f_ecal = np.full(len(apid), float(fcard["default"][0]))
    f_hcal = np.full(len(apid), float(fcard["default"][1]))
    for code, (fe, fh) in fcard.items():
        if code == "default":
            continue
        sel = apid == int(code)
        f_ecal[sel], f_hcal[sel] = fe, fh
    return f_ecal, f_hcal


def calorimeter(rng, geo: CaloGeometry, ccard, is_ecal, ev, hit_eta, hit_phi, reached, energy, fraction,
                trk_index, trk_energy, trk_res):
    """One calorimeter: returns (neutral e-flow towers, multiplicative rescale factor of each track).

    ``ev, hit_eta, hit_phi, reached, energy, fraction`` are per particle; ``trk_index`` points
    from each track to its particle; ``trk_energy`` and ``trk_res`` (relative) are per track.
    """
    # depositing particles (reached the surface, fraction > 0, hit within the calorimeter) and their cells
    p, cell = _deposits(geo.edges, geo.nphi, geo.grid, geo.grid_step, geo.max_phi, hit_eta, hit_phi, reached, fraction)
    n_cells = len(geo.edges) * geo.max_phi
    # towers = distinct (event, cell) keys, ascending, as np.unique(key, return_inverse=True)
    # gives them, without sorting all deposits of the batch
    uk, inv_p = _unique_cells(ev[p].astype(np.int64), cell, n_cells)
    n_t = len(uk)
    # a track registers in the tower of its own particle's deposit (same hit)
    tower_of = np.full(len(ev), -1, np.int64)
    tower_of[p] = inv_p
    t_sel = np.flatnonzero(tower_of[trk_index] >= 0)
    t_part = trk_index[t_sel]
    inv_t = tower_of[t_part]
    tower_true = np.bincount(inv_p, weights=energy[p] * fraction[p], minlength=n_t)
    u_ieta = (uk // geo.max_phi) % len(geo.edges)
    u_iphi = uk % geo.max_phi
    u_ev = uk // (geo.max_phi * len(geo.edges))
    lo_eta, hi_eta = geo.edges[u_ieta - 1], geo.edges[u_ieta]
    centre = 0.5 * (lo_eta + hi_eta)
    # track energy and its uncertainty in each tower
    t_e = trk_energy[t_sel] * fraction[t_part]
    sig_calo_t = geo.sigma(trk_energy[t_sel], centre[inv_t])
    guess = np.where(sig_calo_t / np.maximum(trk_energy[t_sel], 1e-12) < trk_res[t_sel], t_e, trk_energy[t_sel])
    tower_trk = np.bincount(inv_t, weights=t_e, minlength=n_t)
    tower_trk_sig = np.sqrt(np.bincount(inv_t, weights=(trk_res[t_sel] * guess) ** 2, minlength=n_t))
    # measured tower energy
    e_meas = log_normal(rng, tower_true, geo.sigma(tower_true, centre))
    sigma = geo.sigma(e_meas, centre)
    e_meas = np.where((e_meas < ccard["energy_min"]) | (e_meas < ccard["significance_min"] * sigma), 0.0, e_meas)
    neutral = np.maximum(e_meas - tower_trk, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        significance = neutral / np.sqrt(tower_trk_sig ** 2 + sigma ** 2)
    make = (neutral > ccard["energy_min"]) & (significance > ccard["significance_min"])
    # tracks of towers without a significant neutral excess: best combined estimate
    rescale_tower = np.ones(n_t)
    rs = ~make & (tower_trk > 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w_t = np.where(tower_trk_sig[rs] > 0, 1 / tower_trk_sig[rs] ** 2, 0.0)
        w_c = np.where(sigma[rs] > 0, 1 / sigma[rs] ** 2, 0.0)
        best = (w_t * tower_trk[rs] + w_c * e_meas[rs]) / (w_t + w_c)
    rescale_tower[rs] = np.where(np.isfinite(best), best / tower_trk[rs], 1.0)
    trk_scale = np.ones(len(trk_index))
    trk_scale[t_sel] = rescale_tower[inv_t]
    # the e-flow tower position is smeared uniformly within its cell
    m = np.flatnonzero(make)
    nphi = geo.nphi[u_ieta[m]]
    eta = rng.uniform(lo_eta[m], hi_eta[m])
    phi = -np.pi + (u_iphi[m] + rng.random(len(m))) * (2 * np.pi / nphi)
    towers = {
        "ev": u_ev[m], "Eta": eta, "Phi": phi, "E": neutral[m],
        "Eem": neutral[m] if is_ecal else np.zeros(len(m)),
        "Ehad": np.zeros(len(m)) if is_ecal else neutral[m],
        "PID": np.full(len(m), 22 if is_ecal else 0, np.int32),
    }
    return towers, trk_scale


@numba.njit(cache=True, inline="always")
def _eta_bin(edges, grid, step, e):
    """First edge >= e (searchsorted "left"; NaN after every edge, as numpy sorts it)."""
    n_edges = len(edges)
    if e != e:
        return n_edges
    j = (e - edges[0]) / step
    if j >= 1 and j < len(grid):
        # the grid point one below: edges before grid[j - 1] lie below it, hence (rounding of j
        # and the grid included) below e
        i = grid[int(j) - 1]
        while i < n_edges and edges[i] < e:
            i += 1
        return i
    lo, hi = 0, n_edges
    while lo < hi:
        mid = (lo + hi) >> 1
        if edges[mid] < e:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, inline="always")
def _phi_bin(phi, n):
    """floor((phi + pi) / 2 pi * n) clipped to 0..n-1, as the numpy expression (NaN: 0)."""
    f = math.floor((phi + np.pi) / (2 * np.pi) * n)
    return 0 if f != f or f < 0 else (n - 1 if f > n - 1 else int(f))


@numba.njit(cache=True)
def _deposits(edges, nphi, grid, step, max_phi, eta, phi, reached, fraction):
    """(particle index, cell = eta bin * max_phi + phi bin) of the particles that deposit: reached
    the surface with fraction > 0 and a hit inside the eta range; in particle order."""
    n_edges = len(edges)
    p = np.empty(len(eta), np.int64)
    cell = np.empty(len(eta), np.int64)
    m = 0
    for k in range(len(eta)):
        if not (reached[k] and fraction[k] > 0):
            continue
        lo = _eta_bin(edges, grid, step, eta[k])
        if lo > 0 and lo < n_edges and math.isfinite(eta[k]):
            p[m] = k
            cell[m] = lo * max_phi + _phi_bin(phi[k], nphi[lo])
            m += 1
    return p[:m], cell[:m]


@numba.njit(cache=True)
def _unique_cells(ev, cell, n_cells):
    """(sorted distinct keys ev * n_cells + cell, index of each deposit's key among them): the
    result of ``np.unique(key, return_inverse=True)``, by a counting sort on the event and a
    dense cell map per event (only each event's few thousand distinct cells are sorted)."""
    n = len(ev)
    n_ev = 0
    for i in range(n):
        n_ev = max(n_ev, ev[i] + 1)
    start = np.zeros(n_ev + 1, np.int64)
    for i in range(n):
        start[ev[i] + 1] += 1
    for e in range(n_ev):
        start[e + 1] += start[e]
    order = np.empty(n, np.int64)
    fill = start[:-1].copy()
    for i in range(n):
        order[fill[ev[i]]] = i
        fill[ev[i]] += 1
    slot = np.full(n_cells, -1, np.int64)
    seen = np.empty(n, np.int64)
    keys = np.empty(n, np.int64)
    inv = np.empty(n, np.int64)
    n_t = 0
    for e in range(n_ev):
        m = 0
        for j in range(start[e], start[e + 1]):
            c = cell[order[j]]
            if slot[c] < 0:
                slot[c] = 0
                seen[m] = c
                m += 1
        cells = np.sort(seen[:m])
        for r in range(m):
            slot[cells[r]] = n_t + r
            keys[n_t + r] = e * n_cells + cells[r]
        for j in range(start[e], start[e + 1]):
            inv[order[j]] = slot[cell[order[j]]]
        for r in range(m):
            slot[cells[r]] = -1
        n_t += m
    return keys[:n_t], inv
