"""The Delphes ROOT tree layout, as the ntuplizer reads it, and a writer for it.

Real Delphes writes TClonesArray split branches: a counter ``Particle_size`` and
leaves ``Particle.PID``, ``Particle.Px``, ... inside a ``Particle`` branch. uproot
addresses a leaf by its full name (``tree["Particle.PID"]``) whether it sits inside
a parent branch (real Delphes) or at top level (files written here), so one reader
serves both. Only the collections and fields listed below are written; other
Delphes fields are optional for every consumer of this project.
"""
from __future__ import annotations

import os
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

TREE_NAME = "Delphes"

#: Fields of each collection with their dtypes, in Delphes' order (subset of Delphes' classes).
COLLECTIONS: dict[str, dict[str, str]] = {
    # GenParticle: units GeV, mm, seconds (Delphes stores T in s, X/Y/Z in mm).
    "Particle": {
        "PID": "int32", "Status": "int32", "IsPU": "int32",
        "M1": "int32", "M2": "int32", "D1": "int32", "D2": "int32",
        "Charge": "int32", "Mass": "float32", "E": "float32",
        "Px": "float32", "Py": "float32", "Pz": "float32", "P": "float32",
        "PT": "float32", "Eta": "float32", "Phi": "float32", "Rapidity": "float32",
        "T": "float32", "X": "float32", "Y": "float32", "Z": "float32",
    },
    # ParticleFlowCandidate (PUPPI output): momenta already scaled by the PUPPI weight.
    "ParticleFlowCandidate": {
        "PID": "int32", "Charge": "int32", "E": "float32", "P": "float32",
        "PT": "float32", "Eta": "float32", "Phi": "float32", "CtgTheta": "float32",
        "Mass": "float32", "T": "float32", "X": "float32", "Y": "float32", "Z": "float32",
        "D0": "float32", "DZ": "float32", "ErrorD0": "float32", "ErrorDZ": "float32",
        "ErrorP": "float32", "ErrorPT": "float32", "VertexIndex": "int32",
        "Eem": "float32", "Ehad": "float32",
    },
    # Reconstructed vertices; Vertex[0] is the hard-scatter (primary) vertex.
    "Vertex": {
        "T": "float32", "X": "float32", "Y": "float32", "Z": "float32",
        "ErrorT": "float64", "ErrorX": "float64", "ErrorY": "float64", "ErrorZ": "float64",
        "Index": "int32", "NDF": "int32", "Sigma": "float64", "SumPT2": "float64",
    },
}


def branch_name(collection: str, field: str) -> str:
    """Full leaf name as Delphes writes it, e.g. ``Particle.PID``."""
    return f"{collection}.{field}"


def _as_record(collection: str, array: ak.Array, path: Path) -> ak.Array:
    spec = COLLECTIONS[collection]
    missing = [f for f in spec if f not in array.fields]
    if missing:
        raise ValueError(f"{path}: collection {collection!r} lacks fields {missing}")
    counts = ak.num(array, axis=1)
    flat = ak.flatten(array, axis=1)
    fields = {f: ak.unflatten(np.asarray(ak.to_numpy(flat[f]), dtype=dt), counts) for f, dt in spec.items()}
    return ak.zip(fields, depth_limit=2)


def write_delphes_file(path: str | os.PathLike, collections: dict[str, ak.Array],) -> None:
    """Write (or extend) a Delphes-layout file ``path`` from jagged event records.

    ``collections`` maps a collection name of :data:`COLLECTIONS` to an awkward array
    of shape ``events * var * record``; all collections must have the same number of
    events. The file is written to a temporary name and renamed on success, so a
    crash never leaves a half-written file under ``path``. Use :class:`DelphesWriter`
    to write a file batch by batch.
    """
    with DelphesWriter(path) as writer:
        writer.extend(collections)


class DelphesWriter:
    """Stream event batches into a Delphes-layout ROOT file, atomically.

    >>> with DelphesWriter("out.root") as w:
    ...     for batch in batches:
    ...         w.extend({"Particle": batch_particles, ...})
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._file = None
        self._tree = None
        self._collections: list[str] | None = None
        self.n_events = 0

    def __enter__(self) -> "DelphesWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = uproot.recreate(self.tmp)
        return self

    def extend(self, collections: dict[str, ak.Array]) -> None:
        """Append one batch of events (same event count in every collection)."""
        if not collections:
            return
        unknown = set(collections) - set(COLLECTIONS)
        if unknown:
            raise ValueError(f"{self.path}: unknown Delphes collections {sorted(unknown)}")
        lengths = {name: len(arr) for name, arr in collections.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"{self.path}: collections have different event counts {lengths}")
        if self._collections is None:
            self._collections = list(collections)
        elif list(collections) != self._collections:
            raise ValueError(f"{self.path}: batch collections {list(collections)} differ from {self._collections}")
        data = {name: _as_record(name, arr, self.path) for name, arr in collections.items()}
        if self._tree is None:
            self._tree = self._file.mktree(
                TREE_NAME,
                {name: arr.type for name, arr in data.items()},
                counter_name=lambda counted: f"{counted}_size",
                field_name=lambda outer, inner: inner if outer == "" else f"{outer}.{inner}",
            )
        self._tree.extend(data)
        self.n_events += next(iter(lengths.values()), 0)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._file is not None:
                if self._tree is None and exc_type is None:
                    # An empty job still yields a valid file with the full layout.
                    self._tree = self._file.mktree(
                        TREE_NAME,
                        {name: _empty_type(name) for name in COLLECTIONS},
                        counter_name=lambda counted: f"{counted}_size",
                        field_name=lambda outer, inner: inner if outer == "" else f"{outer}.{inner}",
                    )
                self._file.close()
        finally:
            if exc_type is None:
                os.replace(self.tmp, self.path)
            else:
                self.tmp.unlink(missing_ok=True)


def _empty_type(collection: str):
    fields = {f: np.zeros(0, dtype=dt) for f, dt in COLLECTIONS[collection].items()}
    return ak.zip({k: ak.unflatten(v, np.zeros(0, dtype=np.int64)) for k, v in fields.items()}, depth_limit=2).type
