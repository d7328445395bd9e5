"""Jet clustering and substructure with fastjet, as Delphes' FastJetFinder computes them.

All functions work on many events at once (fastjet's multi-event interface); jets are
returned pT-ordered per event, with the indices of their constituents in the input.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import awkward as ak
import numba
import numpy as np

from .nsubjettiness import nsubjettiness
from .softdrop import soft_drop_masses

# N-subjettiness runs on each jet's constituents as a single "event" clustered with C/A; a
# radius this large merges all of them into one jet before any beam distance matters.
_RECLUSTER_R = 10.0


@contextlib.contextmanager
def _quiet_stdout():
    """Swallow fastjet's one-time banner on stdout (it would corrupt piped CLI output)."""
    try:
        fd = os.dup(1)
    except OSError:  # no real stdout (e.g. captured): nothing to protect
        yield
        return
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(fd, 1)
            os.close(fd)


def _fastjet():
    with _quiet_stdout():
        import fastjet

        fastjet.ClusterSequence  # noqa: B018 (touch the module so the banner prints now)
    return fastjet


def p4_from_ptetaphim(pt, eta, phi, mass):
    """Cartesian (px, py, pz, E) in float64 from the stored float32 (pT, eta, phi, m).

    This is what Delphes handed to fastjet and what ROOT's PtEtaPhiMVector gives the reference
    macro. The energy is rebuilt from the mass: the stored float32 energy is consistent with it,
    but the invariant mass of a (groomed) jet of one or two hard particles cancels catastrophically
    when taken from float32 energies. Entries without transverse momentum (PUPPI candidates with
    vanishing weight keep E = m at rest; |eta| = 999.9 marks them) get pz = 0: they are clustered
    too (they shift jet energies and groomed masses), so they must not be dropped.
    """
    pt = np.asarray(pt, dtype=np.float64)
    eta = np.asarray(eta, dtype=np.float64)
    phi = np.asarray(phi, dtype=np.float64)
    mass = np.asarray(mass, dtype=np.float64)
    moving = pt > 0
    px = pt * np.cos(phi)
    py = pt * np.sin(phi)
    pz = np.where(moving, pt * np.sinh(np.where(moving, eta, 0.0)), 0.0)
    energy = np.sqrt(px * px + py * py + pz * pz + mass * mass)
    return px, py, pz, energy


def kinematics(px, py, pz, energy):
    """(pT, eta, phi, mass) of Cartesian four-vectors (numpy arrays)."""
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(pz / np.where(pt > 0, pt, 1.0)), np.sign(pz) * 999.9)
    phi = np.arctan2(py, px)
    m2 = energy * energy - (px * px + py * py + pz * pz)
    mass = np.sign(m2) * np.sqrt(np.abs(m2))
    return pt, eta, phi, mass


def offsets_of(counts) -> np.ndarray:
    """int64 offsets (length n + 1) of consecutive segments with ``counts`` entries."""
    off = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=off[1:])
    return off


def segment_index(starts, counts) -> np.ndarray:
    """Concatenated ``arange(starts[k], starts[k] + counts[k])`` over k (vectorised)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(np.asarray(starts, dtype=np.int64) - offsets_of(counts)[:-1], counts)
    return shift + np.arange(total, dtype=np.int64)


@dataclass
class Clustering:
    """Jets of many events, flat: jet arrays (pT-ordered within each event), ``jet_counts`` per
    event, and the constituents of jet k: ``cons[cons_off[k]:cons_off[k + 1]]`` (input indices)."""

    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    E: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mass: np.ndarray
    jet_counts: np.ndarray
    cons: np.ndarray
    cons_counts: np.ndarray

    @property
    def cons_off(self) -> np.ndarray:
        return offsets_of(self.cons_counts)

    def take(self, jets: np.ndarray, jet_counts: np.ndarray) -> "Clustering":
        """The jets at flat indices ``jets`` (in that order), ``jet_counts`` of them per event."""
        cons = self.cons[segment_index(self.cons_off[jets], self.cons_counts[jets])]
        return Clustering(*(getattr(self, k)[jets] for k in ("px", "py", "pz", "E", "pt", "eta", "phi", "mass")),
                          np.asarray(jet_counts, dtype=np.int64), cons, self.cons_counts[jets])

    def to_awkward(self, input_counts=None) -> tuple[ak.Array, ak.Array]:
        """``(jets, constituents)``: events * var * {px, ..., mass} and events * var(jets) * var(indices).

        With ``input_counts`` (input entries per event) the constituent indices count from the
        start of each event's input instead of the flat input.
        """
        fields = ("px", "py", "pz", "E", "pt", "eta", "phi", "mass")
        jets = ak.unflatten(ak.zip({k: getattr(self, k) for k in fields}), self.jet_counts)
        cons = self.cons
        if input_counts is not None:
            event_of_cons = np.repeat(np.repeat(np.arange(len(self.jet_counts)), self.jet_counts), self.cons_counts)
            cons = cons - offsets_of(input_counts)[:-1][event_of_cons]
        return jets, ak.unflatten(ak.unflatten(cons, self.cons_counts), self.jet_counts)


def _multi_event(fj, px, py, pz, energy, event_counts, jet_def):
    """fastjet's multi-event cluster sequences of flat four-vectors (``event_counts`` per event).

    The bindings' extension takes flat numpy arrays and event boundaries; its awkward front end
    (``fastjet.ClusterSequence``) only extracts those from the jagged array, so it is called
    directly where present (same C++ call, same jets), else through the front end.
    """
    interface = getattr(getattr(fj, "_ext", None), "interfacemulti", None)
    if interface is not None:
        off = offsets_of(event_counts)
        f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
        try:
            return interface(f64(px), f64(py), f64(pz), f64(energy), off[:-1].copy(), off[1:].copy(), jet_def)
        except TypeError:  # another signature in another release of the bindings
            pass
    return _FrontEnd(fj, px, py, pz, energy, event_counts, jet_def)


class _FrontEnd:
    """The same results through the bindings' public awkward interface."""

    def __init__(self, fj, px, py, pz, energy, event_counts, jet_def):
        particles = ak.unflatten(ak.zip({"px": px, "py": py, "pz": pz, "E": energy}), event_counts)
        self.seq = fj.ClusterSequence(particles, jet_def)

    def to_numpy(self, min_pt):
        jets = self.seq.inclusive_jets(min_pt)
        flat = ak.flatten(jets)
        return (*(np.asarray(flat[k]) for k in ("px", "py", "pz", "E")), offsets_of(ak.num(jets)))

    def to_numpy_with_constituents(self, min_pt):
        cidx = self.seq.constituent_index(min_pt)
        per_jet = ak.flatten(cidx, axis=1)
        return offsets_of(ak.num(per_jet)), np.asarray(ak.flatten(per_jet)), offsets_of(ak.num(cidx))


def cluster_flat(px, py, pz, energy, index, event_counts, radius: float, min_pt: float) -> Clustering:
    """Anti-kT jets of flat four-vectors, ``event_counts`` of them per event.

    ``index``: what the constituents are reported as (e.g. positions in a larger collection).
    """
    fj = _fastjet()
    n_events = len(event_counts)
    event_counts = np.asarray(event_counts, dtype=np.int64)
    index = np.asarray(index, dtype=np.int64)
    if n_events == 0 or event_counts.sum() == 0:
        z, zi = np.zeros(0), np.zeros(0, dtype=np.int64)
        return Clustering(z, z, z, z, z, z, z, z, np.zeros(n_events, dtype=np.int64), zi, zi)
    with _quiet_stdout():
        seq = _multi_event(fj, px, py, pz, energy, event_counts, fj.JetDefinition(fj.antikt_algorithm, radius))
        raw = seq.to_numpy(min_pt)  # jet px, py, pz, E; jet offsets per event
        cidx = seq.to_numpy_with_constituents(min_pt)  # constituent offsets per jet, indices; jet offsets
    jet_counts = np.diff(np.asarray(raw[-1], dtype=np.int64))
    jpx, jpy, jpz, je = (np.asarray(raw[k], dtype=np.float64) for k in range(4))
    cons_off = np.asarray(cidx[0], dtype=np.int64)
    cons_counts = np.diff(cons_off)
    if len(cons_counts) != len(jpx) or not np.array_equal(np.diff(np.asarray(cidx[-1], dtype=np.int64)), jet_counts):
        raise RuntimeError("fastjet returned inconsistent jets and constituents")
    jpt, jeta, jphi, jm = kinematics(jpx, jpy, jpz, je)
    # constituent indices refer to the event's list: map them back to the caller's indices
    local = np.asarray(cidx[1], dtype=np.int64)[cons_off[0]:cons_off[-1]]
    jet_event = np.repeat(np.arange(n_events), jet_counts)
    cons = index[local + np.repeat(offsets_of(event_counts)[:-1][jet_event], cons_counts)]
    result = Clustering(jpx, jpy, jpz, je, jpt, jeta, jphi, jm, jet_counts, cons, cons_counts)
    order = np.lexsort((-jpt, jet_event))  # pT-descending within each event, stable
    return result.take(order, jet_counts)


def cluster(pt, eta, phi, mass, mask, radius: float, min_pt: float):
    """Anti-kT jets of the particles selected by ``mask`` (all jagged events * particles).

    Returns ``(jets, constituents)``: jets events * var * {px, py, pz, E, pt, eta, phi, mass}
    pT-ordered, and constituents events * var(jets) * var(indices into the input particles).
    """
    counts = np.asarray(ak.num(pt), dtype=np.int64)
    mask = np.asarray(ak.flatten(mask), dtype=bool)
    index = np.flatnonzero(mask)
    local = index - np.repeat(offsets_of(counts)[:-1], counts)[index]
    event_counts = np.bincount(np.repeat(np.arange(len(counts)), counts)[index], minlength=len(counts))
    p4 = p4_from_ptetaphim(*(np.asarray(ak.flatten(a))[index] for a in (pt, eta, phi, mass)))
    return cluster_flat(*p4, local, event_counts, radius, min_pt).to_awkward()


def groomed_observables_flat(px, py, pz, energy, counts, radius: float, sd_beta: float, sd_zcut: float,
                             nsub_beta: float, nsub_max: int):
    """Soft-drop mass and tau_1..tau_N of jets given by flat constituent four-vectors (``counts``
    per jet, float64).

    Soft drop: C/A reclustering, beta ``sd_beta``, z_cut ``sd_zcut``, R0 = ``radius``
    (:mod:`jetclass2.ntuplizer.softdrop`). N-subjettiness (fastjet-contrib's, :mod:`jetclass2.ntuplizer.nsubjettiness`):
    one-pass kT axes, normalized measure, beta ``nsub_beta``, R0 = ``radius``; ``nsub_max = 0`` skips it.
    Returns ``(sdmass[n_jets], taus[n_jets, nsub_max])`` as float64 numpy arrays.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n_jets = len(counts)
    if n_jets == 0:
        return np.zeros(0), np.zeros((0, max(nsub_max, 0)))
    # Zero-momentum PUPPI candidates (E = m at rest) tie exactly in the kT seeding of the
    # N-subjettiness axes, so the result depends on the constituent order: Delphes' order is
    # reproduced by decreasing pT.
    order = np.lexsort((-np.hypot(px, py), np.repeat(np.arange(n_jets), counts)))
    px, py, pz, energy = (np.ascontiguousarray(a[order], dtype=np.float64) for a in (px, py, pz, energy))
    sdmass = soft_drop_masses(px, py, pz, energy, offsets_of(counts), float(sd_beta), float(sd_zcut), float(radius))
    if nsub_max <= 0:
        return sdmass, np.zeros((n_jets, 0))
    offsets = offsets_of(counts)
    if nsub_beta == 1.0:
        # fastjet-contrib's arithmetic in numba; jets where an exact tie would make fastjet's own
        # choice matter (zero-momentum constituents) are left to fastjet-contrib itself
        taus, done = nsubjettiness(px, py, pz, energy, offsets, int(nsub_max), float(nsub_beta), float(radius))
    else:  # the kernel follows the beta = 1 branch of the minimisation only
        taus, done = np.zeros((n_jets, nsub_max)), np.zeros(n_jets, dtype=bool)
    rest = np.flatnonzero(~done)
    if len(rest):
        idx = segment_index(offsets[rest], counts[rest])
        fj = _fastjet()
        cons = ak.unflatten(ak.zip({"px": px[idx], "py": py[idx], "pz": pz[idx], "E": energy[idx]}), counts[rest])
        with _quiet_stdout():
            # njettiness reads each "event's" input particles; the clustering itself is unused
            seq = fj.ClusterSequence(cons, fj.JetDefinition(fj.cambridge_algorithm, _RECLUSTER_R))
            taus[rest] = np.asarray(seq.njettiness(njets=list(range(1, nsub_max + 1)), beta=nsub_beta, R0=radius),
                                    dtype=np.float64).reshape(len(rest), nsub_max)
    return sdmass, taus


def groomed_observables(px, py, pz, energy, radius: float, sd_beta: float, sd_zcut: float,
                        nsub_beta: float, nsub_max: int):
    """:func:`groomed_observables_flat` of jagged (jets * constituents) four-vectors."""
    flat = [np.asarray(ak.flatten(a), dtype=np.float64) for a in (px, py, pz, energy)]
    return groomed_observables_flat(*flat, np.asarray(ak.num(px)), radius, sd_beta, sd_zcut, nsub_beta, nsub_max)


@numba.njit(cache=True)
def _near_axes(rap, phi, p_off, axis_rap, axis_phi, a_off, dmax):
    out = np.zeros(rap.shape[0], dtype=np.bool_)
    d2max = dmax * dmax
    for ev in range(p_off.shape[0] - 1):
        for i in range(p_off[ev], p_off[ev + 1]):
            for j in range(a_off[ev], a_off[ev + 1]):
                dphi = abs(phi[i] - axis_phi[j])
                if dphi > np.pi:
                    dphi = 2 * np.pi - dphi
                dy = rap[i] - axis_rap[j]
                if dy * dy + dphi * dphi < d2max:
                    out[i] = True
                    break
    return out


def near_axes(pt, eta, phi, mass, counts, axes: "Clustering", dmax: float) -> np.ndarray:
    """Flat mask of the particles (``counts`` per event) within ``dmax`` in (rapidity, azimuth)
    of one of their event's jet ``axes``; rapidities as fastjet computes them."""
    px, py, pz, energy = p4_from_ptetaphim(pt, eta, phi, mass)
    with np.errstate(divide="ignore", invalid="ignore"):
        rap = 0.5 * np.log((energy + pz) / (energy - pz))
        axis_rap = 0.5 * np.log((axes.E + axes.pz) / (axes.E - axes.pz))
    return _near_axes(rap, np.asarray(phi, dtype=np.float64), offsets_of(counts), axis_rap,
                      np.asarray(axes.phi, dtype=np.float64), offsets_of(axes.jet_counts), float(dmax))


@numba.njit(cache=True)
def _greedy_match(jet_eta, jet_phi, jet_counts, gen_eta, gen_phi, gen_counts, radius):
    out = np.full(len(jet_eta), -1, dtype=np.int64)
    j0 = 0
    g0 = 0
    for iev in range(len(jet_counts)):
        nj = jet_counts[iev]
        ng = gen_counts[iev]
        used = np.zeros(ng, dtype=np.bool_)
        for j in range(j0, j0 + nj):
            best = 999.0
            best_k = -1
            for k in range(ng):
                dphi = gen_phi[g0 + k] - jet_phi[j]
                while dphi >= np.pi:
                    dphi -= 2 * np.pi
                while dphi < -np.pi:
                    dphi += 2 * np.pi
                dr = np.sqrt((gen_eta[g0 + k] - jet_eta[j]) ** 2 + dphi * dphi)
                if dr < best and not used[k]:
                    best = dr
                    best_k = k
            if best < radius:
                used[best_k] = True
                out[j] = g0 + best_k
        j0 += nj
        g0 += ng
    return out


def match_jets(jet_eta, jet_phi, jet_counts, gen_eta, gen_phi, gen_counts, radius: float) -> np.ndarray:
    """For each reco jet (pT order), the closest not-yet-used GEN-jet of its event within ``radius``.

    Jets and GEN-jets are flat (``*_counts`` per event); returns flat GEN-jet indices (``-1``
    where none), one per reco jet.
    """
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    i64 = lambda a: np.ascontiguousarray(a, dtype=np.int64)  # noqa: E731
    return _greedy_match(f64(jet_eta), f64(jet_phi), i64(jet_counts), f64(gen_eta), f64(gen_phi), i64(gen_counts),
                         float(radius))
