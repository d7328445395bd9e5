"""Jet clustering and substructure with fastjet, as Delphes' FastJetFinder computes them.

All functions work on many events at once (fastjet's multi-event interface); jets are
returned pT-ordered per event, with the indices of their constituents in the input.
"""
from __future__ import annotations

import contextlib
import os

import awkward as ak
import numba
import numpy as np

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


def cluster(pt, eta, phi, mass, mask, radius: float, min_pt: float):
    """Anti-kT jets of the particles selected by ``mask`` (all jagged events * particles).

    Returns ``(jets, constituents)``: jets events * var * {px, py, pz, E, pt, eta, phi, mass}
    pT-ordered, and constituents events * var(jets) * var(indices into the input particles).
    """
    fj = _fastjet()
    local = ak.local_index(pt, axis=1)[mask]
    px, py, pz, energy = (ak.unflatten(a, ak.num(local)) for a in p4_from_ptetaphim(
        ak.flatten(pt[mask]), ak.flatten(eta[mask]), ak.flatten(phi[mask]), ak.flatten(mass[mask])))
    particles = ak.zip({"px": px, "py": py, "pz": pz, "E": energy})
    n_events = len(particles)
    if n_events == 0 or ak.sum(ak.num(particles)) == 0:
        empty = ak.Array([[]] * n_events)
        zeros = {k: ak.values_astype(empty, np.float64) for k in ("px", "py", "pz", "E", "pt", "eta", "phi", "mass")}
        return ak.zip(zeros), ak.Array([[]] * n_events)
    with _quiet_stdout():
        seq = fj.ClusterSequence(particles, fj.JetDefinition(fj.antikt_algorithm, radius))
        raw = seq.inclusive_jets(min_pt)
        cidx = seq.constituent_index(min_pt)
    counts = ak.num(raw)
    jpx, jpy, jpz, je = (np.asarray(ak.flatten(raw[k]), dtype=np.float64) for k in ("px", "py", "pz", "E"))
    jpt, jeta, jphi, jm = kinematics(jpx, jpy, jpz, je)
    jets = ak.unflatten(ak.zip({"px": jpx, "py": jpy, "pz": jpz, "E": je, "pt": jpt, "eta": jeta, "phi": jphi, "mass": jm}), counts)
    order = ak.argsort(jets.pt, axis=1, ascending=False, stable=True)
    # constituent indices refer to the masked list: map them back to the input positions
    n_masked = np.asarray(ak.num(local))
    start = np.concatenate([[0], np.cumsum(n_masked)[:-1]])
    jets_per_event = np.asarray(counts)
    per_jet = ak.flatten(cidx, axis=1)
    n_cons = np.asarray(ak.num(per_jet))
    flat = np.asarray(ak.flatten(per_jet), dtype=np.int64) + np.repeat(np.repeat(start, jets_per_event), n_cons)
    mapped = np.asarray(ak.flatten(local), dtype=np.int64)[flat]
    cidx = ak.unflatten(ak.unflatten(mapped, n_cons), jets_per_event)
    return jets[order], cidx[order]


def groomed_observables(px, py, pz, energy, radius: float, sd_beta: float, sd_zcut: float,
                        nsub_beta: float, nsub_max: int):
    """Soft-drop mass and tau_1..tau_N of jets given by jagged (jets * constituents) four-vectors.

    Soft drop: C/A reclustering, beta ``sd_beta``, z_cut ``sd_zcut``, R0 = ``radius``
    (:mod:`ntuplizer.softdrop`). N-subjettiness (fastjet-contrib): one-pass kT axes, normalized
    measure, beta ``nsub_beta``, R0 = ``radius``; ``nsub_max = 0`` skips it.
    Returns ``(sdmass[n_jets], taus[n_jets, nsub_max])`` as float64 numpy arrays.
    """
    n_jets = len(px)
    if n_jets == 0:
        return np.zeros(0), np.zeros((0, nsub_max))
    # Zero-momentum PUPPI candidates (E = m at rest) tie exactly in the kT seeding of the
    # N-subjettiness axes, so the result depends on the constituent order: Delphes' order is
    # reproduced by decreasing pT.
    order = ak.argsort(np.hypot(px, py), axis=1, ascending=False, stable=True)
    px, py, pz, energy = px[order], py[order], pz[order], energy[order]
    offsets = np.concatenate([[0], np.cumsum(np.asarray(ak.num(px)))]).astype(np.int64)
    flat = [np.ascontiguousarray(ak.flatten(a), dtype=np.float64) for a in (px, py, pz, energy)]
    sdmass = soft_drop_masses(*flat, offsets, float(sd_beta), float(sd_zcut), float(radius))
    if nsub_max <= 0:
        return sdmass, np.zeros((n_jets, 0))
    fj = _fastjet()
    cons = ak.zip({"px": px, "py": py, "pz": pz, "E": energy})
    with _quiet_stdout():
        seq = fj.ClusterSequence(cons, fj.JetDefinition(fj.cambridge_algorithm, _RECLUSTER_R))
        taus = seq.njettiness(njets=list(range(1, nsub_max + 1)), beta=nsub_beta, R0=radius)
    return sdmass, np.asarray(taus, dtype=np.float64).reshape(n_jets, nsub_max)


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


def match_genjets(jets: ak.Array, genjets: ak.Array, radius: float) -> np.ndarray:
    """For each reco jet (pT order), the closest not-yet-used GEN-jet within ``radius``.

    Returns flat indices into ``ak.flatten(genjets)`` (``-1`` where none), one per flat reco jet.
    """
    f64 = lambda a: np.asarray(ak.flatten(a), dtype=np.float64)  # noqa: E731
    return _greedy_match(f64(jets.eta), f64(jets.phi), np.asarray(ak.num(jets), dtype=np.int64),
                         f64(genjets.eta), f64(genjets.phi), np.asarray(ak.num(genjets), dtype=np.int64),
                         float(radius))
