"""Delphes events -> JetClass-II jets: the ntuplizer's pipeline and Python API."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import awkward as ak
import numpy as np
import yaml

from jetclass2 import delphes_tree
from jetclass2.resources import resolve, resource

from . import features, jets, labels, schema, writer

log = logging.getLogger(__name__)

DEFAULT_CONFIG = resource("config/ntuplizer.yaml")


class SettingsError(ValueError):
    """An ntuplizer settings file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Settings:
    """Physics settings of the ntuplizer (defaults from ``config/ntuplizer.yaml``)."""

    jet_radius: float
    reco_min_pt: float
    gen_min_pt: float
    min_jet_pt: float
    max_jet_abs_eta: float
    sd_beta: float
    sd_zcut: float
    nsub_beta: float
    nsub_max: int
    max_abs_pz: float
    max_abs_eta: float
    genjet_excluded_pids: tuple[int, ...]
    qcd_parton_status: int
    qcd_parton_min_pt: float
    qcd_labels: bool = False

    @classmethod
    def from_config(cls, path: str | Path | None = None, **overrides) -> "Settings":
        """Settings from a YAML file (default ``config/ntuplizer.yaml``), with keyword overrides.

        ``jet_radius`` selects the per-radius clustering thresholds of the file.
        """
        path = resolve(path) if path else DEFAULT_CONFIG
        try:
            with open(path) as f:
                cfg = yaml.safe_load(f)
        except OSError as exc:
            raise SettingsError(f"{path}: cannot read the ntuplizer settings ({exc.strerror or exc})") from exc
        except yaml.YAMLError as exc:
            raise SettingsError(f"{path}: not valid YAML ({exc})") from exc
        overrides = {k: v for k, v in overrides.items() if v is not None}
        try:
            radius = float(overrides.get("jet_radius", cfg["jet_radius"]))
            algos = {float(k): v for k, v in cfg["jet_algorithms"].items()}
            if radius not in algos:
                raise SettingsError(f"{path}: no clustering settings for jet radius {radius} (known: {sorted(algos)})")
            base = cls(
                jet_radius=radius,
                reco_min_pt=float(algos[radius]["reco_min_pt"]),
                gen_min_pt=float(algos[radius]["gen_min_pt"]),
                min_jet_pt=float(cfg["min_jet_pt"]),
                max_jet_abs_eta=float(cfg["max_jet_abs_eta"]),
                sd_beta=float(cfg["softdrop"]["beta"]),
                sd_zcut=float(cfg["softdrop"]["z_cut"]),
                nsub_beta=float(cfg["nsubjettiness"]["beta"]),
                nsub_max=int(cfg["nsubjettiness"]["max_n"]),
                max_abs_pz=float(cfg["constituents"]["max_abs_pz"]),
                max_abs_eta=float(cfg["constituents"]["max_abs_eta"]),
                genjet_excluded_pids=tuple(int(p) for p in cfg["genjet_excluded_pids"]),
                qcd_parton_status=int(cfg["qcd_partons"]["status"]),
                qcd_parton_min_pt=float(cfg["qcd_partons"]["min_pt"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, SettingsError):
                raise
            raise SettingsError(f"{path}: missing or invalid setting ({type(exc).__name__}: {exc})") from exc
        return replace(base, **{k: v for k, v in overrides.items() if k != "jet_radius"})


def reco_jets(events: delphes_tree.DelphesEvents, s: Settings):
    """Anti-kT PUPPI jets (pT-ordered) and their constituent indices into ``events.pfcands``."""
    c = events.pfcands
    usable = np.isfinite(c.E) & (c.E > 0)
    return jets.cluster(c.PT, c.MomentumEta, c.Phi, c.Mass, usable, s.jet_radius, s.reco_min_pt)


def gen_jets(events: delphes_tree.DelphesEvents, s: Settings):
    """Anti-kT GEN-jets of stable non-neutrino generator particles, with constituent indices."""
    p = events.particles
    apid = abs(p.PID)
    mask = (p.Status == 1) & (p.E > 0)
    for pid in s.genjet_excluded_pids:
        mask = mask & (apid != pid)
    return jets.cluster(p.PT, p.Eta, p.Phi, p.Mass, mask, s.jet_radius, s.gen_min_pt)


def _flat_columns(arr: ak.Array, fields) -> tuple[dict[str, np.ndarray], np.ndarray]:
    offsets = np.concatenate([[0], np.cumsum(np.asarray(ak.num(arr, axis=1)))])
    return {f: np.asarray(ak.to_numpy(ak.flatten(arr[f]))) for f in fields}, offsets


def _global_index(local: ak.Array, offsets: np.ndarray, event_of_jet: np.ndarray) -> ak.Array:
    counts = ak.num(local)
    flat = np.asarray(ak.flatten(local), dtype=np.int64) + np.repeat(offsets[event_of_jet], counts)
    return ak.unflatten(flat, counts)


def _observables(p4_jagged: dict, s: Settings, taus: bool = True):
    return jets.groomed_observables(p4_jagged["px"], p4_jagged["py"], p4_jagged["pz"], p4_jagged["E"],
                                    s.jet_radius, s.sd_beta, s.sd_zcut, s.nsub_beta, s.nsub_max if taus else 0)


def _constituent_p4(cols: dict, eta: str = "Eta") -> dict:
    counts = ak.num(cols["PT"])
    px, py, pz, e = jets.p4_from_ptetaphim(*(np.asarray(ak.flatten(cols[k])) for k in ("PT", eta, "Phi", "Mass")))
    return {k: ak.unflatten(v, counts) for k, v in zip(("px", "py", "pz", "E"), (px, py, pz, e))}


def jet_substructure(collection: ak.Array, constituents: ak.Array, s: Settings, eta: str = "Eta"):
    """Soft-drop mass and tau_1..N of jets given by constituent indices into ``collection``.

    ``constituents``: events * jets * indices, as returned by :func:`reco_jets` / :func:`gen_jets`;
    ``eta``: the field holding the momentum pseudorapidity (``MomentumEta`` for PUPPI candidates).
    Returns ``(sdmass[n_jets], taus[n_jets, N])``.
    """
    flat, off = _flat_columns(collection, ("PT", eta, "Phi", "Mass"))
    event_of_jet = np.repeat(np.arange(len(constituents)), np.asarray(ak.num(constituents)))
    idx = _global_index(ak.flatten(constituents, axis=1), off, event_of_jet)
    return _observables(_constituent_p4(features.gather(flat, idx), eta=eta), s)


# PF-candidate and generator-particle fields gathered per jet constituent.
PF_FIELDS = ("PID", "Charge", "PT", "Eta", "MomentumEta", "Phi", "Mass", "E", "D0", "DZ", "ErrorD0", "ErrorDZ")
GEN_FIELDS = ("PID", "PT", "Eta", "Phi", "Mass", "E", "X", "Y", "Z", "T")


def select_labelled_jets(events: delphes_tree.DelphesEvents, s: Settings):
    """Reco jets passing the pT/|eta| selection that get a valid label.

    Returns ``(jets, constituents, labels, aux)``, all events * jets.
    """
    rjets, rcons = reco_jets(events, s)
    sel = (rjets.pt >= s.min_jet_pt) & (abs(rjets.eta) <= s.max_jet_abs_eta)
    rjets, rcons = rjets[sel], rcons[sel]
    lab, aux = labels.label_jets(events.particles, rjets, s.jet_radius, s.qcd_labels,
                                 (s.qcd_parton_status, s.qcd_parton_min_pt))
    keep = lab >= 0
    return rjets[keep], rcons[keep], lab[keep], aux[keep]


def reco_jet_branches(events: delphes_tree.DelphesEvents, rjets: ak.Array, rcons: ak.Array, lab: ak.Array,
                      event_of_jet: np.ndarray, s: Settings) -> dict:
    """part_* and jet_* branches of the selected jets (flat over jets)."""
    pf_flat, pf_off = _flat_columns(events.pfcands, PF_FIELDS)
    cons_cols = features.gather(pf_flat, _global_index(ak.flatten(rcons, axis=1), pf_off, event_of_jet))
    # groomed observables from the momenta Delphes clustered; constituent features from the
    # stored (pT, eta, phi, m), as the reference macro computes them
    sdmass, taus = _observables(_constituent_p4(cons_cols, eta="MomentumEta"), s)
    sorted_cols, sorted_p4 = features.select_and_sort(cons_cols, s.max_abs_pz, s.max_abs_eta)
    fj = ak.flatten(rjets)
    jet_eta = np.asarray(fj.eta, dtype=np.float64)
    jet_phi = np.asarray(fj.phi, dtype=np.float64)
    out = features.constituent_features(sorted_cols, sorted_p4, jet_eta, jet_phi,
                                        events.pv_z[event_of_jet], events.has_vertex[event_of_jet])
    out.update({
        "jet_pt": np.asarray(fj.pt), "jet_eta": jet_eta, "jet_phi": jet_phi, "jet_energy": np.asarray(fj.E),
        "jet_sdmass": sdmass, "jet_nparticles": np.asarray(ak.num(sorted_cols["PT"])),
        **{f"jet_tau{i + 1}": taus[:, i] for i in range(4)},
        "jet_label": np.asarray(ak.flatten(lab)),
    })
    return out


def _at_match(values, match: np.ndarray, has_gen: np.ndarray) -> np.ndarray:
    """``values`` of the matched GEN-jet per reco jet, 0 where a reco jet has none."""
    out = np.zeros(len(match))
    out[has_gen] = np.asarray(values, dtype=np.float64)[match[has_gen]]
    return out


def genjet_branches(events: delphes_tree.DelphesEvents, rjets: ak.Array, event_of_jet: np.ndarray,
                    s: Settings) -> dict:
    """genpart_* and genjet_* branches: the GEN-jet matched to each reco jet (zeros and empty
    lists for a reco jet without one)."""
    gjets, gcons = gen_jets(events, s)
    match = jets.match_genjets(rjets, gjets, s.jet_radius)
    has_gen = match >= 0
    matched = match[has_gen]
    gflat = ak.flatten(gjets)
    gen_event = np.repeat(np.arange(len(events)), np.asarray(ak.num(gjets)))
    gp_flat, gp_off = _flat_columns(events.particles, GEN_FIELDS)
    # constituents of the matched GEN-jets, spread over all reco jets (none for the unmatched)
    idx_matched = _global_index(ak.flatten(gcons, axis=1)[matched], gp_off, gen_event[matched])
    counts = np.zeros(len(match), dtype=np.int64)
    counts[has_gen] = np.asarray(ak.num(idx_matched))
    g_cols = features.gather(gp_flat, ak.unflatten(np.asarray(ak.flatten(idx_matched), dtype=np.int64), counts))
    g_sd = np.zeros(len(match))
    if has_gen.any():
        # the GEN-jet record has no N-subjettiness: soft drop only
        g_sd[has_gen], _ = _observables(_constituent_p4({k: v[has_gen] for k, v in g_cols.items()}), s, taus=False)
    g_sorted, g_p4 = features.select_and_sort(g_cols, s.max_abs_pz, s.max_abs_eta)
    fj = ak.flatten(rjets)
    out = features.genparticle_features(g_sorted, g_p4, np.asarray(fj.eta, dtype=np.float64),
                                        np.asarray(fj.phi, dtype=np.float64), events.pv_z[event_of_jet],
                                        events.pv_t[event_of_jet], events.has_vertex[event_of_jet])
    out.update({
        "genjet_pt": _at_match(gflat.pt, match, has_gen),
        "genjet_eta": _at_match(gflat.eta, match, has_gen),
        "genjet_phi": _at_match(gflat.phi, match, has_gen),
        "genjet_energy": _at_match(gflat.E, match, has_gen),
        "genjet_sdmass": g_sd,
        "genjet_nparticles": np.where(has_gen, np.asarray(ak.num(g_sorted["PT"])), 0),
    })
    return out


def aux_branches(aux: ak.Array) -> dict:
    """aux_genpart_* branches: the generator particles behind each jet's label."""
    flat_aux = ak.flatten(aux, axis=1)
    return {f"aux_genpart_{f}": flat_aux[f] for f in labels.AUX_FIELDS}


def process_events(events: delphes_tree.DelphesEvents, settings: Settings) -> ak.Array:
    """JetClass-II records (one per selected, validly labelled jet) of a chunk of events."""
    if len(events) == 0:
        return schema.empty_record()
    rjets, rcons, lab, aux = select_labelled_jets(events, settings)
    n_per_event = np.asarray(ak.num(rjets))
    if n_per_event.sum() == 0:
        return schema.empty_record()
    event_of_jet = np.repeat(np.arange(len(events)), n_per_event)
    out = reco_jet_branches(events, rjets, rcons, lab, event_of_jet, settings)
    out.update(genjet_branches(events, rjets, event_of_jet, settings))
    out.update(aux_branches(aux))
    return schema.conform(out)


def process_file(path: str | Path, settings: Settings | None = None, step: int = 2000) -> ak.Array:
    """All JetClass-II jet records of one Delphes-format file (in memory)."""
    settings = settings or Settings.from_config()
    chunks = [process_events(ev, settings) for ev in delphes_tree.iterate_events(path, step=step)]
    chunks = [c for c in chunks if len(c)]
    return ak.concatenate(chunks) if chunks else schema.empty_record()


@dataclass
class RunSummary:
    events: int = 0
    jets: int = 0
    seconds: float = 0.0
    label_counts: dict[int, int] = field(default_factory=dict)


def ntuplize(inputs, output: str | Path, settings: Settings | None = None, fmt: str = "root",
             step: int = 2000, **overrides) -> RunSummary:
    """Ntuplize Delphes-format ``inputs`` into one JetClass-II file ``output`` (ROOT TTree or parquet).

    Keyword ``overrides`` (e.g. ``jet_radius=1.5, qcd_labels=True``) adjust the settings. The
    output is written under a temporary name and renamed only when every input succeeded.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    if not inputs:
        raise delphes_tree.DelphesInputError("no input files given")
    if settings is None:
        settings = Settings.from_config(**overrides)
    elif overrides:
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    trees = [delphes_tree.open_tree(path) for path in inputs]  # fail fast, before any output exists
    summary = RunSummary()
    t0 = time.perf_counter()
    with writer.JetWriter(output, fmt=fmt) as w:
        for path, tree in zip(inputs, trees):
            n_file = tree.num_entries
            log.info("%s: %d events (R=%.1f, qcd_labels=%s)", path, n_file, settings.jet_radius, settings.qcd_labels)
            for ev in delphes_tree.iterate_events(path, step=step, tree=tree):
                rec = process_events(ev, settings)
                w.write(rec)
                summary.events += len(ev)
                summary.jets += len(rec)
                for lab, n in zip(*np.unique(np.asarray(rec.jet_label), return_counts=True)):
                    summary.label_counts[int(lab)] = summary.label_counts.get(int(lab), 0) + int(n)
                log.info("%s: %d/%d events, %d jets so far (%.0f jets/s)", path, summary.events, n_file,
                         summary.jets, summary.jets / max(time.perf_counter() - t0, 1e-9))
    summary.seconds = time.perf_counter() - t0
    log.info("wrote %d jets from %d events to %s in %.1f s", summary.jets, summary.events, output, summary.seconds)
    return summary
