"""Soft-drop grooming (fastjet-contrib ``SoftDrop``, grooming mode) in one numba kernel.

fastjet-contrib's soft drop reclusters every jet with Cambridge/Aachen (R = max allowable)
and declusters along the harder (larger pT) branch until a splitting passes
``min(pT1, pT2) / (pT1 + pT2) > z_cut * (dR12 / R0)^beta``. The Python bindings of fastjet
spend milliseconds per jet on it (their cost grows quadratically with the constituent count),
so the ntuplizer runs the same algorithm here: C/A with nearest-neighbour bookkeeping
(O(n^2) per jet), fastjet's rapidity/azimuth conventions and history order, E-scheme
recombination. Agreement with Delphes' ``SoftDroppedP4`` is checked in the tests.
"""
from __future__ import annotations

import numba
import numpy as np

_TWO_PI = 2.0 * np.pi
_MAX_RAP = 1e5  # fastjet's rapidity of a particle along the beam


@numba.njit(cache=True, inline="always")
def _rap_phi(px, py, pz, e):
    kt2 = px * px + py * py
    phi = 0.0 if kt2 == 0.0 else np.arctan2(py, px)
    if phi < 0.0:
        phi += _TWO_PI
    if phi >= _TWO_PI:
        phi -= _TWO_PI
    if e == abs(pz) and kt2 == 0.0:
        rap = _MAX_RAP + abs(pz)
        if pz < 0.0:
            rap = -rap
    else:
        m2 = max(0.0, (e + pz) * (e - pz) - kt2)
        e_plus = e + abs(pz)
        rap = 0.5 * np.log((kt2 + m2) / (e_plus * e_plus))
        if pz > 0.0:
            rap = -rap
    return rap, phi


@numba.njit(cache=True, inline="always")
def _dist2(rap, phi, a, b):
    dphi = abs(phi[a] - phi[b])
    if dphi > np.pi:
        dphi = _TWO_PI - dphi
    drap = rap[a] - rap[b]
    return drap * drap + dphi * dphi


@numba.njit(cache=True)
def _soft_drop_one(px, py, pz, e, beta, zcut, r0):
    """Groomed mass of one jet from its constituents' four-vectors."""
    n = px.shape[0]
    if n == 0:
        return 0.0
    size = 2 * n - 1
    cx = np.empty(size)
    cy = np.empty(size)
    cz = np.empty(size)
    ce = np.empty(size)
    rap = np.empty(size)
    phi = np.empty(size)
    parent1 = np.full(size, -1, np.int64)
    parent2 = np.full(size, -1, np.int64)
    for i in range(n):
        cx[i], cy[i], cz[i], ce[i] = px[i], py[i], pz[i], e[i]
        rap[i], phi[i] = _rap_phi(px[i], py[i], pz[i], e[i])
    # active clusters by position, with their nearest neighbour (position) and distance
    act = np.arange(n)
    nnd = np.full(n, np.inf)
    nnp = np.full(n, -1, np.int64)
    need = np.zeros(n, np.bool_)
    for a in range(n):
        for b in range(a + 1, n):
            d = _dist2(rap, phi, act[a], act[b])
            if d < nnd[a]:
                nnd[a], nnp[a] = d, b
            if d < nnd[b]:
                nnd[b], nnp[b] = d, a
    m = n
    nxt = n
    while m > 1:
        ka = 0
        for k in range(1, m):
            if nnd[k] < nnd[ka]:
                ka = k
        kb = nnp[ka]
        if kb < ka:
            ka, kb = kb, ka
        ia, ib = act[ka], act[kb]
        c = nxt
        nxt += 1
        cx[c], cy[c], cz[c], ce[c] = cx[ia] + cx[ib], cy[ia] + cy[ib], cz[ia] + cz[ib], ce[ia] + ce[ib]
        rap[c], phi[c] = _rap_phi(cx[c], cy[c], cz[c], ce[c])
        parent1[c], parent2[c] = min(ia, ib), max(ia, ib)
        # clusters whose nearest neighbour was merged away must search again
        for k in range(m):
            need[k] = k == ka or nnp[k] == ka or nnp[k] == kb
        # the merged cluster takes position ka; the last position moves into kb
        act[ka] = c
        last = m - 1
        if kb != last:
            act[kb], nnd[kb], nnp[kb], need[kb] = act[last], nnd[last], nnp[last], need[last]
        m -= 1
        for k in range(m):
            if nnp[k] == last:
                nnp[k] = kb
        for k in range(m):
            if need[k]:
                best, bp = np.inf, -1
                for q in range(m):
                    if q != k:
                        d = _dist2(rap, phi, act[k], act[q])
                        if d < best:
                            best, bp = d, q
                nnd[k], nnp[k] = best, bp
            elif k != ka:
                d = _dist2(rap, phi, act[k], c)
                if d < nnd[k]:
                    nnd[k], nnp[k] = d, ka
    node = nxt - 1
    r02 = r0 * r0
    while True:
        p1, p2 = parent1[node], parent2[node]
        if p1 < 0:
            break  # a single particle: grooming mode returns it
        if cx[node] * cx[node] + cy[node] * cy[node] <= 0.0:
            return 0.0  # fastjet returns an empty jet
        pt1 = np.hypot(cx[p1], cy[p1])
        pt2 = np.hypot(cx[p2], cy[p2])
        if pt1 + pt2 == 0.0:
            return 0.0
        sym = min(pt1, pt2) / (pt1 + pt2)
        cut = zcut * (_dist2(rap, phi, p1, p2) / r02) ** (0.5 * beta)
        if sym > cut:
            break
        node = p1 if pt1 * pt1 >= pt2 * pt2 else p2
    m2 = (ce[node] + cz[node]) * (ce[node] - cz[node]) - (cx[node] * cx[node] + cy[node] * cy[node])
    return np.sqrt(m2) if m2 >= 0.0 else -np.sqrt(-m2)


@numba.njit(cache=True)
def soft_drop_masses(px, py, pz, e, offsets, beta, zcut, r0):
    """Groomed masses of many jets: constituents flattened, jet j = offsets[j]:offsets[j+1]."""
    n_jets = offsets.shape[0] - 1
    out = np.zeros(n_jets)
    for j in range(n_jets):
        lo, hi = offsets[j], offsets[j + 1]
        out[j] = _soft_drop_one(px[lo:hi], py[lo:hi], pz[lo:hi], e[lo:hi], beta, zcut, r0)
    return out
