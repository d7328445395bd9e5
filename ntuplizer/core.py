"""Delphes events -> JetClass-II jets: the ntuplizer's pipeline and Python API."""
from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import awkward as ak
import numpy as np
import yaml

from jetclass2 import delphes_tree
from jetclass2.numba_cache import announce
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
    genjet_region: float | None = None

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
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
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
                genjet_region=None if cfg.get("genjet_region") is None else float(cfg["genjet_region"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, SettingsError):
                raise
            raise SettingsError(f"{path}: missing or invalid setting ({type(exc).__name__}: {exc})") from exc
        return replace(base, **{k: v for k, v in overrides.items() if k != "jet_radius"})


def _columns(arr: ak.Array, fields) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Flat numpy columns of a jagged record array and the number of entries per event."""
    layout = arr.layout
    if isinstance(layout, ak.contents.ListOffsetArray) and isinstance(layout.content, ak.contents.RecordArray):
        # the layout iterate_events builds: read the buffers directly (no per-field dispatch)
        offsets = np.asarray(layout.offsets.data, dtype=np.int64)
        contents = [layout.content.content(f) for f in fields]
        if all(isinstance(c, ak.contents.NumpyArray) for c in contents):
            lo, hi = offsets[0], offsets[-1]
            return {f: np.asarray(c.data)[lo:hi] for f, c in zip(fields, contents)}, np.diff(offsets)
    counts = np.asarray(ak.num(arr, axis=1), dtype=np.int64)
    return {f: np.asarray(ak.flatten(arr[f], axis=1)) for f in fields}, counts


def _cluster_collection(cols: dict, counts: np.ndarray, mask: np.ndarray, eta: str, radius: float,
                        min_pt: float) -> jets.Clustering:
    """Anti-kT jets of the entries selected by ``mask``; constituents as flat column indices."""
    index = np.flatnonzero(mask)
    event_counts = np.bincount(np.repeat(np.arange(len(counts)), counts)[index], minlength=len(counts))
    p4 = jets.p4_from_ptetaphim(*(cols[k][index] for k in ("PT", eta, "Phi", "Mass")))
    return jets.cluster_flat(*p4, index, event_counts, radius, min_pt)


def _reco_clustering(pf: dict, pf_counts: np.ndarray, s: Settings) -> jets.Clustering:
    usable = np.isfinite(pf["E"]) & (pf["E"] > 0)
    return _cluster_collection(pf, pf_counts, usable, "MomentumEta", s.jet_radius, s.reco_min_pt)


def _genjet_input(p: dict, s: Settings) -> np.ndarray:
    """Stable non-neutrino generator particles (the GEN-jet input)."""
    mask = (p["Status"] == 1) & (p["E"] > 0)
    apid = np.abs(p["PID"])
    for pid in s.genjet_excluded_pids:
        mask &= apid != pid
    return mask


def reco_jets(events: delphes_tree.DelphesEvents, s: Settings):
    """Anti-kT PUPPI jets (pT-ordered) and their constituent indices into ``events.pfcands``."""
    pf, counts = _columns(events.pfcands, ("PT", "MomentumEta", "Phi", "Mass", "E"))
    c = _reco_clustering(pf, counts, s)
    return c.to_awkward(counts)


def gen_jets(events: delphes_tree.DelphesEvents, s: Settings):
    """Anti-kT GEN-jets of stable non-neutrino generator particles, with constituent indices."""
    p, counts = _columns(events.particles, ("PID", "Status", "PT", "Eta", "Phi", "Mass", "E"))
    c = _cluster_collection(p, counts, _genjet_input(p, s), "Eta", s.jet_radius, s.gen_min_pt)
    return c.to_awkward(counts)


def _observables(px, py, pz, energy, counts, s: Settings, taus: bool = True):
    return jets.groomed_observables_flat(px, py, pz, energy, counts, s.jet_radius, s.sd_beta, s.sd_zcut,
                                         s.nsub_beta, s.nsub_max if taus else 0)


def jet_substructure(collection: ak.Array, constituents: ak.Array, s: Settings, eta: str = "Eta"):
    """Soft-drop mass and tau_1..N of jets given by constituent indices into ``collection``.

    ``constituents``: events * jets * indices, as returned by :func:`reco_jets` / :func:`gen_jets`;
    ``eta``: the field holding the momentum pseudorapidity (``MomentumEta`` for PUPPI candidates).
    Returns ``(sdmass[n_jets], taus[n_jets, N])``.
    """
    cols, counts = _columns(collection, ("PT", eta, "Phi", "Mass"))
    per_jet = ak.flatten(constituents, axis=1)
    n_cons = np.asarray(ak.num(per_jet), dtype=np.int64)
    jet_event = np.repeat(np.arange(len(constituents)), np.asarray(ak.num(constituents)))
    idx = np.asarray(ak.flatten(per_jet), dtype=np.int64) + np.repeat(jets.offsets_of(counts)[:-1][jet_event], n_cons)
    p4 = jets.p4_from_ptetaphim(*(cols[k][idx] for k in ("PT", eta, "Phi", "Mass")))
    return _observables(*p4, n_cons, s)


# Fields read per collection: PF-candidate and generator-particle fields gathered per jet
# constituent, and what the labels and the GEN-jet input need.
PF_FIELDS = ("PID", "Charge", "PT", "Eta", "MomentumEta", "Phi", "Mass", "E", "D0", "DZ", "ErrorD0", "ErrorDZ")
GEN_FIELDS = ("PID", "PT", "Eta", "Phi", "Mass", "E", "X", "Y", "Z", "T")
PARTICLE_FIELDS = ("PID", "Status", "D1", "D2", "PT", "Eta", "Phi", "Mass", "E", "X", "Y", "Z", "T")


def _jagged(flat: np.ndarray, counts: np.ndarray) -> ak.contents.ListOffsetArray:
    return ak.contents.ListOffsetArray(ak.index.Index64(jets.offsets_of(counts)),
                                       ak.contents.NumpyArray(np.ascontiguousarray(flat)))


def reco_jet_branches(pf: dict, rj: jets.Clustering, event_of_jet: np.ndarray, events: delphes_tree.DelphesEvents,
                      s: Settings) -> dict:
    """part_* and jet_* branches of the selected jets (flat over jets; per-particle ones jagged)."""
    cons = {f: pf[f][rj.cons] for f in PF_FIELDS}
    # groomed observables from the momenta Delphes clustered; constituent features from the
    # stored (pT, eta, phi, m), as the reference macro computes them
    p4 = jets.p4_from_ptetaphim(cons["PT"], cons["MomentumEta"], cons["Phi"], cons["Mass"])
    sdmass, taus = _observables(*p4, rj.cons_counts, s)
    sorted_cols, sorted_p4, counts = features.select_and_sort(cons, rj.cons_counts, s.max_abs_pz, s.max_abs_eta)
    out = features.constituent_features(sorted_cols, sorted_p4, counts, rj.eta, rj.phi,
                                        events.pv_z[event_of_jet], events.has_vertex[event_of_jet])
    out = {k: _jagged(v, counts) for k, v in out.items()}
    out.update({
        "jet_pt": rj.pt, "jet_eta": rj.eta, "jet_phi": rj.phi, "jet_energy": rj.E,
        "jet_sdmass": sdmass, "jet_nparticles": counts,
        **{f"jet_tau{i + 1}": taus[:, i] for i in range(4)},
    })
    return out


def _at_match(values, match: np.ndarray, has_gen: np.ndarray) -> np.ndarray:
    """``values`` of the matched GEN-jet per reco jet, 0 where a reco jet has none."""
    out = np.zeros(len(match))
    out[has_gen] = np.asarray(values, dtype=np.float64)[match[has_gen]]
    return out


def genjet_branches(p: dict, p_counts: np.ndarray, rj: jets.Clustering, event_of_jet: np.ndarray,
                    events: delphes_tree.DelphesEvents, s: Settings) -> dict:
    """genpart_* and genjet_* branches: the GEN-jet matched to each reco jet (zeros and empty
    lists for a reco jet without one)."""
    mask = _genjet_input(p, s)
    if s.genjet_region is not None:
        # only particles near the selected jets can end up in a GEN-jet matched to one
        cand = np.flatnonzero(mask)
        cand_counts = np.bincount(np.repeat(np.arange(len(p_counts)), p_counts)[cand], minlength=len(p_counts))
        mask[cand] = jets.near_axes(*(p[k][cand] for k in ("PT", "Eta", "Phi", "Mass")), cand_counts, rj,
                                    s.genjet_region * s.jet_radius)
    gc = _cluster_collection(p, p_counts, mask, "Eta", s.jet_radius, s.gen_min_pt)
    match = jets.match_jets(rj.eta, rj.phi, rj.jet_counts, gc.eta, gc.phi, gc.jet_counts, s.jet_radius)
    has_gen = match >= 0
    mg = gc.take(match[has_gen], np.zeros(0))
    counts = np.zeros(len(match), dtype=np.int64)
    counts[has_gen] = mg.cons_counts
    g_cols = {f: p[f][mg.cons] for f in GEN_FIELDS}
    g_sd = np.zeros(len(match))
    if has_gen.any():
        # the GEN-jet record has no N-subjettiness: soft drop only
        p4 = jets.p4_from_ptetaphim(g_cols["PT"], g_cols["Eta"], g_cols["Phi"], g_cols["Mass"])
        g_sd[has_gen], _ = _observables(*p4, mg.cons_counts, s, taus=False)
    g_sorted, g_p4, g_counts = features.select_and_sort(g_cols, counts, s.max_abs_pz, s.max_abs_eta)
    out = features.genparticle_features(g_sorted, g_p4, g_counts, rj.eta, rj.phi, events.pv_z[event_of_jet],
                                        events.pv_t[event_of_jet], events.has_vertex[event_of_jet])
    out = {k: _jagged(v, g_counts) for k, v in out.items()}
    out.update({
        "genjet_pt": _at_match(gc.pt, match, has_gen),
        "genjet_eta": _at_match(gc.eta, match, has_gen),
        "genjet_phi": _at_match(gc.phi, match, has_gen),
        "genjet_energy": _at_match(gc.E, match, has_gen),
        "genjet_sdmass": g_sd,
        "genjet_nparticles": np.where(has_gen, g_counts, 0),
    })
    return out


def process_events(events: delphes_tree.DelphesEvents, settings: Settings) -> ak.Array:
    """JetClass-II records (one per selected, validly labelled jet) of a chunk of events."""
    s = settings
    n_events = len(events)
    if n_events == 0:
        return schema.empty_record()
    pf, pf_counts = _columns(events.pfcands, PF_FIELDS)
    rc = _reco_clustering(pf, pf_counts, s)
    jet_event = np.repeat(np.arange(n_events), rc.jet_counts)
    selected = np.flatnonzero((rc.pt >= s.min_jet_pt) & (np.abs(rc.eta) <= s.max_jet_abs_eta))
    if len(selected) == 0:
        return schema.empty_record()
    p, p_counts = _columns(events.particles, PARTICLE_FIELDS)
    sel_counts = np.bincount(jet_event[selected], minlength=n_events)
    lab, aux_count, aux_index, aux_role = labels.label_flat(
        p, jets.offsets_of(p_counts), rc.eta[selected], rc.phi[selected], jets.offsets_of(sel_counts),
        s.jet_radius, s.qcd_labels, (s.qcd_parton_status, s.qcd_parton_min_pt))
    keep = lab >= 0
    if not keep.any():
        return schema.empty_record()
    kept = selected[keep]
    event_of_jet = jet_event[kept]
    rj = rc.take(kept, np.bincount(event_of_jet, minlength=n_events))
    out = reco_jet_branches(pf, rj, event_of_jet, events, s)
    out["jet_label"] = lab[keep]
    out.update(genjet_branches(p, p_counts, rj, event_of_jet, events, s))
    # invalid jets hold no aux particles: the flat aux lists are the kept jets' lists
    aux = labels.aux_columns(p, aux_index, aux_role)
    out.update({f"aux_genpart_{k}": _jagged(v, aux_count[keep]) for k, v in aux.items()})
    return schema.conform(out)


def process_file(path: str | Path, settings: Settings | None = None, step: int = 2000) -> ak.Array:
    """All JetClass-II jet records of one Delphes-format file (in memory)."""
    settings = settings or Settings.from_config()
    chunks = [process_events(ev, settings) for ev in delphes_tree.iterate_events(path, step=step, particle_fields=PARTICLE_FIELDS)]
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
    trees = [delphes_tree.open_input(path) for path in inputs]  # fail fast, before any output exists
    announce(log)  # after the input checks: a job that compiles the kernels says so (no shared cache on its node)
    summary = RunSummary()
    t0 = time.perf_counter()
    # The ~300k objects of the interpreter, numba, fastjet and uproot are not garbage: kept out of
    # the cyclic collector's full passes (each one otherwise costs ~0.2 s) for the time of the job.
    gc.freeze()
    try:
        _ntuplize_files(inputs, trees, output, settings, fmt, step, summary, t0)
    finally:
        gc.unfreeze()
    summary.seconds = time.perf_counter() - t0
    log.info("wrote %d jets from %d events to %s in %.1f s", summary.jets, summary.events, output, summary.seconds)
    return summary


def _ntuplize_files(inputs, trees, output, settings, fmt, step, summary, t0) -> None:
    with writer.JetWriter(output, fmt=fmt) as w:
        for path, tree in zip(inputs, trees):
            n_file = tree.num_entries
            log.info("%s: %d events (R=%.1f, qcd_labels=%s)", path, n_file, settings.jet_radius, settings.qcd_labels)
            for ev in delphes_tree.iterate_events(path, step=step, tree=tree, particle_fields=PARTICLE_FIELDS):
                rec = process_events(ev, settings)
                w.write(rec)
                summary.events += len(ev)
                summary.jets += len(rec)
                for lab, n in zip(*np.unique(np.asarray(rec.jet_label), return_counts=True)):
                    summary.label_counts[int(lab)] = summary.label_counts.get(int(lab), 0) + int(n)
                log.info("%s: %d/%d events, %d jets so far (%.0f jets/s)", path, summary.events, n_file,
                         summary.jets, summary.jets / max(time.perf_counter() - t0, 1e-9))
