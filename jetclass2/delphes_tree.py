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
    for k, v in columns.items():
        v = np.asarray(v)
        if v.ndim != 1 or len(v) != n:
            raise ValueError(f"column {k!r} has shape {v.shape}, {n} values expected")
    return _list_of_records(offsets, columns)


def _list_of_records(offsets: np.ndarray, columns: dict[str, np.ndarray]) -> ak.Array:
    """``events * var * record`` of flat ``columns`` split at ``offsets`` (int64, events + 1)."""
    contents = [ak.contents.NumpyArray(np.asarray(v)) for v in columns.values()]
    record = ak.contents.RecordArray(contents, list(columns), length=int(offsets[-1]))
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
    return _tree_of(path, _open_file(path))


def _open_file(path: Path):
    if not path.exists():
        raise DelphesInputError(f"{path}: file does not exist")
    if path.stat().st_size == 0:
        raise DelphesInputError(f"{path}: file is empty (0 bytes)")
    try:
        return uproot.open(path)
    except Exception as exc:  # uproot raises several types for non-ROOT or truncated files
        raise DelphesInputError(f"{path}: not a readable ROOT file ({_one_line(exc)})") from exc


def _tree_of(path: Path, f):
    try:
        tree = f[TREE_NAME]
    except Exception as exc:
        keys = ", ".join(k.split(";")[0] for k in f.keys()) or "none"
        raise DelphesInputError(f"{path}: no TTree '{TREE_NAME}' (objects in file: {keys})") from exc
    if not isinstance(tree, uproot.TTree):
        raise DelphesInputError(f"{path}: '{TREE_NAME}' is a {type(tree).__name__}, not a TTree")
    return tree


def open_input(path: str | Path, fast: bool = True) -> "DelphesInput":
    """Open ``path`` for :func:`iterate_events`: the TTree header read by :func:`_scan_header`
    (``fast``), or by uproot where that declines; the same errors as :func:`open_tree`."""
    path = Path(path)
    f = _open_file(path)
    if fast:
        try:
            entries, specs = _scan_header(path, f)
            return DelphesInput(path, f, entries, specs)
        except Exception:  # any surprise in the header: uproot reads it (and names a problem)
            pass
    return DelphesInput(path, f, tree=_tree_of(path, f))


class _HeaderError(Exception):
    """A TTree header layout :func:`_scan_header` does not handle (uproot reads it instead)."""


@dataclass(frozen=True)
class _LeafSpec:
    """What :class:`_BasketReader` needs of one branch, read by :func:`_scan_header`."""

    dtype: np.dtype | None  # big-endian values; None: a layout the basket reader does not read
    jagged: bool  # a TClonesArray member (one count per event in ``<collection>_size``)
    entry: np.ndarray  # first entry of each basket, then the number of entries
    seek: np.ndarray
    nbytes: np.ndarray


# ROOT EDataType codes of TLeafElement.fType, and TLeaf classes, as numpy dtypes
_ELEMENT_DTYPES = {1: ">i1", 2: ">i2", 3: ">i4", 5: ">f4", 8: ">f8", 11: ">u1", 12: ">u2", 13: ">u4",
                   16: ">i8", 17: ">u8", 18: ">?"}
_LEAF_DTYPES = {"TLeafI": (">i4", ">u4"), "TLeafF": (">f4", ">f4"), "TLeafD": (">f8", ">f8"),
                "TLeafL": (">i8", ">u8"), "TLeafS": (">i2", ">u2"), "TLeafB": (">i1", ">u1")}


def _leaf_spec(data: bytes, dtype, jagged: bool, pos: int, max_baskets: int, n: int) -> _LeafSpec:
    """The :class:`_LeafSpec` of a branch whose fBasketBytes array starts at ``data[pos + 1]``
    (fBasketBytes, fBasketEntry, fBasketSeek follow each other, a speed-bump byte before each)."""
    nbytes = np.frombuffer(data, dtype=">i4", count=max_baskets, offset=pos + 1)
    pos += 1 + 4 * max_baskets
    entry = np.frombuffer(data, dtype=">i8", count=max_baskets, offset=pos + 1)
    pos += 1 + 8 * max_baskets
    seek = np.frombuffer(data, dtype=">i8", count=max_baskets, offset=pos + 1)
    empty = np.flatnonzero(seek[:n] == 0)
    n = int(empty[0]) if empty.size else min(n, max_baskets)  # baskets on file, as uproot counts them
    return _LeafSpec(np.dtype(dtype) if dtype else None, jagged, entry[:n + 1].astype(np.int64),
                     seek[:n].astype(np.int64), nbytes[:n].astype(np.int64))


class _Specs(dict):
    """Branch name -> :class:`_LeafSpec`, each built on first look-up (a file has ~350 branches,
    the ntuplizer reads ~30)."""

    def __getitem__(self, name: str) -> _LeafSpec:
        value = dict.__getitem__(self, name)
        if isinstance(value, tuple):
            value = _leaf_spec(*value)
            dict.__setitem__(self, name, value)
        return value

    def get(self, name: str, default=None):
        return self[name] if name in self else default


class _HeaderScanner:
    """A reader of the few TTree header members the basket reader needs (ROOT's streamed layout:
    every object starts with a byte count and a class version, so the rest is skipped by size).
    Only the class versions Delphes' ROOT 6 writes are accepted; anything else: :class:`_HeaderError`."""

    _NEW_CLASS, _CLASS_MASK, _COUNT_MASK = 0xFFFFFFFF, 0x80000000, 0x40000000

    def __init__(self, data: bytes, keylen: int):
        self.data, self.pos, self.keylen, self.classes = data, 0, keylen, {}
        self.branches = _Specs()

    _STRUCTS: dict = {}

    def _unpack(self, fmt: str):
        unpacker = self._STRUCTS.get(fmt)
        if unpacker is None:
            unpacker = self._STRUCTS[fmt] = struct.Struct(fmt)
        values = unpacker.unpack_from(self.data, self.pos)
        self.pos += unpacker.size
        return values

    def _start(self, versions) -> int:
        """Byte count and version of a streamed object; the position of its end."""
        count, version = self._unpack(">Ih")
        if not count & self._COUNT_MASK or version not in versions:
            raise _HeaderError(f"version {version}")
        return self.pos - 2 + (count & ~self._COUNT_MASK)

    def _skip(self) -> None:
        self.pos = self._start(range(0, 1 << 15))

    def _string(self) -> str:
        (n,) = self._unpack(">B")
        if n == 255:
            (n,) = self._unpack(">i")
        self.pos += n
        return self.data[self.pos - n:self.pos].decode("latin-1")

    def _object(self):
        """A pointer to a streamed object: None (null or a reference), a leaf, or a branch
        (registered in :attr:`branches`; None returned)."""
        begin = self.pos
        (count,) = self._unpack(">I")
        if not count & self._COUNT_MASK or count == self._NEW_CLASS:
            if count & self._CLASS_MASK:
                raise _HeaderError("class tag without byte count")
            return None  # null or a reference to an object read before
        end = begin + 4 + (count & ~self._COUNT_MASK)
        tag_pos = self.pos
        (tag,) = self._unpack(">I")
        if tag == self._NEW_CLASS:
            stop = self.data.index(b"\0", self.pos)
            name = self.data[self.pos:stop].decode("latin-1")
            self.pos = stop + 1
            self.classes[tag_pos + self.keylen + 2] = name  # ROOT's offset of the class tag
        elif tag & self._CLASS_MASK:
            name = self.classes.get(tag & ~self._CLASS_MASK)
            if name is None:
                raise _HeaderError("unknown class reference")
        else:
            raise _HeaderError("object reference with byte count")
        out = None
        if name in ("TBranch", "TBranchElement"):
            self._branch(name)
        elif name == "TLeafElement" or name in _LEAF_DTYPES:
            out = self._leaf(name)
        else:
            raise _HeaderError(f"class {name}")
        if self.pos != end:
            raise _HeaderError(f"{name} size")
        return out

    def _array(self) -> list:
        """A TObjArray of branches or leaves."""
        end = self._start((3,))
        self._skip_tobject()
        self._string()
        n, _ = self._unpack(">ii")
        items = [self._object() for _ in range(n)]
        if self.pos != end:
            raise _HeaderError("TObjArray size")
        return items

    def _skip_tobject(self) -> None:
        _, _, bits = self._unpack(">hII")
        if bits & 0x10:  # kIsReferenced: a process id follows
            self.pos += 2

    def _leaf(self, cls: str):
        """(dtype or None, fLen, has a leaf count) of a leaf."""
        end = self._start((1,))
        self._start((2,))  # TLeaf
        self.pos = self._start((1,))  # TNamed
        length, _, _, _, unsigned = self._unpack(">iii??")
        begin = self.pos
        self._object()  # fLeafCount
        counted = self.data[begin:begin + 4] != b"\0\0\0\0"
        if cls == "TLeafElement":
            _, ftype = self._unpack(">ii")
            dtype = _ELEMENT_DTYPES.get(ftype)
        else:
            dtype = _LEAF_DTYPES[cls][unsigned]
        self.pos = end
        return dtype, length, counted

    def _branch(self, cls: str) -> None:
        end = self._start((10,)) if cls == "TBranchElement" else None
        branch_end = self._start((13,))
        named_end = self._start((1,))
        self._skip_tobject()
        name = self._string()
        self.pos = named_end
        self._skip()  # TAttFill
        _, _, _, write_basket, _ = self._unpack(">iiiiq")  # fCompress ... fEntryNumber
        self._skip()  # fIOFeatures
        _, max_baskets, _, _, _, _, _ = self._unpack(">iIiqqqq")
        self._array()  # sub-branches register themselves
        leaves = self._array()
        self.pos = self._start((3,))  # fBaskets: skipped (uproot skips it too)
        arrays = self.pos, max_baskets  # fBasketBytes, fBasketEntry, fBasketSeek: read on demand
        if self.pos + 3 + 20 * max_baskets > branch_end:
            raise _HeaderError("basket arrays")
        self.pos = branch_end
        ftype = None
        if cls == "TBranchElement":
            self._string(), self._string(), self._string()
            _, _, _, ftype, _, _ = self._unpack(">Ihiiii")
            self.pos = end
        self._add(name, cls, ftype, leaves, arrays, write_basket)

    def _add(self, name: str, cls: str, ftype, leaves: list, arrays: tuple, n: int) -> None:
        dtype, jagged = None, False
        if len(leaves) == 1 and leaves[0] is not None:
            leaf_dtype, length, counted = leaves[0]
            if cls == "TBranch" and length == 1:  # a scalar, or a variable-length array (uproot writes these)
                dtype, jagged = leaf_dtype, counted
            elif cls == "TBranchElement" and ftype == 31 and length == 1 and counted:  # the clones count
                dtype, jagged = leaf_dtype, True
        if name not in self.branches:
            self.branches[name] = (self.data, dtype, jagged, *arrays, n)

    def tree(self) -> tuple[int, dict]:
        """(entries, {branch name: :class:`_LeafSpec`}) of the TTree streamed in ``data``."""
        self._start((20,))
        for _ in range(4):  # TNamed, TAttLine, TAttFill, TAttMarker
            self._skip()
        values = self._unpack(">qqqqqdiiiiIqqqqqq")
        entries, n_ranges = values[0], values[10]
        self.pos += 2 + 16 * n_ranges  # fClusterRangeEnd, fClusterSize (a speed-bump byte each)
        self._skip()  # fIOFeatures
        self._array()
        return entries, self.branches


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
    _check_finite_columns(_ak_columns(arrays), path, first_entry)


#: Branches where Delphes itself writes non-finite values: TreeWriter fills GenParticle.Rapidity
#: with TLorentzVector::Rapidity(), which is +-inf (E = |Pz| in double precision) or NaN (E < |Pz|
#: by rounding) for nearly collinear massless particles. Nothing reads them for a computation (the
#: fast simulation passes them through), so they are allowed.
NON_FINITE_ALLOWED = frozenset({"Particle.Rapidity"})


def _check_finite_columns(columns: dict, path: Path, first_entry: int) -> None:
    """:func:`check_finite` on flat columns ``name -> (values, offsets or None)``."""
    for name, (values, offsets) in columns.items():
        if values.dtype.kind != "f" or name in NON_FINITE_ALLOWED or np.isfinite(values).all():
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


def _key_payload(raw: bytes, keylen: int, objlen: int) -> bytes:
    """The object bytes of a TKey record ``raw`` (key header of ``keylen`` bytes): stored as they
    are, or in ROOT compression blocks (9-byte header, then a zlib or zstd stream);
    :class:`_NotPlain` for another codec or a block that does not inflate to its stated size."""
    if len(raw) - keylen == objlen:
        return raw[keylen:]
    blocks, pos = [], keylen
    while pos < len(raw):
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
    return b"".join(blocks)


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
        """Register the baskets of a plain numeric leaf; True if it is jagged (counted).
        ``branch``: an uproot branch or the :class:`_LeafSpec` of :func:`_scan_header`."""
        spec = branch if isinstance(branch, _LeafSpec) else _uproot_spec(name, branch)
        if spec.dtype is None:
            raise _NotPlain(name)
        nb = len(spec.seek)
        if len(spec.entry) != nb + 1 or spec.entry[-1] != self.n_entries:
            raise _NotPlain(name)  # baskets kept in the TTree header (recovered files)
        self.leaves[name] = (spec.dtype, spec.entry, spec.seek, spec.nbytes)
        return spec.jagged

    def close(self) -> None:
        self.file.close()

    def _basket(self, seek: int, nbytes: int, itemsize: int) -> bytes:
        self.file.seek(seek)
        raw = self.file.read(nbytes)
        if len(raw) != nbytes:
            raise _NotPlain("short read")
        _, _, objlen, _, keylen = self._HEADER.unpack_from(raw)
        (last,) = struct.unpack_from(">i", raw, keylen - 5)  # TBasket fLast: end of the values
        data = _key_payload(raw, keylen, objlen)
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


def _uproot_spec(name: str, branch) -> _LeafSpec:
    """The :class:`_LeafSpec` of an uproot branch (dtype None where the basket reader cannot read it)."""
    if branch is None:
        raise _NotPlain(name)
    interp = branch.interpretation
    jagged = isinstance(interp, uproot.interpretation.jagged.AsJagged)
    content = interp.content if jagged else interp
    plain = not (jagged and interp.header_bytes != 0) and type(content) is uproot.interpretation.numerical.AsDtype
    nb = branch.num_baskets
    return _LeafSpec(np.dtype(content.from_dtype) if plain else None, jagged,
                     np.asarray(branch.member("fBasketEntry"), dtype=np.int64)[: nb + 1],
                     np.asarray(branch.member("fBasketSeek"), dtype=np.int64)[:nb],
                     np.asarray(branch.member("fBasketBytes"), dtype=np.int64)[:nb])


def _scan_header(path: Path, f) -> tuple[int, dict]:
    """(entries, {branch name: :class:`_LeafSpec`}) of the Delphes tree of the open uproot file
    ``f``, read from the TTree header without building uproot's ~350 branch objects (most of the
    cost of opening a Delphes file). :class:`_HeaderError` (or a struct/index error) on anything
    unexpected; the caller then opens the tree with uproot."""
    key = f.key(TREE_NAME)
    if key.fClassName != "TTree":
        raise _HeaderError(key.fClassName)
    with open(path, "rb") as fh:
        fh.seek(key.fSeekKey)
        raw = fh.read(key.fNbytes)
    keylen, objlen = key.fKeylen, key.fObjlen
    if len(raw) != key.fNbytes:
        raise _HeaderError("short read")
    data = _key_payload(raw, keylen, objlen)
    if len(data) != objlen:
        raise _HeaderError("inflated size")
    return _HeaderScanner(data, keylen).tree()


class DelphesInput:
    """An opened Delphes input: entries and branch layouts from :func:`_scan_header` where it
    reads the file, else uproot's tree (:attr:`tree`, built on first use in either case)."""

    def __init__(self, path: Path, file, entries: int | None = None, specs: dict | None = None, tree=None):
        self.path, self._file, self._tree = path, file, tree
        self.num_entries = entries if tree is None else tree.num_entries
        self.specs = specs

    @property
    def tree(self):
        if self._tree is None:
            self._tree = _tree_of(self.path, self._file)
        return self._tree

    def branches(self) -> dict:
        """Branch name -> :class:`_LeafSpec` (fast path) or uproot branch."""
        return self.specs if self.specs is not None else _branch_map(self.tree)


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
    values = {f: columns[f"{collection}.{f}"][0] for f in fields}
    return _list_of_records(offsets, {**values, **(extra or {})})


def _zip(arrays: ak.Array, collection: str, fields: list[str]) -> ak.Array:
    return ak.zip({f: arrays[f"{collection}.{f}"] for f in fields}, depth_limit=2)


def iterate_events(path: str | Path, step: int = 2000, tree=None, particle_fields=None):
    """Yield :class:`DelphesEvents` chunks of at most ``step`` events from ``path``.

    ``tree``: ``path`` already opened, by :func:`open_input` or as an uproot tree (:func:`open_tree`);
    ``particle_fields``: the ``Particle`` fields to read (default :data:`PARTICLE_FIELDS`).
    """
    path = Path(path)
    source = tree if tree is not None else open_input(path)
    if not isinstance(source, DelphesInput):
        source = DelphesInput(path, None, tree=source)
    particle_fields = list(particle_fields) if particle_fields is not None else PARTICLE_FIELDS
    branches = source.branches()
    pnames = _require(branches, path, "Particle", particle_fields)
    cnames = _require(branches, path, "ParticleFlowCandidate", PFCAND_FIELDS)
    direction = f"ParticleFlowCandidate.{PFCAND_DIRECTION_FIELD}"
    dnames = [direction] if direction in branches else []
    has_vertex_branch = "Vertex.Z" in branches and "Vertex.T" in branches
    vnames = [f"Vertex.{f}" for f in VERTEX_FIELDS] if has_vertex_branch else []
    n = source.num_entries
    if n == 0:
        log.warning("%s: tree '%s' has no events", path, TREE_NAME)
        return
    names = pnames + cnames + dnames + vnames
    fast = _basket_reader(path, source, names, branches)
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
                columns = _ak_columns(_read(source.tree, path, names, start, stop))
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
