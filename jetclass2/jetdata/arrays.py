"""Fixed-shape arrays for machine learning, JetNet-style: ``(N, P, F)`` particles, ``(N, P)`` mask, ``(N, F)`` jets.

>>> from jetdata import get_data
>>> d = get_data("results/dataset", split="train", particle_features=["part_deta", "part_dphi", "part_energy"],
...              jet_features=["jet_pt", "jet_sdmass"], num_particles=128)
>>> d.particles.shape, d.mask.shape, d.jets.shape, d.labels.shape   # (N, 128, 3), (N, 128), (N, 2), (N,)

The source is anything :func:`jetdata.files` takes: our dataset directory, the published parquet
files (a directory, a list, one file). The output is allocated once (the jets are counted first from
the files' metadata, or their ``jet_label`` column when ``labels`` selects), then filled chunk by
chunk: peak memory is the output plus one chunk. Particles beyond ``num_particles`` are dropped (the
files keep the particles in the ntuplizer's order, highest pT first); shorter jets are zero-padded
(``pad_value``) and ``mask`` says which entries are particles.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow.parquet as pq
import uproot

from jetclass2.ntuplizer.label_names import LABEL_NAMES
from jetclass2.training.groups import label_groups

from .loader import JAGGED, DatasetError, _read_chunks, _select, collection, files, resolve_labels

DEFAULT_PARTICLE_FEATURES = ("part_deta", "part_dphi", "part_px", "part_py", "part_pz", "part_energy")
DEFAULT_JET_FEATURES = ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_sdmass", "jet_nparticles")


class JetData(NamedTuple):
    """What :func:`get_data` returns; ``labels`` index :data:`label_names`."""
    particles: np.ndarray          # (N, num_particles, len(particle_features)), zero-padded
    mask: np.ndarray               # (N, num_particles) bool: True where a particle is
    jets: np.ndarray               # (N, len(jet_features))
    labels: np.ndarray             # (N,) int64, jet_label
    particle_features: tuple[str, ...]
    jet_features: tuple[str, ...]


#: the 188 label names (index = ``jet_label``) and the Sophon groups (name -> label indices)
label_names = tuple(LABEL_NAMES)


def sophon_groups() -> dict[str, list[int]]:
    """Sophon's label groups (``X_QQ``, ``QCD``, ...) -> label indices (:mod:`jetclass2.training.groups`)."""
    return label_groups()


def check_features(particle_features, jet_features) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    """The feature lists, checked: particle features of one collection, jet features jet-level."""
    pf, jf = tuple(particle_features), tuple(jet_features)
    unknown = [f for f in pf + jf if f not in JAGGED]
    if unknown:
        raise DatasetError(f"unknown features {unknown} (JetClass-II branches: jetclass2.ntuplizer.schema.BRANCH_NAMES)")
    not_jagged = [f for f in pf if not JAGGED[f]]
    if not_jagged:
        raise DatasetError(f"particle_features {not_jagged} are jet-level (give them as jet_features)")
    jagged = [f for f in jf if JAGGED[f]]
    if jagged:
        raise DatasetError(f"jet_features {jagged} are particle lists (give them as particle_features)")
    colls = {collection(f) for f in pf}
    if len(colls) > 1:
        raise DatasetError(f"particle_features mix collections {sorted(colls)}: one mask per array, one collection")
    if len(set(pf + jf)) != len(pf + jf):
        raise DatasetError("a feature is listed twice")
    return pf, jf, colls.pop() if colls else None


def count_jets(selected: list[tuple[str, Path]], wanted) -> int:
    """Jets in the files (metadata), or of the wanted labels (their ``jet_label`` column)."""
    n = 0
    for _cat, path in selected:
        if wanted is None:
            n += pq.ParquetFile(path).metadata.num_rows if path.suffix == ".parquet" else uproot.open(path)["tree"].num_entries
        else:
            n += int(np.isin(_labels_of(path), wanted).sum())
    return n


def _labels_of(path: Path) -> np.ndarray:
    if path.suffix == ".parquet":
        return pq.read_table(path, columns=["jet_label"]).column(0).to_numpy()
    return uproot.open(path)["tree"]["jet_label"].array(library="np")


def chunks(selected, pf, jf, wanted, num_particles, step_size) -> Iterator[dict]:
    """Column sets of the selected jets, lists cut at ``num_particles``."""
    names = list(dict.fromkeys([*pf, *jf, "jet_label"]))
    for _cat, path in selected:
        for cols in _read_chunks(path, names, step_size):
            labels = cols["jet_label"]
            keep = np.arange(len(labels)) if wanted is None else np.flatnonzero(np.isin(labels, wanted))
            if len(keep):
                yield _select(cols, keep, num_particles)


def get_data(source, split="train", categories=None, labels=None, particle_features=DEFAULT_PARTICLE_FEATURES,
             jet_features=DEFAULT_JET_FEATURES, num_particles: int = 128, max_jets: int | None = None,
             pad_value: float = 0.0, dtype=np.float32, step_size: int = 100_000) -> JetData:
    """Particle and jet arrays of the selected jets, in file order (see the module docstring).

    source             dataset directory (ours or published), a list of files, or one file
    split              ``train``, ``val``, ``test``, ``all`` or a list (files without split information: ``all``)
    categories/labels  as :func:`jetdata.load` (label names, Sophon group names or indices)
    num_particles      width P of the particle array (longer jets cut, shorter zero-padded)
    Raises :class:`~jetdata.DatasetError` when the selection holds no jet.
    """
    if num_particles < 1:
        raise DatasetError(f"num_particles must be at least 1, got {num_particles}")
    pf, jf, _ = check_features(particle_features, jet_features)
    wanted = resolve_labels(labels)
    selected = files(source, split, categories)
    n = count_jets(selected, wanted)
    if max_jets is not None:
        n = min(n, max_jets)
    if n == 0:
        raise DatasetError(f"{source}: no jets selected (split={split!r}, categories={categories!r}, labels={labels!r})")
    particles = np.zeros((n, num_particles, len(pf)), dtype=dtype)
    mask = np.zeros((n, num_particles), dtype=bool)
    jets = np.zeros((n, len(jf)), dtype=dtype)
    out_labels = np.zeros(n, dtype=np.int64)
    if pad_value != 0:
        particles[...] = pad_value
    at = 0
    for cols in chunks(selected, pf, jf, wanted, num_particles, step_size):
        take = min(len(cols["jet_label"]), n - at)
        if take < len(cols["jet_label"]):
            cols = _select(cols, np.arange(take), None)
        at += fill(cols, pf, jf, particles, mask, jets, out_labels, at)
        if at >= n:
            break
    return JetData(particles, mask, jets, out_labels, pf, jf)


def fill(cols: dict, pf, jf, particles, mask, jets, labels, at: int) -> int:
    """Write a chunk's jets (lists already cut to the width) at row ``at`` of arrays that hold the
    padding (fresh); returns the number of jets. Vectorised: one scatter per feature."""
    n = len(cols["jet_label"])
    if pf:
        offsets = cols[pf[0]][0]
        counts = np.diff(offsets)
        rows = np.repeat(np.arange(at, at + n), counts)
        pos = np.arange(offsets[-1]) - np.repeat(offsets[:-1], counts)
        mask[rows, pos] = True
        for k, name in enumerate(pf):
            particles[rows, pos, k] = cols[name][1]
    for k, name in enumerate(jf):
        jets[at:at + n, k] = cols[name]
    labels[at:at + n] = cols["jet_label"]
    return n
