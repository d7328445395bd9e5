"""A Delphes-compatible fast simulation of the JetClass-II CMS-like detector.

Chain per batch of events (all steps vectorised over the flattened particles of the batch):
pile-up merging -> tracker acceptance, efficiency, momentum and impact-parameter smearing
-> ECAL/HCAL towers of the neutral (and untracked charged) particles -> charged-hadron
subtraction of pile-up tracks -> PUPPI weights of the neutral candidates -> PUPPI-weighted
``ParticleFlowCandidate``, ``Vertex`` and the hard-scatter ``Particle`` record.
Parameters come from the YAML card (``cards/delphes/fastsim_CMS_JetClassII.yaml``).
"""
from __future__ import annotations

import logging
from pathlib import Path

import awkward as ak
import numba
import numpy as np
import yaml
from scipy.stats import chi2

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CARD = REPO / "cards" / "delphes" / "fastsim_CMS_JetClassII.yaml"
NEUTRINOS = (12, 14, 16)
C_MM_PER_S = 2.99792458e11


class SimulationInputError(ValueError):
    """Generator input the simulation cannot process (named problem, never a numpy crash)."""


def load_card(card=None) -> dict:
    if isinstance(card, dict):
        return card
    path = Path(card) if card else DEFAULT_CARD
    with open(path) as f:
        return yaml.safe_load(f)


def _bin_lookup(values, edges, table):
    """table[i] for the first edge >= value (values beyond the last edge get the last row)."""
    idx = np.minimum(np.searchsorted(np.asarray(edges), values, side="left"), len(edges) - 1)
    return np.asarray(table)[idx]


@numba.njit(cache=True)
def _alpha(ev_off, eta, phi, pt, is_ref, cone):
    """PUPPI local shape: log(sum over reference particles j in the cone of (pT_j/dR_ij)^2)."""
    out = np.full(len(eta), -np.inf)
    for e in range(len(ev_off) - 1):
        lo, hi = ev_off[e], ev_off[e + 1]
        for i in range(lo, hi):
            s = 0.0
            for j in range(lo, hi):
                if j == i or not is_ref[j]:
                    continue
                dphi = abs(phi[i] - phi[j])
                if dphi > np.pi:
                    dphi = 2 * np.pi - dphi
                dr2 = (eta[i] - eta[j]) ** 2 + dphi * dphi
                if dr2 < cone * cone and dr2 > 1e-8:
                    s += pt[j] * pt[j] / dr2
            if s > 0:
                out[i] = np.log(s)
    return out


class Simulator:
    """Fast detector simulation with pile-up and PUPPI (contract 3 of docs/architecture.md)."""

    def __init__(self, card=None, pileup_library=None, mean_pileup: float | None = None, seed: int = 1):
        from fastsim.generation.pileup import load_pileup_library

        self.card = load_card(card)
        self.mean_pileup = float(self.card["pileup"]["mean"] if mean_pileup is None else mean_pileup)
        if self.mean_pileup < 0:
            raise SimulationInputError(f"mean pile-up must be >= 0, got {self.mean_pileup}")
        self.rng = np.random.default_rng(seed)
        self.pileup = None
        if self.mean_pileup > 0:
            if pileup_library is None:
                raise SimulationInputError("a pile-up library is needed for mean pile-up > 0")
            lib = load_pileup_library(pileup_library, min_events=1)
            n_lib = len(lib)
            if n_lib < 10 * self.mean_pileup:
                log.warning("pile-up library %s has only %d events for mean pile-up %.0f: events will repeat often",
                            pileup_library, n_lib, self.mean_pileup)
            lib = lib[(lib.Status == 1) & _visible(lib.PID)]
            self.pileup = {f: np.asarray(ak.flatten(lib[f]), dtype=np.float64) for f in ("PID", "Charge", "Px", "Py", "Pz", "E", "X", "Y", "Z", "T")}
            self.pileup_offsets = np.concatenate([[0], np.cumsum(np.asarray(ak.num(lib)))])
        self.n_skipped = 0

    # ------------------------------------------------------------------------------------------
    def process(self, particles: ak.Array) -> dict[str, ak.Array]:
        """Simulate a batch of generator records; returns the Delphes collections of the batch."""
        _check_input(particles)
        n_ev = len(particles)
        rng = self.rng
        card = self.card
        z_pv = rng.normal(0, card["pileup"]["z_sigma_m"] * 1e3, n_ev)  # mm
        t_pv = rng.normal(0, card["pileup"]["t_sigma_s"], n_ev)
        n_pu = rng.poisson(self.mean_pileup, n_ev) if self.pileup is not None else np.zeros(n_ev, int)

        # hard-scatter stable visible particles, shifted to the primary vertex
        hard = particles[(particles.Status == 1) & _visible(particles.PID)]
        h_counts = np.asarray(ak.num(hard))
        cols = {f: np.asarray(ak.flatten(hard[f]), dtype=np.float64) for f in ("PID", "Charge", "Px", "Py", "Pz", "E", "X", "Y", "Z", "T")}
        cols["Z"] = cols["Z"] + np.repeat(z_pv, h_counts)
        cols["T"] = cols["T"] + np.repeat(t_pv, h_counts)
        ev = np.repeat(np.arange(n_ev), h_counts)
        vtx = np.zeros(len(ev), dtype=np.int64)
        # pile-up events: each with its own vertex
        pu_z = rng.normal(0, card["pileup"]["z_sigma_m"] * 1e3, n_pu.sum())
        pu_t = rng.normal(0, card["pileup"]["t_sigma_s"], n_pu.sum())
        if n_pu.sum():
            pick = rng.integers(0, len(self.pileup_offsets) - 1, n_pu.sum())
            lo, hi = self.pileup_offsets[pick], self.pileup_offsets[pick + 1]
            sizes = hi - lo
            take = np.repeat(lo - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes) + np.arange(sizes.sum())
            pu_ev = np.repeat(np.repeat(np.arange(n_ev), n_pu), sizes)
            pu_vtx_local = np.repeat(np.concatenate([np.arange(1, k + 1) for k in n_pu]) if n_pu.sum() else np.zeros(0, int), sizes)
            pu_cols = {f: v[take] for f, v in self.pileup.items()}
            pu_cols["Z"] = pu_cols["Z"] + np.repeat(pu_z, sizes)
            pu_cols["T"] = pu_cols["T"] + np.repeat(pu_t, sizes)
            cols = {f: np.concatenate([cols[f], pu_cols[f]]) for f in cols}
            ev = np.concatenate([ev, pu_ev])
            vtx = np.concatenate([vtx, pu_vtx_local])
        order = np.argsort(ev, kind="stable")
        cols = {f: v[order] for f, v in cols.items()}
        ev, vtx = ev[order], vtx[order]

        tracks = self._tracks(cols, ev, vtx)
        towers = self._towers(cols, ev, tracks["tracked_mask"])
        cands = self._puppi(tracks, towers, n_ev, 1 + n_pu)

        vertices = self._vertices(n_ev, n_pu, z_pv, t_pv, pu_z, pu_t)
        record = self._hard_record(particles, z_pv, t_pv)
        return {"Particle": record, "ParticleFlowCandidate": cands, "Vertex": vertices}

    # ------------------------------------------------------------------------------------------
    def _tracks(self, c, ev, vtx):
        card = self.card["tracking"]
        rng = self.rng
        pt = np.hypot(c["Px"], c["Py"])
        with np.errstate(divide="ignore", invalid="ignore"):
            eta = np.arcsinh(np.where(pt > 0, c["Pz"] / np.where(pt > 0, pt, 1), 0))
        charged = c["Charge"] != 0
        in_acc = charged & (np.abs(eta) <= card["max_abs_eta"]) & (pt > card["efficiency"]["pt_edges"][0])
        # particles whose helix never reaches the calorimeter radius still leave a track
        eff_rows = _bin_lookup(np.abs(eta), card["efficiency"]["eta_edges"], card["efficiency"]["values"])
        pt_col = np.clip(np.searchsorted(card["efficiency"]["pt_edges"], pt, side="right") - 1, 0, None)
        eff = np.take_along_axis(eff_rows, pt_col[:, None], axis=1)[:, 0] if len(pt) else np.zeros(0)
        tracked = in_acc & (rng.random(len(pt)) < eff)
        i = np.flatnonzero(tracked)
        a = _bin_lookup(np.abs(eta[i]), card["momentum_resolution"]["eta_edges"], card["momentum_resolution"]["a"])
        b = _bin_lookup(np.abs(eta[i]), card["momentum_resolution"]["eta_edges"], card["momentum_resolution"]["b"])
        sigma = np.hypot(a, b * pt[i])
        scale = np.clip(1 + sigma * rng.standard_normal(len(i)), 0.05, None)
        # impact parameters from the production point, straight-line extrapolation
        px, py, pz = c["Px"][i], c["Py"][i], c["Pz"][i]
        tpt = pt[i]
        d0_true = (c["X"][i] * py - c["Y"][i] * px) / tpt
        dz_true = c["Z"][i] - (c["X"][i] * px + c["Y"][i] * py) / tpt * pz / tpt
        r0, r1 = card["d0_resolution_mm"]["const"], card["d0_resolution_mm"]["slope"]
        e_d0 = np.hypot(r0, r1 / tpt)
        e_dz = np.hypot(card["dz_resolution_mm"]["const"], card["dz_resolution_mm"]["slope"] / tpt)
        out = {
            "ev": ev[i], "vtx": vtx[i], "PID": c["PID"][i].astype(np.int32), "Charge": c["Charge"][i].astype(np.int32),
            "Px": px * scale, "Py": py * scale, "Pz": pz * scale,
            "mass": np.sqrt(np.maximum(c["E"][i] ** 2 - (px * px + py * py + pz * pz), 0)),
            "D0": d0_true + e_d0 * rng.standard_normal(len(i)), "DZ": dz_true + e_dz * rng.standard_normal(len(i)),
            "ErrorD0": e_d0, "ErrorDZ": e_dz, "ErrorPT": sigma * tpt * scale,
            "X": c["X"][i], "Y": c["Y"][i], "Z": c["Z"][i], "T": c["T"][i],
        }
        out["E"] = np.sqrt(out["Px"] ** 2 + out["Py"] ** 2 + out["Pz"] ** 2 + out["mass"] ** 2)
        out["tracked_mask"] = tracked
        return out

    def _towers(self, c, ev, tracked):
        rng = self.rng
        fcard = self.card["magnetic_field"]
        pid = np.abs(c["PID"]).astype(np.int64)
        deposit = ~tracked & (pid != 13)  # tracked particles are represented by their tracks
        pt = np.hypot(c["Px"], c["Py"])
        deposit &= pt > 0
        i = np.flatnonzero(deposit)
        pt_i = pt[i]
        eta = np.arcsinh(c["Pz"][i] / pt_i)
        phi = np.arctan2(c["Py"][i], c["Px"][i])
        q = c["Charge"][i]
        # bending in the solenoid: charged particles hit the calorimeter at a rotated phi
        arg = 0.3 * fcard["bz_tesla"] * fcard["radius_m"] / (2 * pt_i)
        reaches = (q == 0) | (arg < 1)
        phi = phi - q * np.arcsin(np.clip(arg, 0, 1)) * (q != 0)
        em = (pid[i] == 11) | (pid[i] == 22)
        towers = []
        for is_em, sel in ((True, em & reaches), (False, ~em & reaches)):
            cal = self.card["ecal" if is_em else "hcal"]
            s = np.flatnonzero(sel & (np.abs(eta) <= cal["max_abs_eta"]))
            d_eta, d_phi = cal["eta_cell"], np.deg2rad(cal["phi_cell_deg"])
            ieta = np.floor(eta[s] / d_eta).astype(np.int64)
            iphi = np.floor((phi[s] + np.pi) / d_phi).astype(np.int64)
            key = (ev[i][s] * 100_000 + (ieta + 5000)) * 1000 + iphi
            uk, inv = np.unique(key, return_inverse=True)
            energy = np.bincount(inv, weights=c["E"][i][s], minlength=len(uk))
            t_ev = uk // 100_000_000
            t_eta = ((uk // 1000) % 100_000 - 5000 + rng.random(len(uk))) * d_eta
            t_phi = (uk % 1000 + rng.random(len(uk))) * d_phi - np.pi
            r = cal["resolution"]
            sigma = np.sqrt((r["c"] * energy) ** 2 + r["s"] ** 2 * energy + r["n"] ** 2)
            if is_em:
                sigma = sigma * np.where(np.abs(t_eta) <= 1.5, 1 + r["barrel_eta2"] * t_eta ** 2, r["endcap_factor"])
            e_meas = energy + sigma * rng.standard_normal(len(uk))
            keep = (e_meas > cal["energy_min"]) & (e_meas / sigma > cal["significance_min"])
            towers.append({"ev": t_ev[keep], "eta": t_eta[keep], "phi": t_phi[keep], "E": e_meas[keep],
                           "PID": np.full(keep.sum(), 22 if is_em else 0, np.int32), "em": np.full(keep.sum(), is_em)})
        return {k: np.concatenate([t[k] for t in towers]) for k in towers[0]}

    def _puppi(self, tr, tw, n_ev, n_vertices):
        pc = self.card["puppi"]
        # charged-hadron subtraction: pile-up tracks (not from the primary vertex) are removed
        pv_track = tr["vtx"] == 0
        t_pt = np.hypot(tr["Px"], tr["Py"])
        t_eta = np.arcsinh(tr["Pz"] / t_pt)
        t_phi = np.arctan2(tr["Py"], tr["Px"])
        n_tw = len(tw["E"])
        w_pt = tw["E"] / np.cosh(tw["eta"])
        # one particle list per event: tracks then towers, for the local-shape sums
        ev_all = np.concatenate([tr["ev"], tw["ev"]])
        order = np.argsort(ev_all, kind="stable")
        eta_all = np.concatenate([t_eta, tw["eta"]])[order]
        phi_all = np.concatenate([t_phi, tw["phi"]])[order]
        pt_all = np.concatenate([t_pt, w_pt])[order]
        is_ref = np.concatenate([pv_track, np.zeros(n_tw, bool)])[order]
        off = np.concatenate([[0], np.cumsum(np.bincount(ev_all, minlength=n_ev))])
        alpha_sorted = _alpha(off, eta_all, phi_all, pt_all, is_ref, pc["cone"])
        alpha = np.empty_like(alpha_sorted)
        alpha[order] = alpha_sorted
        a_trk, a_tw = alpha[: len(t_pt)], alpha[len(t_pt):]
        # pile-up reference: alpha of pile-up tracks, per event
        weights = np.zeros(n_tw)
        for region, (eta_hi, rms_min, e_min, slope) in enumerate(zip(pc["eta_edges"], pc["rms_pt_min"], pc["neutral_min_e"], pc["neutral_pt_slope"])):
            eta_lo = 0.0 if region == 0 else pc["eta_edges"][region - 1]
            ref = ~pv_track & (np.abs(t_eta) >= eta_lo) & (np.abs(t_eta) < min(eta_hi, 2.5)) & np.isfinite(a_trk) & (t_pt > rms_min)
            if region > 0 or not ref.any():
                ref = ~pv_track & np.isfinite(a_trk) & (t_pt > rms_min)
            med = np.full(n_ev, np.nan)
            rms = np.full(n_ev, np.nan)
            for e in np.unique(tr["ev"][ref]):  # a handful of events per batch
                v = a_trk[ref & (tr["ev"] == e)]
                med[e] = np.median(v)
                rms[e] = np.sqrt(np.mean((v - med[e]) ** 2)) if len(v) > 1 else 1.0
            sel = (np.abs(tw["eta"]) >= eta_lo) & (np.abs(tw["eta"]) < eta_hi)
            m, r = med[tw["ev"][sel]], rms[tw["ev"][sel]]
            a = a_tw[sel]
            with np.errstate(invalid="ignore"):
                x2 = np.where(np.isfinite(a) & (a > m), (a - m) ** 2 / np.maximum(r, 1e-3) ** 2, 0.0)
            w = np.where(np.isnan(m), 1.0, chi2.cdf(x2, 1))
            w[w < pc["min_weight"]] = 0
            # neutral threshold grows with the number of vertices, as PUPPI's neutralPt(nPV)
            w[w * w_pt[sel] < e_min + slope * n_vertices[tw["ev"][sel]]] = 0
            weights[sel] = w
        keep_tr = pv_track
        keep_tw = weights > 0
        wt = weights[keep_tw]
        tw_pt = w_pt[keep_tw] * wt
        c = {
            "ev": np.concatenate([tr["ev"][keep_tr], tw["ev"][keep_tw]]),
            "PID": np.concatenate([tr["PID"][keep_tr], tw["PID"][keep_tw]]),
            "Charge": np.concatenate([tr["Charge"][keep_tr], np.zeros(keep_tw.sum(), np.int32)]),
            "PT": np.concatenate([t_pt[keep_tr], tw_pt]),
            "Eta": np.concatenate([t_eta[keep_tr], tw["eta"][keep_tw]]),
            "Phi": np.concatenate([t_phi[keep_tr], tw["phi"][keep_tw]]),
            "Mass": np.concatenate([tr["mass"][keep_tr], np.zeros(keep_tw.sum())]),
            "E": np.concatenate([tr["E"][keep_tr], tw["E"][keep_tw] * wt]),
            "D0": np.concatenate([tr["D0"][keep_tr], np.zeros(keep_tw.sum())]),
            "DZ": np.concatenate([tr["DZ"][keep_tr], np.zeros(keep_tw.sum())]),
            "ErrorD0": np.concatenate([tr["ErrorD0"][keep_tr], np.zeros(keep_tw.sum())]),
            "ErrorDZ": np.concatenate([tr["ErrorDZ"][keep_tr], np.zeros(keep_tw.sum())]),
            "ErrorPT": np.concatenate([tr["ErrorPT"][keep_tr], np.zeros(keep_tw.sum())]),
            "T": np.concatenate([tr["T"][keep_tr], np.zeros(keep_tw.sum())]),
            "X": np.concatenate([tr["X"][keep_tr], np.zeros(keep_tw.sum())]),
            "Y": np.concatenate([tr["Y"][keep_tr], np.zeros(keep_tw.sum())]),
            "Z": np.concatenate([tr["Z"][keep_tr], np.zeros(keep_tw.sum())]),
            "Eem": np.concatenate([np.zeros(keep_tr.sum()), np.where(tw["em"][keep_tw], tw["E"][keep_tw] * wt, 0)]),
            "Ehad": np.concatenate([np.zeros(keep_tr.sum()), np.where(~tw["em"][keep_tw], tw["E"][keep_tw] * wt, 0)]),
        }
        c["VertexIndex"] = np.zeros(len(c["ev"]), np.int32)
        c["P"] = c["PT"] * np.cosh(c["Eta"])
        c["CtgTheta"] = np.sinh(c["Eta"])
        c["ErrorP"] = c["ErrorPT"] * np.cosh(c["Eta"])
        order = np.lexsort((-c["PT"], c["ev"]))
        counts = np.bincount(c["ev"], minlength=n_ev)
        return ak.zip({k: ak.unflatten(v[order], counts) for k, v in c.items() if k != "ev"}, depth_limit=2)

    def _vertices(self, n_ev, n_pu, z_pv, t_pv, pu_z, pu_t):
        counts = 1 + n_pu
        z = np.empty(counts.sum())
        t = np.empty(counts.sum())
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        z[starts], t[starts] = z_pv, t_pv
        is_pu = np.ones(counts.sum(), bool)
        is_pu[starts] = False
        z[is_pu], t[is_pu] = pu_z, pu_t
        n = counts.sum()
        res = self.card["tracking"]["pv_z_resolution_m"] * 1e3
        cols = {"T": t, "X": np.zeros(n), "Y": np.zeros(n), "Z": z, "ErrorT": np.zeros(n), "ErrorX": np.zeros(n),
                "ErrorY": np.zeros(n), "ErrorZ": np.full(n, res), "Index": np.concatenate([np.arange(k) for k in counts]).astype(np.int32),
                "NDF": np.zeros(n, np.int32), "Sigma": np.zeros(n), "SumPT2": np.zeros(n)}
        return ak.zip({k: ak.unflatten(v, counts) for k, v in cols.items()}, depth_limit=2)

    def _hard_record(self, particles, z_pv, t_pv):
        counts = np.asarray(ak.num(particles))
        rec = {f: np.asarray(ak.flatten(particles[f])) for f in particles.fields}
        rec["Z"] = rec["Z"] + np.repeat(z_pv, counts).astype(rec["Z"].dtype)
        rec["T"] = rec["T"] + np.repeat(t_pv, counts).astype(rec["T"].dtype)
        return ak.zip({k: ak.unflatten(v, counts) for k, v in rec.items()}, depth_limit=2)


def recentre(particles: ak.Array, z0, t0) -> ak.Array:
    """Move a record produced at vertex (z0 [mm], t0 [s]) per event back to the origin.

    Generator records read from Delphes files were already shifted to their primary vertex;
    re-simulating them must not shift them twice.
    """
    z0 = np.asarray(z0, dtype=np.float64)
    t0 = np.asarray(t0, dtype=np.float64)
    out = ak.with_field(particles, particles.Z - z0, "Z")
    return ak.with_field(out, particles.T - t0, "T")


def _visible(pid):
    apid = abs(pid)
    return (apid != NEUTRINOS[0]) & (apid != NEUTRINOS[1]) & (apid != NEUTRINOS[2])


def _check_input(particles: ak.Array) -> None:
    missing = [f for f in ("PID", "Status", "Charge", "Px", "Py", "Pz", "E", "X", "Y", "Z", "T") if f not in particles.fields]
    if missing:
        raise SimulationInputError(f"generator record lacks fields {missing}")
    for f in ("Px", "Py", "Pz", "E"):
        flat = np.asarray(ak.flatten(particles[f]))
        if not np.all(np.isfinite(flat)):
            raise SimulationInputError(f"generator record has non-finite {f} values ({np.sum(~np.isfinite(flat))} particles)")
