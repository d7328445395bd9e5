"""Pile-up merging (Delphes' PileUpMerger): Poisson number of minimum-bias events per hard event,
each at its own vertex (z, t) and rotated by a random azimuth."""
from __future__ import annotations

import logging

import awkward as ak
import numba
import numpy as np

from .card import SimulationInputError, visible

log = logging.getLogger(__name__)

FIELDS = ("PID", "Charge", "Px", "Py", "Pz", "E", "X", "Y", "Z", "T")  # the order _gather relies on


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

    def overlay(self, rng, n_pu, pcard, head=None):
        """Particles of sum(n_pu) random library events, at fresh vertices, rotated in phi.

        ``head``: optional (columns, event index) of particles to put first (the hard scatter,
        vertex number 0), so that the batch's columns are filled in one pass.
        Returns (columns, event index of each particle, vertex number in its event (0 for the
        head, 1..n for pile-up), vertex z, vertex t, library event of each vertex, source) with
        source = {"n_head", "rows": library row of each pile-up particle, "vid": its vertex,
        "dphi": azimuth of each vertex} (what :func:`~.propagation.propagate_pileup` needs).
        """
        total = int(n_pu.sum())
        z, t = draw_vertices(rng, total, pcard)
        pick = rng.integers(0, self.n_events, total)
        vtx_ev = np.repeat(np.arange(len(n_pu)), n_pu)
        first = np.repeat(np.concatenate([[0], np.cumsum(n_pu)[:-1]]), n_pu)
        vtx_local = np.arange(total) - first + 1
        rotate = bool(pcard.get("random_phi_rotation", True))
        if rotate:
            dphi = rng.uniform(-np.pi, np.pi, total)
            c, s = np.cos(dphi), np.sin(dphi)
        else:
            dphi = c = s = np.zeros(total)
        n_head = 0 if head is None else len(head[1])
        n = n_head + int((self.offsets[pick + 1] - self.offsets[pick]).sum())
        out = np.empty((len(FIELDS), n))
        ev = np.empty(n, np.int64)
        vtx = np.zeros(n, np.int64)
        rows, vid = np.empty(n - n_head, np.int64), np.empty(n - n_head, np.int64)
        if head is not None:
            for k, f in enumerate(FIELDS):
                out[k, :n_head] = head[0][f]
            ev[:n_head] = head[1]
        _gather(self.table, self.offsets, pick, c, s, z, t, vtx_ev, vtx_local, rotate, n_head, out, ev, vtx, rows, vid)
        cols = {f: out[k] for k, f in enumerate(FIELDS)}
        return cols, ev, vtx, z, t, pick, {"n_head": n_head, "rows": rows, "vid": vid, "dphi": dphi}


@numba.njit(cache=True)
def _gather(table, offsets, pick, c, s, z, t, vtx_ev, vtx_local, rotate, start, out, ev, vtx, rows, vid):
    """The picked library events' particles into ``out[:, start:]`` (rows = FIELDS), rotated by
    (c, s) = (cos, sin) of each vertex's azimuth and moved to its (z, t): one pass over the
    particles instead of a gather and a dozen full-array operations."""
    k = start
    for v in range(len(pick)):
        for i in range(offsets[pick[v]], offsets[pick[v] + 1]):
            out[0, k] = table[i, 0]
            out[1, k] = table[i, 1]
            px, py, x, y = table[i, 2], table[i, 3], table[i, 6], table[i, 7]
            if rotate:
                out[2, k] = c[v] * px - s[v] * py
                out[3, k] = s[v] * px + c[v] * py
                out[6, k] = c[v] * x - s[v] * y
                out[7, k] = s[v] * x + c[v] * y
            else:
                out[2, k], out[3, k], out[6, k], out[7, k] = px, py, x, y
            out[4, k] = table[i, 4]
            out[5, k] = table[i, 5]
            out[8, k] = table[i, 8] + z[v]
            out[9, k] = table[i, 9] + t[v]
            ev[k] = vtx_ev[v]
            vtx[k] = vtx_local[v]
            rows[k - start] = i
            vid[k - start] = v
            k += 1
