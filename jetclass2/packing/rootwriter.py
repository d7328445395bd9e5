"""The packed ROOT files: the ntuples' TTree layout, written basket by basket with fewer copies.

uproot's ``extend`` builds each basket with four copies of its data (``tobytes``, two
concatenations with the entry offsets, the join with the key) before writing it; at ~570 MB
per 100k-jet file that was most of a gather job's writing time. :class:`PackedTreeWriter`
lets uproot do all the TTree bookkeeping (branch metadata, basket tables, free segments) and
replaces only its two basket writers, on this tree alone, by ones that assemble the basket
once in a preallocated buffer and write key and data without joining them. The bytes are those
of uproot's own writers (``tests/test_packing.py::test_fast_basket_writer_gives_uproots_bytes``
compares whole files), so the files stay reproducible and readable by ROOT, uproot and weaver.

One ``write`` call is one basket per branch: a gather job writes ``basket`` jets per call, so a
reader (weaver's ``fetch_step``) can read part of a file.
"""
from __future__ import annotations

import os
import struct

import awkward as ak
import numpy as np
import uproot

from jetclass2.ntuplizer.writer import BRANCH_LAYOUT, TREE_NAME, branch_types
from jetclass2.rootfile import ReproducibleFile
from jetclass2.uproot_internals import require, require_attributes

#: uproot's internals the basket writers below use (module level, and of a tree being written)
UPROOT_INTERNALS = ("reading._key_format_big.pack", "reading._key_format_big.size", "_util.datetime_to_code",
                    "serialization.string", "models.TBasket._tbasket_format2", "compression.compress",
                    "const.kMaxTBasketBytes", "writing._cascadetree.datetime", "writing._cascadetree.Tree.write_np_basket",
                    "writing._cascadetree.Tree.write_jagged_basket", "writing._cascadetree.Tree.extend")
TREE_INTERNALS = ("_branch_data", "_freesegments", "_directory", "_name", "_num_baskets", "_basket_capacity")


def check_uproot() -> None:
    """The installed uproot has what the basket writers use (else: UnsupportedUproot)."""
    require(__name__, *UPROOT_INTERNALS)


check_uproot()
import uproot.writing._cascadetree as _cascadetree  # noqa: E402  (checked above)

#: ``--compression`` choices -> uproot codecs (LZ4: fast to write and to read; zstd/zlib: smaller)
CODECS = {"lz4": uproot.LZ4(1), "zstd": uproot.ZSTD(1), "zlib": uproot.ZLIB(1), "none": None}
_OFFSETS_LENGTH = struct.Struct(">i")
RAW_ABOVE = 0.97  # compressed / uncompressed size of a branch's first basket above which it is stored raw


def _key_and_basket_header(tree, branch_name: str, fNbytes: int, fObjlen: int, fKeylen: int, location: int,
                           nev_buf_size: int, nev_buf: int, last: int) -> bytes:
    """The TKey and TBasket header of a basket, as uproot's writers build it."""
    return b"".join([
        uproot.reading._key_format_big.pack(
            fNbytes, 1004, fObjlen, uproot._util.datetime_to_code(_cascadetree.datetime.datetime.now()),
            fKeylen, 0, location, tree._directory.key.location),
        uproot.serialization.string("TBasket"), uproot.serialization.string(branch_name),
        uproot.serialization.string(tree._name),
        uproot.models.TBasket._tbasket_format2.pack(3, 32000, nev_buf_size, nev_buf, last),
        b"\x00",
    ])


def _key_length(tree, branch_name: str) -> int:
    return (uproot.reading._key_format_big.size + len(uproot.serialization.string("TBasket"))
            + len(uproot.serialization.string(branch_name)) + len(uproot.serialization.string(tree._name))
            + uproot.models.TBasket._tbasket_format2.size + 1)


def _write(tree, sink, branch_name, fKeylen, payload, compression, nev_buf_size, nev_buf, last, raw=None):
    if raw is not None and branch_name in raw[1]:
        compression = None
    compressed = uproot.compression.compress(payload, compression)
    if raw is not None and branch_name not in raw[0]:
        raw[0].add(branch_name)
        if compression is not None and len(compressed) >= RAW_ABOVE * len(payload):
            raw[1].add(branch_name)
    fObjlen, fNbytes = len(payload), fKeylen + len(compressed)
    if max(fObjlen, fNbytes) > uproot.const.kMaxTBasketBytes:
        raise ValueError(f"branch {branch_name}: a basket of {fObjlen} bytes is too large (write fewer jets per basket)")
    location = tree._freesegments.allocate(fNbytes, dry_run=False)
    sink.write(location, _key_and_basket_header(tree, branch_name, fNbytes, fObjlen, fKeylen, location,
                                                nev_buf_size, nev_buf, last))
    sink.write(location + fKeylen, compressed)
    tree._freesegments.write(sink)
    sink.set_file_length(tree._freesegments.fileheader.end)
    sink.flush()
    return fKeylen + fObjlen, fNbytes, location


def _install_fast_baskets(tree, skip_incompressible: bool = True) -> dict:
    """Replace the basket writers of one uproot tree (``_cascadetree.Tree``) by one-copy ones.

    They accept arrays of either byte order (see :meth:`PackedTreeWriter.write`) and write the
    branch's big-endian type, as uproot's do. With ``skip_incompressible``, a branch whose first
    basket the codec cannot shrink by 3% (uproot then stores it uncompressed anyway: most float
    branches under LZ4) is not compressed again. Returns branch -> uproot's (big-endian) dtype.
    """
    require_attributes(__name__, tree, *TREE_INTERNALS)
    big = {d["fName"]: d["dtype"] for d in tree._branch_data if d["kind"] != "record"}
    raw = (set(), set()) if skip_incompressible else None  # branches seen, branches written uncompressed

    def write_np_basket(sink, branch_name, compression, array):
        fKeylen = _key_length(tree, branch_name)
        payload = np.empty(array.nbytes, dtype=np.uint8)
        payload.view(big[branch_name]).reshape(array.shape)[...] = array  # the byte swap is this one copy
        itemsize = array.dtype.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))
        return _write(tree, sink, branch_name, fKeylen, payload, compression, itemsize, len(array), fKeylen + len(payload),
                      raw)

    def write_jagged_basket(sink, branch_name, compression, array, offsets):
        fKeylen = _key_length(tree, branch_name)
        itemsize = array.dtype.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))
        offsets *= itemsize  # uproot's convention: offsets is its own big-endian copy, changed in place
        offsets += fKeylen
        nbytes = array.nbytes
        payload = np.empty(nbytes + 4 + 4 * len(offsets), dtype=np.uint8)
        payload[:nbytes].view(big[branch_name])[...] = array.reshape(-1)
        payload[nbytes:nbytes + 4] = np.frombuffer(_OFFSETS_LENGTH.pack(len(offsets)), np.uint8)
        payload[nbytes + 4:] = offsets.view(np.uint8)
        last = int(offsets[-1])
        offsets[-1] = 0
        return _write(tree, sink, branch_name, fKeylen, payload, compression, len(offsets) + 1, len(offsets) - 1, last,
                      raw)

    tree.write_np_basket = write_np_basket
    tree.write_jagged_basket = write_jagged_basket
    return big


class PackedTreeWriter:
    """A packed ROOT file (tree ``tree``, the ntuples' branches and counters), one basket per ``write``.

    >>> with PackedTreeWriter(tmp, name="Res2P_0000.root", compression="lz4") as w:
    ...     w.write(cols)   # a column set (jetclass2.packing.columns) of up to one basket of jets
    """

    def __init__(self, path: str | os.PathLike, name: str, compression: str = "lz4", baskets: int = 10,
                 fast: bool = True, skip_incompressible: bool = True):
        if compression not in CODECS:
            raise ValueError(f"unknown compression {compression!r} (choose from {', '.join(CODECS)})")
        self._root = ReproducibleFile(path, name=name, compression=CODECS[compression])
        self.baskets = max(1, int(baskets))  # expected baskets: the basket tables never need to grow
        self.fast, self.skip_incompressible = fast, skip_incompressible
        self.n_jets = 0
        self._native = []

    def __enter__(self) -> "PackedTreeWriter":
        f = self._root.__enter__()
        try:
            self._tree = f.mktree(TREE_NAME, branch_types(), field_name=lambda outer, inner: f"{outer}_{inner}",
                                  counter_name=lambda collection: f"n{collection}",
                                  initial_basket_capacity=self.baskets + 2)
            if self.fast:
                require_attributes(__name__, self._tree, "_cascading")
                _install_fast_baskets(self._tree._cascading, self.skip_incompressible)
                self._native = [(d, d["dtype"], d["dtype"].newbyteorder("="))
                                for d in self._tree._cascading._branch_data if d["kind"] != "record"]
        except BaseException:
            self._root.__exit__(None, None, None)
            raise
        return self

    def write(self, cols: dict) -> None:
        """Append the jets of a column set as one basket per branch (nothing for zero jets)."""
        n = len(cols["jet_pt"])
        if n == 0:
            return
        chunk = {}
        for key, spec in BRANCH_LAYOUT:
            if isinstance(spec, str):
                chunk[key] = cols[key]
                continue
            offsets = cols[spec[0][0]][0]
            contents = []
            for name, _, _ in spec:
                if not np.array_equal(cols[name][0], offsets):
                    raise ValueError(f"branch {name}: counts differ from those of {spec[0][0]}")
                contents.append(ak.contents.NumpyArray(cols[name][1]))
            record = ak.contents.RecordArray(contents, [field for _, field, _ in spec], length=int(offsets[-1]))
            chunk[key] = ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), record))
        # While the basket tables have room (no relocation, which writes the branch types), uproot's
        # extend is shown the native dtypes, so it does not byte-swap a copy of every array: the
        # basket writers above swap while assembling the basket, a copy they make anyway.
        casc = self._tree._cascading
        native = self._native if casc._num_baskets < casc._basket_capacity - 2 else []
        try:
            for datum, _, dtype in native:
                datum["dtype"] = dtype
            self._tree.extend(chunk)
        finally:
            for datum, dtype, _ in native:
                datum["dtype"] = dtype
        self.n_jets += n

    def __exit__(self, exc_type, exc, tb) -> None:
        self._root.__exit__(exc_type, exc, tb)


__all__ = ["PackedTreeWriter", "CODECS"]
