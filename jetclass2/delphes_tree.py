"""The Delphes ROOT tree layout: the one module that writes and reads Delphes-format files.

Real Delphes writes TClonesArray split branches: a counter ``Particle_size`` and
leaves ``Particle.PID``, ``Particle.Px``, ... inside a ``Particle`` branch. uproot
addresses a leaf by its full name (``tree["Particle.PID"]``) whether it sits inside
a parent branch (real Delphes) or at top level (files written here), so one reader
serves both. Only the collections and fields listed below are written; other
Delphes fields are optional for every consumer of this project.
"""
from __future__ import annotations

import logging
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import cramjam
import numpy as np
import uproot

from .atomic import output_errors, temporary_name
from .rootfile import open_output

log = logging.getLogger(__name__)

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


def jagged_records(columns: dict[str, np.ndarray], counts: np.ndarray) -> ak.Array:
    """``events * var * record`` from flat columns (one value per object) and objects per event.

    The same array as ``ak.zip({k: ak.unflatten(v, counts)}, depth_limit=2)``, built from its
    layout directly: awkward's generic functions cost ~0.1 ms per field and call, which for
    Delphes' ~20 fields per collection outweighs the numpy work of a batch.
    """
    counts = np.asarray(counts, dtype=np.int64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    n = int(offsets[-1])
    contents = []
    for k, v in columns.items():
        v = np.asarray(v)
        if v.ndim != 1 or len(v) != n:
            raise ValueError(f"column {k!r} has shape {v.shape}, {n} values expected")
        contents.append(ak.contents.NumpyArray(v))
    record = ak.contents.RecordArray(contents, list(columns), length=n)
    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), record))


def flat_columns(array: ak.Array, fields=None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(objects per event, {field: flat numpy values}) of an ``events * var * record`` array.

    Reads the layout directly where it is a list of records of numeric columns (what this project
    builds); any other layout goes through ``ak.flatten``. The values are views where possible.
    """
    fields = list(array.fields) if fields is None else list(fields)
    layout = ak.to_layout(array)
    if isinstance(layout, ak.contents.ListOffsetArray) and isinstance(layout.content, ak.contents.RecordArray):
        offsets = np.asarray(layout.offsets.data, dtype=np.int64)
        lo, hi = int(offsets[0]), int(offsets[-1])
        rec = layout.content
        out = {}
        for f in fields:
            c = rec.content(f)
            if not isinstance(c, ak.contents.NumpyArray) or c.data.ndim != 1:
                break
            out[f] = np.asarray(c.data)[lo:hi]
        else:
            return np.diff(offsets), out
    counts = np.asarray(ak.num(array, axis=1), dtype=np.int64)
    flat = ak.flatten(array[fields], axis=1)
    return counts, {f: np.asarray(ak.to_numpy(flat[f])) for f in fields}


def _as_record(collection: str, array: ak.Array, path: Path) -> ak.Array:
    spec = COLLECTIONS[collection]
    missing = [f for f in spec if f not in array.fields]
    if missing:
        raise ValueError(f"{path}: collection {collection!r} lacks fields {missing}")
    counts, cols = flat_columns(array, spec)
    return jagged_records({f: cols[f].astype(dt, copy=False) for f, dt in spec.items()}, counts)


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
        self.tmp = temporary_name(self.path)
        self._root = None
        self._file = None
        self._tree = None
        self._collections: list[str] | None = None
        self.n_events = 0

    def __enter__(self) -> "DelphesWriter":
        self._root, self._file = open_output(self.path, self.tmp)  # jetclass2.rootfile
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
        with output_errors(self.path):
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
        renamed = False
        try:
            with output_errors(self.path):
                try:
                    if self._file is not None and self._tree is None and exc_type is None:
                        # An empty job still yields a valid file with the full layout.
                        self._tree = self._file.mktree(
                            TREE_NAME,
                            {name: _empty_type(name) for name in COLLECTIONS},
                            counter_name=lambda counted: f"{counted}_size",
                            field_name=lambda outer, inner: inner if outer == "" else f"{outer}.{inner}",
                        )
                finally:
                    if self._root is not None:
                        self._root.__exit__(exc_type, exc, tb)  # closes the file
                        self._root = None
                if exc_type is None:
                    os.replace(self.tmp, self.path)
                    renamed = True
        finally:
            if not renamed:
                self.tmp.unlink(missing_ok=True)


def _empty_type(collection: str):
    fields = {f: np.zeros(0, dtype=dt) for f, dt in COLLECTIONS[collection].items()}
    return ak.zip({k: ak.unflatten(v, np.zeros(0, dtype=np.int64)) for k, v in fields.items()}, depth_limit=2).type


# ---- reading -------------------------------------------------------------------------

PARTICLE_FIELDS = ["PID", "Status", "M1", "M2", "D1", "D2", "Charge", "Mass", "E", "PT", "Eta", "Phi", "T", "X", "Y", "Z"]
PFCAND_FIELDS = ["PID", "Charge", "PT", "Eta", "Phi", "Mass", "E", "D0", "DZ", "ErrorD0", "ErrorDZ"]
VERTEX_FIELDS = ["Z", "T"]
# Older Delphes writers store the calorimeter-hit eta of a track in ``Eta``; the momentum
# direction that Delphes clustered is in ``CtgTheta`` (cot theta = sinh eta). Read when present.
PFCAND_DIRECTION_FIELD = "CtgTheta"


class DelphesInputError(RuntimeError):
    """A Delphes-format file that cannot be read; the message names the file and the problem."""


def _one_line(exc: BaseException) -> str:
    """An exception as one line (uproot's messages span several)."""
    return f"{type(exc).__name__}: " + " ".join(str(exc).split())


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


def _fast_inflate():
    """The fastest zlib inflater installed: libdeflate (``deflate``), ISA-L (``isal``) or the
    standard library, as ``inflate(data, size)``; the same bytes from each. uproot is pointed at
    ISA-L too where installed (it supports it; the choice is not public API, so a change there
    leaves uproot on the standard library). Writing is unaffected."""
    try:
        import isal.isal_zlib as isal_zlib
    except ImportError:
        isal_zlib = None
    inflater = getattr(uproot.compression, "_decompress_ZLIB", None)
    if isal_zlib is not None and inflater is not None and getattr(inflater, "library", None) == "zlib":
        inflater.library = "isal"
    try:
        import deflate

        deflate.zlib_decompress(zlib.compress(b"x"), 1)  # its signature changed between releases
        return lambda data, size: deflate.zlib_decompress(data, size)
    except Exception:  # not installed, or an unexpected signature
        pass
    if isal_zlib is not None:
        return lambda data, size: isal_zlib.decompress(data, bufsize=size)
    return lambda data, size: zlib.decompress(data, bufsize=size)


_inflate = _fast_inflate()


def open_tree(path: str | Path):
    """Open ``path`` and return its Delphes tree, with clear errors for bad files."""
    path = Path(path)
    if not path.exists():
        raise DelphesInputError(f"{path}: file does not exist")
    if path.stat().st_size == 0:
        raise DelphesInputError(f"{path}: file is empty (0 bytes)")
    try:
        f = uproot.open(path)
    except Exception as exc:  # uproot raises several types for non-ROOT or truncated files
        raise DelphesInputError(f"{path}: not a readable ROOT file ({_one_line(exc)})") from exc
    try:
        tree = f[TREE_NAME]
    except Exception as exc:
        keys = ", ".join(k.split(";")[0] for k in f.keys()) or "none"
        raise DelphesInputError(f"{path}: no TTree '{TREE_NAME}' (objects in file: {keys})") from exc
    if not isinstance(tree, uproot.TTree):
        raise DelphesInputError(f"{path}: '{TREE_NAME}' is a {type(tree).__name__}, not a TTree")
    return tree


def _require(tree, path: Path, collection: str, fields: list[str]) -> list[str]:
    """The full names of ``fields``; ``tree``: an uproot tree or a :func:`_branch_map`."""
    names = [f"{collection}.{f}" for f in fields]
    missing = [n for n in names if n not in tree]
    if missing:
        raise DelphesInputError(f"{path}: missing branch(es) {', '.join(missing)} in tree '{TREE_NAME}'")
    return names


def _read(tree, path: Path, names: list[str], start: int, stop: int) -> ak.Array:
    try:
        return tree.arrays(names, entry_start=start, entry_stop=stop)
    except Exception as exc:
        raise DelphesInputError(f"{path}: cannot read entries {start}-{stop - 1} ({_one_line(exc)}); "
                                "the file may be truncated or corrupt") from exc


def check_finite(arrays: ak.Array, path: Path, first_entry: int) -> None:
    """Refuse NaN or infinite values in the floating-point branches of ``arrays`` (entries from
    ``first_entry`` on): a :class:`DelphesInputError` naming the file, the event and the branch."""
    for name in arrays.fields:
        column = arrays[name]
        values = np.asarray(ak.flatten(column, axis=None))
        if values.dtype.kind != "f":
            continue
        bad = ~np.isfinite(values)
        if bad.any():
            k = int(np.argmax(bad))
            counts = np.asarray(ak.num(column, axis=1)) if column.ndim > 1 else np.ones(len(column), dtype=np.int64)
            event = first_entry + int(np.searchsorted(np.cumsum(counts), k, side="right"))
            raise DelphesInputError(f"{path}: event {event}: branch {name} holds {values[k]} "
                                    f"(non-finite values are refused; {int(bad.sum())} in entries "
                                    f"{first_entry}-{first_entry + len(column) - 1})")


def _check_finite_columns(columns: dict, path: Path, first_entry: int) -> None:
    """:func:`check_finite` on flat columns ``name -> (values, offsets or None)`` (same message)."""
    for name, (values, offsets) in columns.items():
        if values.dtype.kind != "f" or np.isfinite(values).all():
            continue
        bad = ~np.isfinite(values)
        k = int(np.argmax(bad))
        n = len(values) if offsets is None else len(offsets) - 1
        event = first_entry + (k if offsets is None else int(np.searchsorted(offsets[1:], k, side="right")))
        raise DelphesInputError(f"{path}: event {event}: branch {name} holds {values[k]} "
                                f"(non-finite values are refused; {int(bad.sum())} in entries "
                                f"{first_entry}-{first_entry + n - 1})")


def _branch_map(tree) -> dict:
    """Every branch of ``tree`` by name (top level first). uproot resolves a dotted name by a
    recursive search per lookup; the ntuplizer looks up ~50 names per file."""
    out, level = {}, list(tree.branches)
    while level:
        for b in level:
            out.setdefault(b.name, b)
        level = [sub for b in level for sub in b.branches]
    return out


class _BasketReader:
    """Reads numeric leaves of TClonesArray-split or counted (``[<coll>_size]``) branches straight
    from their ROOT baskets: a TKey header, zlib blocks (or raw bytes), the values back to back.

    uproot reads the same bytes, but spends more time per basket in Python than the inflation
    itself takes (Delphes writes a few kB per event into baskets of a few events). Anything
    this reader does not expect (another compression algorithm, baskets still held in the tree
    header, counts that do not add up, a short read) raises :class:`_NotPlain` and the caller
    reads the chunk with uproot instead, which also reports a damaged file properly.
    """

    _HEADER = struct.Struct(">ihiIh")  # TKey: fNbytes, fVersion, fObjlen, fDatime, fKeylen

    def __init__(self, path: Path, tree, names: list[str], branches: dict | None = None):
        self.n_entries = tree.num_entries
        self.leaves, self.counts = {}, {}
        branches = branches if branches is not None else _branch_map(tree)
        counters = []
        for name in names:
            jagged = self._add_leaf(name, branches.get(name))
            counter = name.split(".")[0] + "_size" if jagged else None
            self.leaves[name] += (counter,)
            if counter is not None and counter not in counters:
                counters.append(counter)
        self.file = open(path, "rb")
        try:
            # the counters (one int per event) through the same basket path: uproot's array()
            # machinery costs more than the whole file's counters take to inflate
            for counter in counters:
                if self._add_leaf(counter, branches.get(counter)):
                    raise _NotPlain(counter)
                self.leaves[counter] += (None,)
                self.counts[counter] = self.leaf(counter, 0, self.n_entries).astype(np.int64)
        except BaseException:
            self.file.close()
            raise

    def _add_leaf(self, name: str, branch) -> bool:
        """Register the baskets of a plain numeric leaf; True if it is jagged (counted)."""
        if branch is None:
            raise _NotPlain(name)
        interp = branch.interpretation
        jagged = isinstance(interp, uproot.interpretation.jagged.AsJagged)
        content = interp.content if jagged else interp
        if (jagged and interp.header_bytes != 0) or type(content) is not uproot.interpretation.numerical.AsDtype:
            raise _NotPlain(name)
        nb = branch.num_baskets
        entry = np.asarray(branch.member("fBasketEntry"), dtype=np.int64)[: nb + 1]
        if len(entry) != nb + 1 or entry[-1] != self.n_entries:
            raise _NotPlain(name)  # baskets kept in the TTree header (recovered files)
        self.leaves[name] = (np.dtype(content.from_dtype), entry,
                             np.asarray(branch.member("fBasketSeek"), dtype=np.int64)[:nb],
                             np.asarray(branch.member("fBasketBytes"), dtype=np.int64)[:nb])
        return jagged

    def close(self) -> None:
        self.file.close()

    def _basket(self, seek: int, nbytes: int, itemsize: int) -> bytes:
        self.file.seek(seek)
        raw = self.file.read(nbytes)
        if len(raw) != nbytes:
            raise _NotPlain("short read")
        _, _, objlen, _, keylen = self._HEADER.unpack_from(raw)
        (last,) = struct.unpack_from(">i", raw, keylen - 5)  # TBasket fLast: end of the values
        if nbytes - keylen == objlen:
            data = raw[keylen:]
        else:
            blocks, pos = [], keylen
            while pos < nbytes:  # ROOT compression blocks: 9-byte header, then the stream
                algorithm = raw[pos:pos + 2]
                csize = int.from_bytes(raw[pos + 3:pos + 6], "little")
                usize = int.from_bytes(raw[pos + 6:pos + 9], "little")
                if algorithm == b"ZL":
                    blocks.append(_inflate(raw[pos + 9:pos + 9 + csize], usize))
                elif algorithm == b"ZS":
                    blocks.append(bytes(cramjam.zstd.decompress(raw[pos + 9:pos + 9 + csize], output_len=usize)))
                else:
                    raise _NotPlain("compression other than zlib or zstd")
                if len(blocks[-1]) != usize:
                    raise _NotPlain("inflated size")
                pos += 9 + csize
            data = b"".join(blocks)
        size = last - keylen
        if size < 0 or size > len(data) or size % itemsize:
            raise _NotPlain("basket layout")
        return data[:size]

    def leaf(self, name: str, start: int, stop: int) -> np.ndarray:
        """Values of entries ``start:stop`` (flat, native byte order)."""
        dtype, entry, seek, nbytes, counter = self.leaves[name]
        ks = np.flatnonzero((entry[:-1] < stop) & (entry[1:] > start))
        data = b"".join(self._basket(int(seek[k]), int(nbytes[k]), dtype.itemsize) for k in ks)
        values = np.frombuffer(data, dtype=dtype)
        first, end = int(entry[ks[0]]), int(entry[ks[-1] + 1])
        counts = self.counts[counter] if counter else np.ones(self.n_entries, dtype=np.int64)
        if len(values) != counts[first:end].sum():
            raise _NotPlain(f"{name}: values and counts differ")
        skip = int(counts[first:start].sum())
        return values[skip:skip + int(counts[start:stop].sum())].astype(dtype.newbyteorder("="))

    def columns(self, names: list[str], start: int, stop: int) -> dict:
        """Entries ``start:stop`` as flat columns ``name -> (values, offsets)`` (offsets None for
        a leaf with one value per event)."""
        out, offsets_of = {}, {}
        for name in names:
            values = self.leaf(name, start, stop)
            counter = self.leaves[name][4]
            offsets = None
            if counter is not None:
                offsets = offsets_of.get(counter)
                if offsets is None:
                    offsets = offsets_of[counter] = np.zeros(stop - start + 1, dtype=np.int64)
                    np.cumsum(self.counts[counter][start:stop], out=offsets[1:])
            out[name] = (values, offsets)
        return out

    def arrays(self, names: list[str], start: int, stop: int) -> ak.Array:
        """Like ``tree.arrays(names, entry_start=start, entry_stop=stop)``."""
        out = {}
        for name, (values, offsets) in self.columns(names, start, stop).items():
            if offsets is None:
                out[name] = values
            else:
                out[name] = ak.contents.ListOffsetArray(ak.index.Index64(offsets), ak.contents.NumpyArray(values))
        return ak.zip({k: ak.Array(v) for k, v in out.items()}, depth_limit=1)


class _NotPlain(Exception):
    """A branch or basket the fast reader leaves to uproot."""


def _basket_reader(path: Path, tree, names: list[str], branches: dict | None = None) -> _BasketReader | None:
    try:
        return _BasketReader(path, tree, names, branches)
    except (_NotPlain, OSError, KeyError, ValueError, AttributeError, TypeError):
        return None


def _ak_columns(arrays: ak.Array) -> dict:
    """``tree.arrays`` output as flat columns ``name -> (values, offsets or None)``."""
    out = {}
    for name in arrays.fields:
        column = arrays[name]
        if column.ndim > 1:
            counts = np.asarray(ak.num(column, axis=1), dtype=np.int64)
            offsets = np.zeros(len(counts) + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            out[name] = (np.asarray(ak.to_numpy(ak.flatten(column, axis=1))), offsets)
        else:
            out[name] = (np.asarray(ak.to_numpy(column)), None)
    return out


def _record(columns: dict, collection: str, fields: list[str], extra: dict | None = None) -> ak.Array:
    """events * var * record of the flat ``columns`` of one collection (all share one counter)."""
    offsets = columns[f"{collection}.{fields[0]}"][1]
    contents = [ak.contents.NumpyArray(columns[f"{collection}.{f}"][0]) for f in fields]
    names = list(fields)
    for name, values in (extra or {}).items():
        contents.append(ak.contents.NumpyArray(values))
        names.append(name)
    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets),
                                                ak.contents.RecordArray(contents, names, length=int(offsets[-1]))))


def _zip(arrays: ak.Array, collection: str, fields: list[str]) -> ak.Array:
    return ak.zip({f: arrays[f"{collection}.{f}"] for f in fields}, depth_limit=2)


def iterate_events(path: str | Path, step: int = 2000, tree=None, particle_fields=None):
    """Yield :class:`DelphesEvents` chunks of at most ``step`` events from ``path``.

    ``tree``: the already opened Delphes tree of ``path`` (opening a Delphes file is costly);
    ``particle_fields``: the ``Particle`` fields to read (default :data:`PARTICLE_FIELDS`).
    """
    path = Path(path)
    tree = tree if tree is not None else open_tree(path)
    particle_fields = list(particle_fields) if particle_fields is not None else PARTICLE_FIELDS
    branches = _branch_map(tree)
    pnames = _require(branches, path, "Particle", particle_fields)
    cnames = _require(branches, path, "ParticleFlowCandidate", PFCAND_FIELDS)
    direction = f"ParticleFlowCandidate.{PFCAND_DIRECTION_FIELD}"
    dnames = [direction] if direction in branches else []
    has_vertex_branch = "Vertex.Z" in branches and "Vertex.T" in branches
    vnames = [f"Vertex.{f}" for f in VERTEX_FIELDS] if has_vertex_branch else []
    n = tree.num_entries
    if n == 0:
        log.warning("%s: tree '%s' has no events", path, TREE_NAME)
        return
    names = pnames + cnames + dnames + vnames
    fast = _basket_reader(path, tree, names, branches)
    try:
        for start in range(0, n, step):
            stop = min(n, start + step)
            columns = None
            if fast is not None:
                try:
                    columns = fast.columns(names, start, stop)
                except Exception:  # any failure of the fast path: uproot reads the chunk
                    columns = None  # uproot reads it (and names the problem if the file is damaged)
            if columns is None:
                columns = _ak_columns(_read(tree, path, names, start, stop))
            yield _events(columns, path, start, stop, particle_fields, direction if dnames else None, has_vertex_branch)
    finally:
        if fast is not None:
            fast.close()


def _events(columns: dict, path: Path, start: int, stop: int, particle_fields: list[str],
            direction: str | None, has_vertex_branch: bool) -> DelphesEvents:
    """:class:`DelphesEvents` of entries ``start:stop`` from the flat columns read."""
    _check_finite_columns(columns, path, start)
    particles = _record(columns, "Particle", particle_fields)
    eta = _momentum_eta_flat(columns, direction)
    pfcands = _record(columns, "ParticleFlowCandidate", PFCAND_FIELDS, {"MomentumEta": eta})
    if has_vertex_branch:
        z, offsets = columns["Vertex.Z"]
        t = columns["Vertex.T"][0]
        has_pv = np.diff(offsets) > 0
        first = np.minimum(offsets[:-1], max(len(z) - 1, 0))
        pv_z = np.where(has_pv, z[first] if len(z) else 0.0, 0.0).astype(np.float64)
        pv_t = np.where(has_pv, t[first] if len(t) else 0.0, 0.0).astype(np.float64)
    else:
        has_pv = np.zeros(stop - start, dtype=bool)
        pv_z = np.zeros(stop - start)
        pv_t = np.zeros(stop - start)
    return DelphesEvents(particles, pfcands, pv_z, pv_t, has_pv)


def _momentum_eta_flat(columns: dict, direction: str | None) -> np.ndarray:
    """Pseudorapidity of the candidates' momenta (what Delphes clustered), flat."""
    eta = columns["ParticleFlowCandidate.Eta"][0]
    if direction is None:
        return eta
    ctg = columns[direction][0]
    # zero-momentum candidates carry CtgTheta = 1e10: keep their stored Eta (unused for them)
    usable = (columns["ParticleFlowCandidate.PT"][0] > 0) & (np.abs(ctg) < 1e9)
    return np.where(usable, np.arcsinh(ctg.astype(np.float64)), eta)


def count_events(path: str | Path) -> int:
    """Number of events in the Delphes tree of ``path``."""
    return open_tree(path).num_entries


def iterate_particles(path: str | Path, step: int = 100, entry_stop: int | None = None, tree=None):
    """Yield ``(particles, pv_z, pv_t)`` chunks of the full ``Particle`` record (every field of
    :data:`COLLECTIONS`), with the primary vertex per event (``None`` without a ``Vertex``
    collection). Unreadable entries and non-finite values raise :class:`DelphesInputError`."""
    path = Path(path)
    tree = tree if tree is not None else open_tree(path)
    fields = list(COLLECTIONS["Particle"])
    names = _require(tree, path, "Particle", fields)
    has_vertex = "Vertex.Z" in tree and "Vertex.T" in tree
    vnames = ["Vertex.Z", "Vertex.T"] if has_vertex else []
    n = tree.num_entries if entry_stop is None else min(entry_stop, tree.num_entries)
    for start in range(0, n, step):
        stop = min(n, start + step)
        arrays = _read(tree, path, names + vnames, start, stop)
        check_finite(arrays, path, start)
        particles = _zip(arrays, "Particle", fields)
        if has_vertex:
            pv_z = np.asarray(ak.fill_none(ak.firsts(arrays["Vertex.Z"]), 0.0), dtype=np.float64)
            pv_t = np.asarray(ak.fill_none(ak.firsts(arrays["Vertex.T"]), 0.0), dtype=np.float64)
            yield particles, pv_z, pv_t
        else:
            yield particles, None, None
