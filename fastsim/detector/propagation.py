"""Propagation to the calorimeter surface in the solenoid (Delphes' ParticlePropagator).

Charged particles follow a helix (radius pT / (0.3 Bz)); the hit position on the barrel
cylinder (radius R) or on an end cap (|z| = half length) gives the eta and phi at which
the particle enters the calorimeter. Particles curling inside the barrel reach an end cap
(or never leave, if they have no longitudinal momentum).
"""
from __future__ import annotations

import numpy as np

from jetclass2.kinematics import wrap_phi

GEV_PER_TESLA_METRE = 0.299792458


def propagate(px, py, pz, x, y, z, charge, fcard):
    """Hit eta, phi at the calorimeter surface and whether it is reached. Positions in mm."""
    radius = fcard["radius_m"] * 1e3
    half = fcard["half_length_m"] * 1e3
    pt = np.hypot(px, py)
    phi0 = np.arctan2(py, px)
    with np.errstate(divide="ignore", invalid="ignore"):
        cot = np.where(pt > 0, pz / np.where(pt > 0, pt, 1.0), np.sign(pz) * 1e9)
        charged = charge != 0
        # helix radius [mm]; neutral particles: infinite
        r_h = np.where(charged, pt / (GEV_PER_TESLA_METRE * fcard["bz_tesla"]) * 1e3, np.inf)
        # transverse path length to the barrel (production point taken on the beam line: the
        # transverse displacements of the generated particles are far below the cell size)
        arg = radius / (2 * r_h)
        reach_barrel = arg <= 1
        s_barrel = np.where(charged, 2 * r_h * np.arcsin(np.clip(arg, 0, 1)), radius)
        z_barrel = z + cot * s_barrel
        barrel = reach_barrel & (np.abs(z_barrel) <= half) & (pt > 0)
        # end-cap hits: path to |z| = half length
        z_end = np.where(pz >= 0, half, -half)
        s_end = np.where(pz != 0, (z_end - z) / np.where(cot != 0, cot, 1e-300), np.inf)
        s_end = np.where(s_end > 0, s_end, np.inf)
        s = np.where(barrel, s_barrel, s_end)
        reached = barrel | np.isfinite(s)
        s = np.where(reached, s, 0.0)
        turn = np.where(charged, s / (2 * r_h), 0.0)  # half the bending angle
        r_xy = np.where(barrel, radius, np.where(charged, 2 * r_h * np.abs(np.sin(turn)), s))
        z_hit = np.where(barrel, z_barrel, z_end)
        # positive particles bend clockwise in a field along +z
        phi = phi0 - np.sign(charge) * turn
        eta = np.arcsinh(z_hit / np.maximum(r_xy, 1e-9))
    phi = wrap_phi(phi)
    reached &= r_xy > 1.0  # particles that curl back onto the beam line leave no usable hit
    return eta, phi, reached
