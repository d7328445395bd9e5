"""Reading Delphes-format files (real Delphes or our fast simulation) into awkward arrays.

Only this module knows the Delphes tree layout; the rest of the ntuplizer works on the
plain records it returns.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

log = logging.getLogger(__name__)

TREE_NAME = "Delphes"

PARTICLE_FIELDS = ["PID", "Status", "M1", "M2", "D1", "D2", "Charge", "Mass", "E", "PT", "Eta", "Phi", "T", "X", "Y", "Z"]
PFCAND_FIELDS = ["PID", "Charge", "PT", "Eta", "Phi", "Mass", "E", "D0", "DZ", "ErrorD0", "ErrorDZ"]
VERTEX_FIELDS = ["Z", "T"]
# Older Delphes writers store the calorimeter-hit eta of a track in ``Eta``; the momentum
# direction that Delphes clustered is in ``CtgTheta`` (cot theta = sinh eta). Read when present.
PFCAND_DIRECTION_FIELD = "CtgTheta"


class NtuplizerInputError(RuntimeError):
    """A Delphes input file that cannot be ntuplized; the message names the file and the problem."""


@dataclass
class DelphesEvents:
    """One chunk of events: generator particles, PUPPI candidates and primary vertex."""

    particles: ak.Array  # events * var * {PID, Status, M1, ..., X, Y, Z, T}
    pfcands: ak.Array  # events * var * {PID, Charge, PT, Eta, Phi, Mass, D0, DZ, ErrorD0, ErrorDZ, MomentumEta}
    pv_z: np.ndarray  # primary-vertex z per event [mm] (0 where there is no Vertex collection)
    pv_t: np.ndarray  # primary-vertex t per event [s]
    has_vertex: np.ndarray  # bool per event: a primary vertex exists

    def __len__(self) -> int:
        return len(self.particles)


def open_tree(path: str | Path):
    """Open ``path`` and return its Delphes tree, with clear errors for bad files."""
    path = Path(path)
    if not path.exists():
        raise NtuplizerInputError(f"{path}: file does not exist")
    if path.stat().st_size == 0:
        raise NtuplizerInputError(f"{path}: file is empty (0 bytes)")
    try:
        f = uproot.open(path)
    except Exception as exc:  # uproot raises several types for non-ROOT or truncated files
        raise NtuplizerInputError(f"{path}: not a readable ROOT file ({type(exc).__name__}: {exc})") from exc
    try:
        tree = f[TREE_NAME]
    except Exception as exc:
        keys = ", ".join(k.split(";")[0] for k in f.keys()) or "none"
        raise NtuplizerInputError(f"{path}: no TTree '{TREE_NAME}' (objects in file: {keys})") from exc
    if not isinstance(tree, uproot.TTree):
        raise NtuplizerInputError(f"{path}: '{TREE_NAME}' is a {type(tree).__name__}, not a TTree")
    return tree


def _require(tree, path: Path, collection: str, fields: list[str]) -> list[str]:
    names = [f"{collection}.{f}" for f in fields]
    missing = [n for n in names if n not in tree]
    if missing:
        raise NtuplizerInputError(f"{path}: missing branch(es) {', '.join(missing)} in tree '{TREE_NAME}'")
    return names


def _read(tree, path: Path, names: list[str], start: int, stop: int) -> ak.Array:
    try:
        return tree.arrays(names, entry_start=start, entry_stop=stop)
    except Exception as exc:
        raise NtuplizerInputError(f"{path}: cannot read entries {start}-{stop} ({type(exc).__name__}: {exc}); "
                                  "the file may be truncated or corrupt") from exc


def _zip(arrays: ak.Array, collection: str, fields: list[str]) -> ak.Array:
    return ak.zip({f: arrays[f"{collection}.{f}"] for f in fields}, depth_limit=2)


def iterate_events(path: str | Path, step: int = 2000, tree=None):
    """Yield :class:`DelphesEvents` chunks of at most ``step`` events from ``path``.

    ``tree``: the already opened Delphes tree of ``path`` (opening a Delphes file is costly).
    """
    path = Path(path)
    tree = tree if tree is not None else open_tree(path)
    pnames = _require(tree, path, "Particle", PARTICLE_FIELDS)
    cnames = _require(tree, path, "ParticleFlowCandidate", PFCAND_FIELDS)
    direction = f"ParticleFlowCandidate.{PFCAND_DIRECTION_FIELD}"
    dnames = [direction] if direction in tree else []
    has_vertex_branch = "Vertex.Z" in tree and "Vertex.T" in tree
    vnames = [f"Vertex.{f}" for f in VERTEX_FIELDS] if has_vertex_branch else []
    n = tree.num_entries
    if n == 0:
        log.warning("%s: tree '%s' has no events", path, TREE_NAME)
        return
    for start in range(0, n, step):
        stop = min(n, start + step)
        arrays = _read(tree, path, pnames + cnames + dnames + vnames, start, stop)
        particles = _zip(arrays, "Particle", PARTICLE_FIELDS)
        pfcands = _zip(arrays, "ParticleFlowCandidate", PFCAND_FIELDS)
        pfcands = ak.with_field(pfcands, _momentum_eta(pfcands, arrays[direction] if dnames else None), "MomentumEta")
        if has_vertex_branch:
            nvtx = np.asarray(ak.num(arrays["Vertex.Z"]))
            has_pv = nvtx > 0
            pv_z = np.asarray(ak.fill_none(ak.firsts(arrays["Vertex.Z"]), 0.0), dtype=np.float64)
            pv_t = np.asarray(ak.fill_none(ak.firsts(arrays["Vertex.T"]), 0.0), dtype=np.float64)
        else:
            has_pv = np.zeros(stop - start, dtype=bool)
            pv_z = np.zeros(stop - start)
            pv_t = np.zeros(stop - start)
        yield DelphesEvents(particles, pfcands, pv_z, pv_t, has_pv)


def _momentum_eta(pfcands: ak.Array, ctg_theta) -> ak.Array:
    """Pseudorapidity of the candidates' momenta (what Delphes clustered)."""
    if ctg_theta is None:
        return pfcands.Eta
    # zero-momentum candidates carry CtgTheta = 1e10: keep their stored Eta (unused for them)
    usable = (pfcands.PT > 0) & (abs(ctg_theta) < 1e9)
    return ak.where(usable, np.arcsinh(ak.values_astype(ctg_theta, np.float64)), pfcands.Eta)


def count_events(path: str | Path) -> int:
    """Number of events in the Delphes tree of ``path``."""
    return open_tree(path).num_entries
