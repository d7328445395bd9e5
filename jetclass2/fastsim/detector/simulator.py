"""A Delphes-compatible fast simulation of the JetClass-II CMS-like detector.

Chain per batch of events, each stage vectorised over the flattened particles of the batch:
pile-up merging (``pileup``) -> propagation in the solenoid (``propagation``) -> tracking
efficiency, pT and impact-parameter smearing (``tracking``) -> ECAL and HCAL towers with energy
flow (``calorimeter``) -> charged-hadron subtraction and PUPPI (``puppi``) -> PUPPI-weighted
``ParticleFlowCandidate``, ``Vertex`` and the hard-scatter ``Particle`` record.
Parameters come from the YAML card (``cards/delphes/fastsim_CMS_JetClassII.yaml``).
"""
from __future__ import annotations

import logging

import awkward as ak
import numpy as np

from jetclass2.delphes_tree import flat_columns, jagged_records

from .calorimeter import CaloGeometry, calorimeter, energy_fractions
from .card import C_MM_PER_S, SimulationInputError, load_card, visible
from .pileup import FIELDS, PileupLibrary, draw_vertices
from .propagation import MIN_PT2, pileup_geometry, propagate, propagate_pileup
from .puppi import NEUTRAL, PU_TRACK, PV_TRACK, puppi_weights
from .tracking import reconstruct_tracks

log = logging.getLogger(__name__)

MM_PER_M = 1e3
NULL_ETA = 999.9            # Delphes' eta (and CtgTheta) of a null momentum vector
NULL_CTG_THETA = 1e10
#: What ParticleFlowCandidate.Eta of a charged candidate holds (Delphes 3.5.0: the calorimeter hit).
CHARGED_ETA_CHOICES = ("calorimeter_hit", "momentum")


class Simulator:
    """Fast detector simulation with pile-up and PUPPI (contract 3 of docs/architecture.md).

    ``card``: dict or YAML path (None: default card); ``pileup_library``: parquet library of
    minimum-bias events (needed when the mean pile-up is > 0); ``seed``: seeds every random stream;
    ``charged_eta``: what ``ParticleFlowCandidate.Eta`` of charged candidates holds,
    ``"calorimeter_hit"`` (Delphes 3.5.0, the JetClass-II reference) or ``"momentum"`` (later
    Delphes); None: the card's ``output.charged_eta``. ``CtgTheta`` always holds the momentum direction.
    """

    def __init__(self, card=None, pileup_library=None, mean_pileup: float | None = None, seed: int = 1,
                 charged_eta: str | None = None):
        from jetclass2.generation.pileup_library import load_pileup_library

        self.card = load_card(card)
        self.charged_eta = charged_eta or self.card.get("output", {}).get("charged_eta", "calorimeter_hit")
        if self.charged_eta not in CHARGED_ETA_CHOICES:
            raise SimulationInputError(f"charged_eta must be one of {CHARGED_ETA_CHOICES}, got {self.charged_eta!r}")
        self.mean_pileup = float(self.card["pileup"]["mean"] if mean_pileup is None else mean_pileup)
        if not np.isfinite(self.mean_pileup) or self.mean_pileup < 0:
            raise SimulationInputError(f"mean pile-up must be a number >= 0, got {self.mean_pileup}")
        self.rng = np.random.default_rng(seed)
        self.pileup = None
        if self.mean_pileup > 0:
            if pileup_library is None:
                raise SimulationInputError("a pile-up library is needed for mean pile-up > 0")
            min_events = int(self.card["pileup"].get("min_library_events", 1))
            lib = load_pileup_library(pileup_library, min_events=1)
            self.pileup = PileupLibrary(lib, str(pileup_library), min_events, reach=_reach_filter(self.card))
            tab = {f: self.pileup.table[:, k] for k, f in enumerate(FIELDS)}
            self.pileup_geometry = pileup_geometry(tab["Px"], tab["Py"], tab["Pz"], tab["X"], tab["Y"], tab["Charge"],
                                                   self.card["magnetic_field"])
            if self.pileup.n_events < 10 * self.mean_pileup:
                log.warning("pile-up library %s has only %d events for mean pile-up %.0f: overlays repeat often",
                            pileup_library, self.pileup.n_events, self.mean_pileup)
        self.ecal = CaloGeometry(self.card["ecal"])
        self.hcal = CaloGeometry(self.card["hcal"])
        self.n_events = 0
        self.n_without_final_state = 0

    # ------------------------------------------------------------------------------------------
    def process(self, particles: ak.Array) -> dict[str, ak.Array]:
        """Simulate a batch of generator records; returns the Delphes collections of the batch.

        Events without visible final-state particles are kept (they yield no candidates) and
        counted in ``n_without_final_state``.
        """
        counts_all, flat = _check_input(particles)
        n_ev = len(particles)
        rng, card = self.rng, self.card
        pcard = card["pileup"]
        z_pv, t_pv = draw_vertices(rng, n_ev, pcard)
        n_pu = rng.poisson(self.mean_pileup, n_ev) if self.pileup is not None else np.zeros(n_ev, np.int64)

        keep = (flat["Status"] == 1) & visible(flat["PID"])
        h_counts = np.bincount(np.repeat(np.arange(n_ev), counts_all)[keep], minlength=n_ev)
        empty = int(np.sum(h_counts == 0))
        if empty:
            self.n_without_final_state += empty
            log.warning("%d event(s) of this batch have no visible final-state particle (kept, no candidates)", empty)
        cols = {f: flat[f][keep].astype(np.float64) for f in FIELDS}
        cols["Z"] = cols["Z"] + np.repeat(z_pv, h_counts)
        cols["T"] = cols["T"] + np.repeat(t_pv, h_counts)
        ev = np.repeat(np.arange(n_ev), h_counts)
        vtx = np.zeros(len(ev), np.int64)
        charged = cols["Charge"] != 0
        hard_ndf = np.bincount(ev[charged], minlength=n_ev)
        hard_sumpt2 = np.bincount(ev[charged], weights=(cols["Px"] ** 2 + cols["Py"] ** 2)[charged], minlength=n_ev)
        pu_z = pu_t = np.zeros(0)
        pick = np.zeros(0, np.int64)
        src = None
        if self.pileup is not None and n_pu.sum():
            # hard-scatter and pile-up particles side by side (no stage needs them in event order)
            cols, ev, vtx, pu_z, pu_t, pick, src = self.pileup.overlay(rng, n_pu, pcard, head=(cols, ev))
            src["z"] = pu_z

        cands = self._reconstruct(cols, ev, vtx, n_ev, z_pv, n_pu, src)
        vertices = self._vertices(n_ev, n_pu, z_pv, t_pv, pu_z, pu_t, hard_ndf, hard_sumpt2, pick)
        record = _shift_record(counts_all, flat, z_pv, t_pv)
        self.n_events += n_ev
        return {"Particle": record, "ParticleFlowCandidate": cands, "Vertex": vertices}

    # ------------------------------------------------------------------------------------------
    def _reconstruct(self, cols, ev, vtx, n_ev, z_pv, n_pu, src=None):
        """Particles of a batch -> PUPPI-weighted candidates: tracks and towers, charged-hadron
        subtraction, PUPPI weights, then the ``ParticleFlowCandidate`` collection."""
        t_idx, trk, prop = self._tracks(cols, vtx, src)
        tw = self._towers(cols, ev, t_idx, trk, prop)
        pu = self.card["puppi"]
        t_ev = ev[t_idx]
        # charged-hadron subtraction (TrackPileUpSubtractor): tracks of pile-up particles farther
        # than the resolution from the primary vertex in z are reco pile-up. Delphes compares
        # the z of the track's calorimeter hit (the Position its candidate carries), which lies
        # metres from the vertex: in effect every pile-up track is removed.
        pv_res_mm = self.card["tracking"]["pv_z_resolution_m"] * MM_PER_M
        z_trk = prop["z_hit"][t_idx] if self.card["tracking"].get("chs_z", "calorimeter_hit") == "calorimeter_hit" \
            else cols["Z"][t_idx]
        reco_pu = (vtx[t_idx] > 0) & (np.abs(z_trk - z_pv[t_ev]) > pv_res_mm)
        lepton = np.isin(np.abs(cols["PID"][t_idx]).astype(np.int64), pu["lepton_pids"])
        # Delphes' RunPUPPI hands PUPPI a fraction of the generated vertices (its vertex efficiency)
        n_pv = np.floor(pu["reconstructed_vertex_fraction"] * (1 + n_pu)).astype(np.float64)
        w_hadr, w_tw = _puppi_weights(pu, trk, t_ev, ~lepton, reco_pu, tw, n_ev, n_pv)
        w_trk = np.zeros(len(t_idx))
        w_trk[~lepton] = w_hadr
        w_trk[lepton] = 1.0  # leptons bypass PUPPI and are added back
        w_trk[reco_pu] = 0.0  # RecoPuFilter after the lepton add-back
        return _candidates(cols, t_idx, t_ev, trk, w_trk, tw, w_tw, n_ev, ~lepton, self.charged_eta)

    def _tracks(self, cols, vtx, src=None):
        """Propagation to the calorimeters and track reconstruction. ``src``: where the pile-up
        particles (after the first ``n_head``) come from in the library (``PileupLibrary.overlay``):
        they are propagated from the library's precomputed geometry.

        Returns (track particle indices, track columns, propagation result per particle)."""
        card = self.card
        fcard = card["magnetic_field"]
        if src is None:
            prop = propagate(cols["Px"], cols["Py"], cols["Pz"], cols["X"], cols["Y"], cols["Z"], cols["Charge"], fcard)
        else:
            n, h = len(vtx), src["n_head"]
            inside, out = np.empty(n, np.bool_), np.empty((6, n))
            propagate(*(cols[f][:h] for f in ("Px", "Py", "Pz", "X", "Y", "Z", "Charge")), fcard, inside[:h], out[:, :h])
            propagate_pileup(self.pileup_geometry, self.pileup.table, src["rows"], src["vid"], src["dphi"], src["z"],
                             fcard, inside[h:], out[:, h:])
            prop = {"inside": inside, "eta": out[0], "phi": out[1], "z_hit": out[2], "phi_d": out[3], "d0": out[4],
                    "dz": out[5]}
        t_idx, trk = reconstruct_tracks(self.rng, cols, card["tracking"], prop, is_pu=vtx > 0)
        return t_idx, trk, prop

    def _towers(self, cols, ev, t_idx, trk, prop):
        """ECAL then HCAL towers with energy flow (rescaling ``trk`` in place); the neutral towers
        within the PUPPI acceptance, with their pT."""
        card = self.card
        f_ecal, f_hcal = energy_fractions(cols["PID"], card["energy_fractions"])
        calo_res = trk["res"]
        towers = []
        for geo, ccard, is_ecal, frac in ((self.ecal, card["ecal"], True, f_ecal), (self.hcal, card["hcal"], False, f_hcal)):
            tw, scale = calorimeter(self.rng, geo, ccard, is_ecal, ev, prop["eta"], prop["phi"], prop["inside"],
                                    cols["E"], frac, t_idx, trk["E"], calo_res)
            towers.append(tw)
            # tracks rescaled by the calorimeter measurement keep their direction and mass
            trk["PT"] = trk["PT"] * scale
            trk["E"] = np.sqrt((trk["PT"] * np.cosh(trk["Eta"])) ** 2 + trk["Mass"] ** 2)
        tw = {k: np.concatenate([t[k] for t in towers]) for k in towers[0]}
        central = np.abs(tw["Eta"]) <= card["puppi"].get("neutral_max_abs_eta", np.inf)
        tw = {k: v[central] for k, v in tw.items()}
        tw["PT"] = tw["E"] / np.cosh(tw["Eta"])
        return tw


    def _vertices(self, n_ev, n_pu, z_pv, t_pv, pu_z, pu_t, hard_ndf, hard_sumpt2, pick):
        """The ``Vertex`` collection: the hard-scatter vertex, then the pile-up vertices, with the
        generator-level charged multiplicity (NDF) and sum pT^2 of each interaction."""
        counts = 1 + n_pu
        n = int(counts.sum())
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        is_pu = np.ones(n, bool)
        is_pu[starts] = False
        z, t, ndf, sumpt2 = np.empty(n), np.empty(n), np.empty(n, np.int64), np.empty(n)
        z[starts], t[starts], ndf[starts], sumpt2[starts] = z_pv, t_pv, hard_ndf, hard_sumpt2
        z[is_pu], t[is_pu] = pu_z, pu_t
        if self.pileup is not None:
            ndf[is_pu], sumpt2[is_pu] = self.pileup.ndf[pick], self.pileup.sumpt2[pick]
        cols_v = {"T": t, "X": np.zeros(n), "Y": np.zeros(n), "Z": z, "ErrorT": np.zeros(n), "ErrorX": np.zeros(n),
                  "ErrorY": np.zeros(n), "ErrorZ": np.zeros(n),
                  "Index": (np.arange(n) - np.repeat(starts, counts)).astype(np.int32),
                  "NDF": ndf.astype(np.int32), "Sigma": np.zeros(n), "SumPT2": sumpt2}
        return jagged_records(cols_v, counts)


def _reach_filter(card):
    """Which pile-up library particles can leave a trace in the detector (applied once, when the
    library is loaded): produced within the tracker radius (Delphes drops the others), with
    pT^2 >= 1e-9, and not so far forward that the only calorimeter cells they can hit lie
    wholly beyond the neutral acceptance (``puppi.neutral_max_abs_eta``; no track reaches there).

    Bound: a particle produced within R0 = 10 mm of the beam line and |z| <= z_max (the vertex
    window) reaches the end cap |z| = L within a radius R0 + (L + z_max) / sinh|eta|; it hits
    only cells beyond |eta_cell| (the first cell edge past the acceptance) if that radius is
    below L / sinh(eta_cell). Dropping such particles changes no output.
    """
    fcard = card["magnetic_field"]
    radius, half = fcard["radius_m"] * 1e3, fcard["half_length_m"] * 1e3
    z_max = card["pileup"]["z_max_m"] * 1e3
    acceptance = float(card["puppi"].get("neutral_max_abs_eta", np.inf))
    edges = np.abs(np.concatenate([CaloGeometry(card[c]).edges for c in ("ecal", "hcal")]))
    beyond = edges[edges >= acceptance]
    eta_keep = np.inf
    r0 = 10.0
    if len(beyond) and beyond.min() > card["tracking"]["max_abs_eta"]:
        room = half / np.sinh(beyond.min()) - r0
        if room > 0:
            eta_keep = np.arcsinh((half + z_max) / room)

    def reach(cols):
        r = np.hypot(cols["X"], cols["Y"])
        pt2 = cols["Px"] ** 2 + cols["Py"] ** 2
        keep = (r <= radius) & (pt2 >= MIN_PT2)
        if np.isfinite(eta_keep):
            with np.errstate(divide="ignore", invalid="ignore"):
                eta = np.arcsinh(cols["Pz"] / np.sqrt(pt2))
            keep &= ~((np.abs(eta) > eta_keep) & (r < r0))
        return keep

    return reach


def _puppi_weights(pcard, trk, t_ev, hadr, reco_pu, tw, n_ev, n_pv):
    """PUPPI weights of the non-lepton tracks (``hadr``) and of the neutral towers."""
    n_tw = len(tw["E"])
    p_ev = np.concatenate([t_ev[hadr], tw["ev"]])
    p_kind = np.concatenate([np.where(reco_pu[hadr], PU_TRACK, PV_TRACK),
                             np.full(n_tw, NEUTRAL, np.int64)])
    # PUPPI builds its particles from (pT, y = eta, phi, m): a massive track's pseudorapidity
    # grows, which moves some tracks near |eta| = 2.5 into the forward PUPPI region
    h_pt, h_m = trk["PT"][hadr], trk["Mass"][hadr]
    with np.errstate(divide="ignore", invalid="ignore"):
        h_eta = np.where(h_pt > 0, np.arcsinh(np.sqrt(1 + (h_m / np.where(h_pt > 0, h_pt, 1)) ** 2)
                                               * np.sinh(trk["Eta"][hadr])), NULL_ETA)
    p_eta = np.concatenate([h_eta, tw["Eta"]])
    p_rap = np.concatenate([trk["Eta"][hadr], tw["Eta"]])
    p_phi = np.concatenate([trk["Phi"][hadr], tw["Phi"]])
    p_pt = np.concatenate([trk["PT"][hadr], tw["PT"]])
    order = np.argsort(p_ev, kind="stable")
    w_sorted = puppi_weights(pcard, p_ev[order], p_eta[order], p_phi[order], p_pt[order], p_kind[order], n_ev, n_pv,
                             rap=p_rap[order])
    w = np.empty_like(w_sorted)
    w[order] = w_sorted
    n_h = int(hadr.sum())
    return w[:n_h], w[n_h:]


def _candidates(cols, t_idx, t_ev, trk, w_trk, tw, w_tw, n_ev, via_puppi, charged_eta="calorimeter_hit"):
    """The ``ParticleFlowCandidate`` collection: tracks and towers of positive weight, momenta
    scaled by it, pT-ordered per event.

    Delphes' RunPUPPI replaces the momentum of every candidate it weights (``via_puppi``: the
    tracks other than leptons, and the towers) by its PUPPI particle times the weight, and that
    particle was built from (pT, rapidity = eta, phi, m): a massive track comes out with
    pz = sqrt(pT^2 + m^2) sinh(eta), E = sqrt(pT^2 + m^2) cosh(eta), slightly more forward than
    it went in, and its mass scaled by the weight. ``Eta`` is what Delphes writes there: the eta
    of the candidate's position, which for a track in Delphes 3.5.0 is its calorimeter hit
    (``charged_eta="calorimeter_hit"``; the published JetClass-II constituents were built from
    it) and for a tower its (smeared) centre; ``CtgTheta`` holds the momentum direction, which
    the jets are clustered from.
    """
    kt, kn = w_trk > 0, w_tw > 0
    nt, nn = int(kt.sum()), int(kn.sum())
    zeros_n = np.zeros(nn)
    wt, wn = w_trk[kt], w_tw[kn]
    pt, eta, m = trk["PT"][kt], trk["Eta"][kt], trk["Mass"][kt]
    rebuilt = via_puppi[kt]
    m_t = np.sqrt(pt * pt + m * m)
    sinh = np.sinh(eta)
    pz_t = np.where(rebuilt, m_t * sinh, pt * sinh) * wt
    e_t = np.where(rebuilt, m_t * np.cosh(eta) * wt, trk["E"][kt])
    c = {
        "ev": np.concatenate([t_ev[kt], tw["ev"][kn]]),
        "PID": np.concatenate([cols["PID"][t_idx][kt], tw["PID"][kn]]).astype(np.int32),
        "Charge": np.concatenate([cols["Charge"][t_idx][kt], zeros_n]).astype(np.int32),
        "PT": np.concatenate([pt * wt, tw["PT"][kn] * wn]),
        "Phi": np.concatenate([trk["Phi"][kt], tw["Phi"][kn]]),
        "Mass": np.concatenate([np.where(rebuilt, m * wt, m), zeros_n]),
        "E": np.concatenate([e_t, tw["E"][kn] * wn]),
        "T": np.concatenate([trk["T"][kt], zeros_n]),
        # Delphes keeps the unweighted e-flow energies in Eem / Ehad
        "Eem": np.concatenate([np.zeros(nt), tw["Eem"][kn]]),
        "Ehad": np.concatenate([np.zeros(nt), tw["Ehad"][kn]]),
    }
    pz = np.concatenate([pz_t, tw["PT"][kn] * wn * np.sinh(tw["Eta"][kn])])
    for f in ("D0", "DZ", "ErrorD0", "ErrorDZ", "X", "Y", "Z"):
        c[f] = np.concatenate([trk[f][kt], zeros_n])
    c["ErrorPT"] = np.concatenate([trk["ErrorPT"][kt], zeros_n])
    c["VertexIndex"] = np.full(len(c["ev"]), -1, np.int32)  # as Delphes writes it
    c["P"] = np.hypot(c["PT"], pz)
    null = c["PT"] <= 0
    with np.errstate(divide="ignore", invalid="ignore"):
        c["CtgTheta"] = np.where(null, NULL_CTG_THETA, pz / c["PT"])
    c["ErrorP"] = c["ErrorPT"] * c["P"] / np.where(null, 1.0, c["PT"])
    if charged_eta == "calorimeter_hit":
        c["Eta"] = np.concatenate([trk["HitEta"][kt], tw["Eta"][kn]])
    else:  # the momentum direction (a tower's is its centre); a null vector gets Delphes' +-999.9
        c["Eta"] = np.where(null, NULL_ETA, np.arcsinh(np.where(null, 0.0, c["CtgTheta"])))
        c["Eta"][nt:] = tw["Eta"][kn]
    # tracks rescaled to zero by an empty tower: the azimuth of a null transverse vector
    c["Phi"][null] = 0.0
    order = np.lexsort((-c["PT"], c["ev"]))
    counts = np.bincount(c["ev"], minlength=n_ev)
    return jagged_records({k: v[order] for k, v in c.items() if k != "ev"}, counts)


def _shift_record(counts, flat, z_pv, t_pv):
    """The generator record (flat columns) moved to the event's primary vertex (as Delphes'
    PileUpMerger does)."""
    rec = dict(flat)
    rec["Z"] = rec["Z"] + np.repeat(z_pv, counts).astype(rec["Z"].dtype)
    rec["T"] = rec["T"] + np.repeat(t_pv, counts).astype(rec["T"].dtype)
    return jagged_records(rec, counts)


def recentre(particles: ak.Array, z0, t0) -> ak.Array:
    """Move a record produced at vertex (z0 [mm], t0 [s]) per event back to the origin.

    Generator records read from Delphes files were already shifted to their primary vertex;
    re-simulating them must not shift them twice.
    """
    z0 = np.asarray(z0, dtype=np.float64)
    t0 = np.asarray(t0, dtype=np.float64)
    out = ak.with_field(particles, particles.Z - z0, "Z")
    return ak.with_field(out, particles.T - t0, "T")


def _check_input(particles: ak.Array) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Refuse a record without the needed fields or with non-finite values; returns its
    particles per event and flat columns."""
    fields = getattr(particles, "fields", None) or []
    missing = [f for f in ("PID", "Status", "Charge", "Px", "Py", "Pz", "E", "X", "Y", "Z", "T") if f not in fields]
    if missing:
        raise SimulationInputError(f"generator record lacks fields {missing}")
    counts, flat = flat_columns(particles)
    for f in ("Px", "Py", "Pz", "E", "X", "Y", "Z", "T"):
        if not np.all(np.isfinite(flat[f])):
            raise SimulationInputError(f"generator record has non-finite {f} values ({np.sum(~np.isfinite(flat[f]))} particles)")
    return counts, flat


__all__ = ["Simulator", "recentre", "C_MM_PER_S"]
