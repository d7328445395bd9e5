"""Propagation through the tracker volume to the calorimeter surface (Delphes' ParticlePropagator).

Every particle starts at its production point. Particles produced outside the tracker
volume (transverse radius > R or |z| > half length: decay products of K0S, Lambda, ... that
decayed late) or with a vanishing transverse momentum are dropped, as Delphes drops them:
they reach neither the trackers nor the calorimeters. Neutral particles fly straight, charged
ones follow a helix in the solenoid (radius pT / (0.3 Bz)), to the barrel cylinder or an end
cap. The hit position gives the eta and phi of the calorimeter cell (seen from the origin,
so the hit eta of a particle from a displaced vertex is not its momentum eta). Charged
particles also get their point of closest approach to the beam line: the momentum phi there
and the transverse (d0) and longitudinal (dz) impact parameters of the track.

One numba kernel loops over the particles (a few million per batch with pile-up): the
geometry is a chain of branches and transcendental functions per particle, which numpy would
evaluate in a dozen full-array passes.
"""
from __future__ import annotations

import math

import numba
import numpy as np

GEV_PER_TESLA_METRE = 0.299792458
MIN_PT2 = 1.0e-9  # GeV^2: Delphes skips particles with a smaller transverse momentum squared


def propagate(px, py, pz, x, y, z, charge, fcard, inside=None, out=None):
    """Propagate particles to the calorimeter surface. Momenta in GeV, positions in mm.

    Returns a dict of arrays (one entry per particle): ``inside`` (produced inside the
    tracker volume with pT^2 >= 1e-9: propagated; the others are dropped), ``eta`` and
    ``phi`` of the calorimeter hit seen from the origin, ``z_hit`` [mm], and for charged
    particles ``phi_d`` (momentum phi at the closest approach), ``d0`` and ``dz`` [mm]
    (neutral particles: 0, 0, 0).
    """
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    n = len(px)
    if inside is None:  # else: given arrays (n and 6 x n) are filled
        inside, out = np.empty(n, np.bool_), np.empty((6, n))
    _propagate(f64(px), f64(py), f64(pz), f64(x), f64(y), f64(z), f64(charge), float(fcard["bz_tesla"]),
               float(fcard["radius_m"]) * 1e3, float(fcard["half_length_m"]) * 1e3, inside, out)
    return {"inside": inside, "eta": out[0], "phi": out[1], "z_hit": out[2], "phi_d": out[3], "d0": out[4], "dz": out[5]}


@numba.njit(cache=True)
def _propagate(px, py, pz, x, y, z, q, bz, radius, half, inside, out):
    for i in range(len(px)):
        pt2 = px[i] * px[i] + py[i] * py[i]
        ok = math.hypot(x[i], y[i]) <= radius and abs(z[i]) <= half and pt2 >= MIN_PT2
        inside[i] = ok
        out[3, i], out[4, i], out[5, i] = 0.0, 0.0, 0.0
        if not ok:
            out[0, i], out[1, i], out[2, i] = 0.0, 0.0, z[i]
            continue
        pt = math.sqrt(pt2)
        c0, s0 = px[i] / pt, py[i] / pt  # cos, sin of the initial momentum phi
        if q[i] == 0:
            # straight line to the barrel or the end cap, whichever comes first
            t = _line_to_barrel(px[i], py[i], x[i], y[i], pt2, radius)
            if pz[i] != 0:
                t = min(t, (math.copysign(half, pz[i]) - z[i]) / pz[i])
            hx, hy, hz = x[i] + px[i] * t, y[i] + py[i] * t, z[i] + pz[i] * t
        else:
            # helix of signed radius r: the momentum phase falls as phi(s) = phi0 - s / r along the
            # transverse path s for either charge (positive particles turn clockwise, field along +z)
            r = pt / (q[i] * bz * GEV_PER_TESLA_METRE) * 1e3
            rc, sd, cd, s_d, xd, yd = _closest_approach(x[i], y[i], c0, s0, r)
            cot = pz[i] / pt
            out[3, i] = math.atan2(sd, cd)
            out[4, i] = xd * sd - yd * cd
            out[5, i] = z[i] + cot * s_d
            ar = abs(r)
            s = math.inf
            if rc + ar >= radius:  # reaches the barrel: alpha from the closest approach, at the centre
                cos_a = min(max((r * r + rc * rc - radius * radius) / (2 * ar * rc), -1.0), 1.0)
                s = s_d + math.acos(cos_a) * ar
            if pz[i] != 0:
                s = min(s, (math.copysign(half, pz[i]) - z[i]) / cot)
            if not math.isfinite(s):
                s = 0.0  # curls forever inside the barrel (pz = 0): stays put
            hx, hy = _on_helix(x[i], y[i], c0, s0, r, s)
            hz = z[i] + cot * s
        rh = math.hypot(hx, hy)
        out[0, i] = math.asinh(hz / rh) if rh > 0 else math.copysign(1e10, hz)
        out[1, i] = math.atan2(hy, hx)
        out[2, i] = hz


@numba.njit(cache=True)
def _line_to_barrel(px, py, x, y, pt2, radius):
    """Line parameter t at which (x, y) + t (px, py) reaches the barrel radius (forwards)."""
    cross = px * y - py * x
    return (math.sqrt(max(pt2 * radius * radius - cross * cross, 0.0)) - px * x - py * y) / pt2


@numba.njit(cache=True)
def _closest_approach(x, y, c0, s0, r):
    """Of the helix of signed radius r from (x, y) with initial direction (c0, s0): distance of its
    centre to the beam line, sin and cos of the momentum phase at the closest approach to the beam
    line, the transverse path to it and its position."""
    sgn = 1.0 if r > 0 else -1.0
    xc = x + r * s0
    yc = y - r * c0
    rc = math.hypot(xc, yc)
    # the closest approach is the point of the circle on the line centre -> origin, where the
    # momentum phase phi_d has sin = sgn xc / rc, cos = -sgn yc / rc
    sd, cd = sgn * xc / rc, -sgn * yc / rc
    # transverse path to it: r times the phase turned, in (-pi, pi] (< 0: behind the start)
    s_d = math.atan2(s0 * cd - c0 * sd, c0 * cd + s0 * sd) * r
    xd, yd = _on_helix(x, y, c0, s0, r, s_d)
    return rc, sd, cd, s_d, xd, yd


@numba.njit(cache=True)
def _on_helix(x, y, c0, s0, r, s):
    """Transverse position after the path s along the circle of signed radius r from (x, y)
    with initial direction (c0, s0): the chord 2 r sin(h) at the mid angle phi0 - h, h = s / 2r
    (stable for large r: no difference of large numbers)."""
    h = 0.5 * s / r
    sh, ch = math.sin(h), math.cos(h)
    chord = 2 * r * sh
    return x + chord * (c0 * ch + s0 * sh), y + chord * (s0 * ch - c0 * sh)


# ---- pile-up: the rotation- and shift-independent part once per library ----------------------------
#
# A pile-up particle is a library particle rotated by its vertex's azimuth and moved along z. The
# transverse geometry (helix, closest approach, d0, path to the barrel and the barrel hit) does not
# depend on either: it is computed once per library particle; per event only the z-dependent part
# is left (inside the volume?, end cap before the barrel?, hit z and eta) and the azimuths are
# shifted. An end-cap hit still needs its transverse position (the path there depends on z).
# Same geometry as ``_propagate``, rounding aside (rotating first or after differs in the last bit).

PU_ROWS = ("ok", "t_b", "ph_b", "rh_b", "r", "c0", "s0", "cot", "phi_d", "d0", "s_d")


def pileup_geometry(px, py, pz, x, y, q, fcard):
    """Per library particle (rows of :data:`PU_ROWS`): transverse reach (``ok``), barrel path
    ``t_b`` (line parameter or helix path, inf if never reached), azimuth and radius of the barrel
    hit, helix radius, initial direction, cot theta, closest-approach azimuth, d0 and path."""
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    out = np.zeros((len(PU_ROWS), len(px)))
    _pileup_geometry(f64(px), f64(py), f64(pz), f64(x), f64(y), f64(q), float(fcard["bz_tesla"]),
                     float(fcard["radius_m"]) * 1e3, out)
    return out


@numba.njit(cache=True)
def _pileup_geometry(px, py, pz, x, y, q, bz, radius, out):
    for i in range(len(px)):
        pt2 = px[i] * px[i] + py[i] * py[i]
        if not (math.hypot(x[i], y[i]) <= radius and pt2 >= MIN_PT2):
            continue  # ok = 0
        out[0, i] = 1.0
        pt = math.sqrt(pt2)
        c0, s0 = px[i] / pt, py[i] / pt
        out[5, i], out[6, i], out[7, i] = c0, s0, pz[i] / pt
        if q[i] == 0:
            t = _line_to_barrel(px[i], py[i], x[i], y[i], pt2, radius)
            hx, hy = x[i] + px[i] * t, y[i] + py[i] * t
        else:
            r = pt / (q[i] * bz * GEV_PER_TESLA_METRE) * 1e3
            rc, sd, cd, s_d, xd, yd = _closest_approach(x[i], y[i], c0, s0, r)
            out[4, i] = r
            out[8, i] = math.atan2(sd, cd)
            out[9, i] = xd * sd - yd * cd
            out[10, i] = s_d
            ar = abs(r)
            t = math.inf
            hx, hy = x[i], y[i]
            if rc + ar >= radius:
                cos_a = min(max((r * r + rc * rc - radius * radius) / (2 * ar * rc), -1.0), 1.0)
                t = s_d + math.acos(cos_a) * ar
                hx, hy = _on_helix(x[i], y[i], c0, s0, r, t)
        out[1, i] = t
        out[2, i] = math.atan2(hy, hx)
        out[3, i] = math.hypot(hx, hy)


def propagate_pileup(geom, table, rows, vid, dphi, z_vtx, fcard, inside, out):
    """Propagation of pile-up particles (library rows ``rows`` at vertices ``vid``: azimuth
    ``dphi``, z shift ``z_vtx``) from the library geometry ``geom`` (:func:`pileup_geometry`) into
    ``inside`` and ``out`` (rows eta, phi, z_hit, phi_d, d0, dz as :func:`propagate`)."""
    _propagate_pileup(geom, table, rows, vid, dphi, z_vtx, float(fcard["half_length_m"]) * 1e3, inside, out)


@numba.njit(cache=True)
def _wrap(phi):
    if phi >= math.pi:
        return phi - 2 * math.pi
    if phi < -math.pi:
        return phi + 2 * math.pi
    return phi


@numba.njit(cache=True)
def _propagate_pileup(geom, table, rows, vid, dphi, z_vtx, half, inside, out):
    # table columns: PID, Charge, Px, Py, Pz, E, X, Y, Z, T (jetclass2.fastsim.detector.pileup.FIELDS)
    for k in range(len(rows)):
        i, v = rows[k], vid[k]
        z = table[i, 8] + z_vtx[v]
        ok = geom[0, i] > 0 and abs(z) <= half
        inside[k] = ok
        out[3, k], out[4, k], out[5, k] = 0.0, 0.0, 0.0
        if not ok:
            out[0, k], out[1, k], out[2, k] = 0.0, 0.0, z
            continue
        pz = table[i, 4]
        t_b = geom[1, i]
        if table[i, 1] == 0:
            t = t_b
            if pz != 0:
                t = min(t, (math.copysign(half, pz) - z) / pz)
            hz = z + pz * t
            if t == t_b:
                rh, ph = geom[3, i], geom[2, i]
            else:
                hx, hy = table[i, 6] + table[i, 2] * t, table[i, 7] + table[i, 3] * t
                rh, ph = math.hypot(hx, hy), math.atan2(hy, hx)
        else:
            cot = geom[7, i]
            out[3, k] = _wrap(geom[8, i] + dphi[v])
            out[4, k] = geom[9, i]
            out[5, k] = z + cot * geom[10, i]
            s = t_b
            if pz != 0:
                s = min(s, (math.copysign(half, pz) - z) / cot)
            if not math.isfinite(s):
                s = 0.0
            hz = z + cot * s
            if s == t_b:
                rh, ph = geom[3, i], geom[2, i]
            else:
                hx, hy = _on_helix(table[i, 6], table[i, 7], geom[5, i], geom[6, i], geom[4, i], s)
                rh, ph = math.hypot(hx, hy), math.atan2(hy, hx)
        out[0, k] = math.asinh(hz / rh) if rh > 0 else math.copysign(1e10, hz)
        out[1, k] = _wrap(ph + dphi[v])
        out[2, k] = hz
