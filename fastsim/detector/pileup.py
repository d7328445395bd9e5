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
    """Minimum-bias events held as flat arrays for fast random access.

    ``reach``: optional function of the flat columns returning which particles can leave a
    trace in the detector; the others are dropped once, here, instead of in every overlay.
    The vertex summaries (charged multiplicity and sum pT^2, which Delphes computes from all
    particles of an event) are taken before.
    """

    def __init__(self, events: ak.Array, source: str, min_events: int, reach=None):
        if len(events) < min_events:
            raise SimulationInputError(f"{source}: pile-up library has {len(events)} events, at least {min_events} needed")
        missing = [f for f in FIELDS + ("Status",) if f not in events.fields]
        if missing:
            raise SimulationInputError(f"{source}: pile-up library lacks fields {missing}")
        events = events[(events.Status == 1) & visible(events.PID)]
        cols = {f: np.asarray(ak.flatten(events[f]), dtype=np.float64) for f in FIELDS}
        bad = ~np.isfinite(cols["E"]) | ~np.isfinite(cols["Px"]) | ~np.isfinite(cols["Pz"])
        if bad.any():
            raise SimulationInputError(f"{source}: pile-up library has {bad.sum()} particles with non-finite momenta")
        counts = np.asarray(ak.num(events), dtype=np.int64)
        ev = np.repeat(np.arange(len(counts)), counts)
        charged = cols["Charge"] != 0
        self.ndf = np.bincount(ev[charged], minlength=len(counts))
        self.sumpt2 = np.bincount(ev[charged], weights=(cols["Px"] ** 2 + cols["Py"] ** 2)[charged], minlength=len(counts))
        if reach is not None:
            keep = reach(cols)
            cols = {f: v[keep] for f, v in cols.items()}
            counts = np.bincount(ev[keep], minlength=len(counts))
        self.n_particles_dropped = int(len(ev) - len(cols["E"]))
        # one row per particle: an overlay gathers whole rows
        self.table = np.ascontiguousarray(np.stack([cols[f] for f in FIELDS], axis=1))
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.n_events = len(events)

    def overlay(self, rng, n_pu, pcard):
        """Particles of sum(n_pu) random library events, at fresh vertices, rotated in phi.

        Returns (columns, event index of each particle, vertex number in its event (1..n),
        vertex z, vertex t, library event of each vertex).
        """
        total = int(n_pu.sum())
        z, t = draw_vertices(rng, total, pcard)
        pick = rng.integers(0, self.n_events, total)
        lo, hi = self.offsets[pick], self.offsets[pick + 1]
        sizes = hi - lo
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        take = np.repeat(lo - starts, sizes) + np.arange(sizes.sum())
        rows = self.table[take]
        cols = {f: rows[:, k] for k, f in enumerate(FIELDS)}
        ev = np.repeat(np.repeat(np.arange(len(n_pu)), n_pu), sizes)
        first = np.repeat(np.concatenate([[0], np.cumsum(n_pu)[:-1]]), n_pu)
        vtx_local = np.arange(total) - first + 1
        vtx = np.repeat(vtx_local, sizes)
        if pcard.get("random_phi_rotation", True):
            dphi = rng.uniform(-np.pi, np.pi, total)
            c, s = np.repeat(np.cos(dphi), sizes), np.repeat(np.sin(dphi), sizes)
            for a, b in (("Px", "Py"), ("X", "Y")):
                x, y = cols[a], cols[b]
                cols[a], cols[b] = c * x - s * y, s * x + c * y
        cols["Z"] = cols["Z"] + np.repeat(z, sizes)
        cols["T"] = cols["T"] + np.repeat(t, sizes)
        return cols, ev, vtx, z, t, pick
