"""A torch ``IterableDataset`` of JetClass-II jets for training outside weaver (needs the ``train`` extra: torch).

>>> from torch.utils.data import DataLoader
>>> from jetclass2.jetdata.torchdata import JetIterableDataset
>>> ds = JetIterableDataset("results/dataset", split="train", num_particles=128, shuffle_buffer=100_000,
...                         seed=1, batch_size=256)
>>> loader = DataLoader(ds, batch_size=None, num_workers=4)   # the dataset batches
>>> for epoch in range(10):
...     ds.set_epoch(epoch)
...     for batch in loader: ...   # batch["particles"] (256, 128, F), "mask", "jets", "label"

The unit of work is a *piece*: one parquet row group, or ``piece_jets`` entries of a ROOT file.
Each epoch the pieces are permuted (seed, epoch) and dealt round robin to the ``world_size x
num_workers`` readers (rank from ``torch.distributed`` when initialised, worker from the
DataLoader), so every jet is read exactly once per epoch. Each reader shuffles its jets through a
bounded buffer of ``shuffle_buffer`` jets (seed, epoch, reader): memory is bounded by the buffer
plus one piece, and a buffer at least as large as a file's row group mixes the jets of several
files. With ``batch_size`` the dataset yields batches (use ``DataLoader(batch_size=None)``): far
fewer Python objects than one item per jet.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
import uproot
from torch.utils.data import IterableDataset, get_worker_info

from jetclass2.packing.columns import from_batch

from .arrays import DEFAULT_JET_FEATURES, DEFAULT_PARTICLE_FEATURES, check_features, fill
from .loader import DatasetError, _select, columns_of, files, resolve_labels


def pieces_of(selected: list[tuple[str, Path]], piece_jets: int) -> list[tuple[Path, int, int, int]]:
    """``(path, row_group, start, stop)`` pieces of the files: parquet row groups, ROOT entry ranges
    (row_group -1). Read from the metadata only."""
    out = []
    for _cat, path in selected:
        if path.suffix == ".parquet":
            md = pq.ParquetFile(path).metadata
            start = 0
            for i in range(md.num_row_groups):
                n = md.row_group(i).num_rows
                out.append((path, i, start, start + n))
                start += n
        else:
            n = uproot.open(path)["tree"].num_entries
            out += [(path, -1, a, min(a + piece_jets, n)) for a in range(0, n, piece_jets)]
    return [p for p in out if p[3] > p[2]]


def read_piece(piece, names: list[str]) -> dict:
    """Columns (name -> values, or (offsets, values)) of one piece."""
    path, group, start, stop = piece
    if group >= 0:
        return from_batch(pq.ParquetFile(path).read_row_group(group, columns=names).combine_chunks().to_batches()[0])
    return columns_of(uproot.open(path)["tree"].arrays(names, entry_start=start, entry_stop=stop, library="ak"), names)


class JetIterableDataset(IterableDataset):
    """Jets as ``{"particles": (P, F), "mask": (P,), "jets": (Fj,), "label": ()}`` tensors (batched with
    ``batch_size``), sharded over ranks x workers, shuffled through a bounded buffer (module docstring).

    source, split, categories, labels, particle_features, jet_features, num_particles: as :func:`jetdata.get_data`
    shuffle          False: pieces and jets in file order (each reader its own pieces)
    shuffle_buffer   jets held per reader for the shuffle
    seed             with the epoch (:meth:`set_epoch`), fixes the order entirely
    rank, world_size default: torch.distributed's when initialised, else 0 and 1
    """

    def __init__(self, source, split="train", categories=None, labels=None, particle_features=DEFAULT_PARTICLE_FEATURES,
                 jet_features=DEFAULT_JET_FEATURES, num_particles: int = 128, shuffle: bool = True,
                 shuffle_buffer: int = 100_000, seed: int = 0, batch_size: int | None = None, rank: int | None = None,
                 world_size: int | None = None, piece_jets: int = 10_000, dtype=np.float32):
        super().__init__()
        if num_particles < 1 or shuffle_buffer < 0 or piece_jets < 1 or (batch_size is not None and batch_size < 1):
            raise DatasetError("num_particles, piece_jets and batch_size must be at least 1, shuffle_buffer >= 0")
        self.pf, self.jf, _ = check_features(particle_features, jet_features)
        self.wanted = resolve_labels(labels)
        self.pieces = pieces_of(files(source, split, categories), piece_jets)
        if not self.pieces:
            raise DatasetError(f"{source}: no jets selected (split={split!r}, categories={categories!r})")
        self.names = list(dict.fromkeys([*self.pf, *self.jf, "jet_label"]))
        self.num_particles, self.shuffle, self.shuffle_buffer = num_particles, shuffle, shuffle_buffer
        self.seed, self.batch_size, self.rank, self.world_size, self.dtype = seed, batch_size, rank, world_size, dtype
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (another order of pieces and jets); call before iterating, in every rank."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        """Jets of all readers together (without a label selection; with one, an upper bound)."""
        return sum(p[3] - p[2] for p in self.pieces)

    def _reader(self) -> tuple[int, int]:
        rank, world = self.rank, self.world_size
        if rank is None or world is None:
            dist = torch.distributed.is_available() and torch.distributed.is_initialized()
            rank = (torch.distributed.get_rank() if dist else 0) if rank is None else rank
            world = (torch.distributed.get_world_size() if dist else 1) if world is None else world
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        return rank * workers + worker, world * workers

    def my_pieces(self) -> list:
        """The pieces this reader (rank, worker) reads this epoch, in reading order."""
        reader, readers = self._reader()
        order = np.arange(len(self.pieces))
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(order)  # the same in every reader
        return [self.pieces[i] for i in order[reader::readers]]

    def _arrays(self, piece) -> dict | None:
        cols = read_piece(piece, self.names)
        keep = np.arange(len(cols["jet_label"])) if self.wanted is None else np.flatnonzero(np.isin(cols["jet_label"], self.wanted))
        if not len(keep):
            return None
        cols = _select(cols, keep, self.num_particles)
        n = len(keep)
        out = {"particles": np.zeros((n, self.num_particles, len(self.pf)), self.dtype),
               "mask": np.zeros((n, self.num_particles), bool), "jets": np.zeros((n, len(self.jf)), self.dtype),
               "label": np.zeros(n, np.int64)}
        fill(cols, self.pf, self.jf, out["particles"], out["mask"], out["jets"], out["label"], 0)
        return out

    def _shuffled(self):
        """Blocks of jets (dict of arrays) in the order of this reader."""
        reader, _ = self._reader()
        pieces = self.my_pieces()
        if not self.shuffle:
            for piece in pieces:
                block = self._arrays(piece)
                if block is not None:
                    yield block
            return
        rng = np.random.default_rng([self.seed, self.epoch, reader])
        cap = self.shuffle_buffer + max((p[3] - p[2] for p in pieces), default=0)
        store, used = None, np.zeros(cap, bool)
        for piece in pieces:
            block = self._arrays(piece)
            if block is None:
                continue
            if store is None:
                store = {k: np.zeros((cap, *v.shape[1:]), v.dtype) for k, v in block.items()}
            free = np.flatnonzero(~used)[:len(block["label"])]
            for k, v in block.items():
                store[k][free] = v
            used[free] = True
            excess = int(used.sum()) - self.shuffle_buffer
            if excess > 0:  # emit a random subset, keep shuffle_buffer jets
                out = rng.choice(np.flatnonzero(used), size=excess, replace=False)
                used[out] = False
                yield {k: v[out] for k, v in store.items()}
        if store is not None and used.any():
            rest = rng.permutation(np.flatnonzero(used))
            yield {k: v[rest] for k, v in store.items()}

    def __iter__(self):
        pending = None
        for block in self._shuffled():
            if self.batch_size is None:
                for i in range(len(block["label"])):
                    yield {k: torch.from_numpy(np.asarray(v[i])) for k, v in block.items()}
                continue
            if pending is not None:
                block = {k: np.concatenate([pending[k], v]) for k, v in block.items()}
            n = len(block["label"])
            full = n - n % self.batch_size
            for a in range(0, full, self.batch_size):
                yield {k: torch.from_numpy(v[a:a + self.batch_size]) for k, v in block.items()}
            pending = {k: v[full:] for k, v in block.items()} if full < n else None
        if pending is not None:
            yield {k: torch.from_numpy(v) for k, v in pending.items()}
