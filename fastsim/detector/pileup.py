"""Pile-up merging (Delphes' PileUpMerger): Poisson number of minimum-bias events per hard event,
each at its own vertex (z, t) and rotated by a random azimuth."""
from __future__ import annotations

import logging

import awkward as ak
import numpy as np

from .card import SimulationInputError, visible

log = logging.getLogger(__name__)

FIELDS = ("PID", "Charge", "Px", "Py", "Pz", "E", "X", "Y", "Z", "T")


def draw_vertices(rng, n, pcard):
    """z [mm], t [s] of n vertices from the card's Gaussian, truncated as Delphes' spread window."""
    z = rng.normal(0, pcard["z_sigma_m"] * 1e3, n)
    t = rng.normal(0, pcard["t_sigma_s"], n)
    zmax, tmax = pcard["z_max_m"] * 1e3, pcard["t_max_s"]
    bad = (np.abs(z) > zmax) | (np.abs(t) > tmax)
    while bad.any():  # rejection of the rare far tails; converges in a few passes
        z[bad] = rng.normal(0, pcard["z_sigma_m"] * 1e3, bad.sum())
        t[bad] = rng.normal(0, pcard["t_sigma_s"], bad.sum())
        bad = (np.abs(z) > zmax) | (np.abs(t) > tmax)
    return z, t


class PileupLibrary:
    """Minimum-bias events held as flat arrays for fast random access."""

    def __init__(self, events: ak.Array, source: str, min_events: int):
        if len(events) < min_events:
            raise SimulationInputError(f"{source}: pile-up library has {len(events)} events, at least {min_events} needed")
        missing = [f for f in FIELDS + ("Status",) if f not in events.fields]
        if missing:
            raise SimulationInputError(f"{source}: pile-up library lacks fields {missing}")
        events = events[(events.Status == 1) & visible(events.PID)]
        self.cols = {f: np.asarray(ak.flatten(events[f]), dtype=np.float64) for f in FIELDS}
        bad = ~np.isfinite(self.cols["E"]) | ~np.isfinite(self.cols["Px"]) | ~np.isfinite(self.cols["Pz"])
        if bad.any():
            raise SimulationInputError(f"{source}: pile-up library has {bad.sum()} particles with non-finite momenta")
        self.offsets = np.concatenate([[0], np.cumsum(np.asarray(ak.num(events)))]).astype(np.int64)
        self.n_events = len(events)

    def overlay(self, rng, n_pu, pcard):
        """Particles of sum(n_pu) random library events, at fresh vertices, rotated in phi.

        Returns (columns, event index of each particle, vertex number in its event (1..n), vertex z, vertex t).
        """
        total = int(n_pu.sum())
        z, t = draw_vertices(rng, total, pcard)
        pick = rng.integers(0, self.n_events, total)
        lo, hi = self.offsets[pick], self.offsets[pick + 1]
        sizes = hi - lo
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        take = np.repeat(lo - starts, sizes) + np.arange(sizes.sum())
        cols = {f: v[take] for f, v in self.cols.items()}
        ev = np.repeat(np.repeat(np.arange(len(n_pu)), n_pu), sizes)
        first = np.repeat(np.concatenate([[0], np.cumsum(n_pu)[:-1]]), n_pu)
        vtx_local = np.arange(total) - first + 1
        vtx = np.repeat(vtx_local, sizes)
        if pcard.get("random_phi_rotation", True):
            dphi = np.repeat(rng.uniform(-np.pi, np.pi, total), sizes)
            c, s = np.cos(dphi), np.sin(dphi)
            for a, b in (("Px", "Py"), ("X", "Y")):
                x, y = cols[a], cols[b]
                cols[a], cols[b] = c * x - s * y, s * x + c * y
        cols["Z"] = cols["Z"] + np.repeat(z, sizes)
        cols["T"] = cols["T"] + np.repeat(t, sizes)
        return cols, ev, vtx, z, t
