"""Pythia 8 (``pythia8mc`` wheel) event generation into the generator-record format.

Events come out as awkward batches with the fields of the Delphes ``Particle`` branch
(docs/architecture.md, contract 1): Delphes indices (Pythia's minus one, the "system"
entry dropped), HepMC-style status (1 final, 2 decayed, otherwise |status|), X/Y/Z in mm,
T in seconds.

Pythia fills whole batches of events in C++ (``Pythia.nextBatch``, an awkward array of the
event records); the conversion to the generator record is numpy on the flattened batch, so it
costs a few per cent of Pythia's own time (``benchmarks/bench_generation.py``).

One generator serves all grid points of a job: :meth:`PythiaGenerator.configure` applies a
batch's settings and re-initialises Pythia. That costs ~20 ms instead of ~1 s because the MPI
initialisation is kept in memory (``MultipartonInteractions:reuseInit = -1``, common card), the
resonances listed as ``generic_resonances`` take their widths from the cards instead of
Pythia's numerical width integrals, and the PDF objects (a separate hard-process PDF included)
are built once. PDF settings therefore come from the first configuration.
"""
from __future__ import annotations

import logging
import time

import awkward as ak
import numpy as np

from jetclass2.delphes_tree import jagged_records

log = logging.getLogger(__name__)

C_MM_PER_S = 2.99792458e11

_INT_FIELDS = ("PID", "Status", "IsPU", "M1", "M2", "D1", "D2", "Charge")
_FLOAT_FIELDS = ("Mass", "E", "Px", "Py", "Pz", "P", "PT", "Eta", "Phi", "Rapidity", "T", "X", "Y", "Z")


class GenerationError(RuntimeError):
    """Pythia could not be initialised or failed to produce events."""


class PythiaGenerator:
    """A Pythia instance producing generator-record batches, re-configurable between grid points.

    ``relabel`` maps |PDG id| -> |PDG id| in the output record (keeping the sign).
    ``generic_resonances``: PDG ids whose widths Pythia takes from the cards (mWidth x BR, exact
    for decay tables of meMode >= 100) instead of computing them from couplings at every init.
    ``final_only`` keeps final-state particles only (pile-up library).
    ``process_card``: a hard process Pythia lacks, in Python (``jetclass2.generation.processes``, e.g. the X
    pairs of the resonant samples); its masses follow each configuration's particle data.
    ``time_init``, ``time_next`` (Pythia's ``nextBatch``) and ``time_convert`` are CPU seconds of
    this process, robust on a shared machine.
    """

    def __init__(self, commands: list[str], relabel: dict[int, int] | None = None, final_only: bool = False,
                 generic_resonances: tuple[int, ...] | list[int] = (), process_card: dict | None = None):
        import pythia8mc

        self.pythia = pythia8mc.Pythia("", False)  # no banner
        # the generator keeps these objects alive: Pythia holds them by shared pointer
        self._resonances = [pythia8mc.ResonanceGeneric(int(pid)) for pid in generic_resonances]
        for res in self._resonances:
            self.pythia.addResonancePtr(res)
        self._process = None
        if process_card:
            from jetclass2.generation.processes import make_process

            self._process = make_process(process_card)  # kept alive here: Pythia holds a shared pointer
            if not self.pythia.setSigmaPtr(self._process):
                raise GenerationError(f"Pythia did not accept the process {process_card.get('process')!r}")
        self.relabel = relabel or {}
        self.final_only = final_only
        self.time_init = self.time_next = self.time_convert = 0.0
        self.n_init = 0
        self._pdfs: list = []
        self._charge_ids = np.zeros(0, dtype=np.int64)  # species seen so far (sorted) and their properties
        self._charge = np.zeros(0)
        self._decays = np.zeros(0, dtype=bool)
        self.configure(commands)

    def configure(self, commands: list[str]) -> None:
        """Apply ``commands`` and (re-)initialise Pythia: the next events follow these settings."""
        t0 = time.process_time()
        for cmd in commands:
            if not self.pythia.readString(cmd):
                raise GenerationError(f"Pythia rejected the setting {cmd!r}")
        if self._process is not None:
            from jetclass2.generation.processes import configure

            configure(self._process, self.pythia.particleData)
        if self._pdfs:  # our PDF objects stand in: Pythia would re-read the hard-process grid file at every init
            self.pythia.readString("PDF:useHard = off")
        if not self.pythia.init():
            raise GenerationError("Pythia initialisation failed (see the settings above)")
        if self.n_init == 0 and self.pythia.flag("PDF:useHard"):
            # the PDFs of the first configuration, built once and handed to Pythia for every later init
            id_a, id_b = self.pythia.mode("Beams:idA"), self.pythia.mode("Beams:idB")
            self._pdfs = [self.pythia.getPDFPtr(id_a, 1, "A"), self.pythia.getPDFPtr(id_b, 1, "B"),
                          self.pythia.getPDFPtr(id_a, 2, "A"), self.pythia.getPDFPtr(id_b, 2, "B")]
            if not self.pythia.setPDFPtr(*self._pdfs):
                raise GenerationError("Pythia did not accept the hard-process PDF objects")
        self.time_init += time.process_time() - t0
        self.n_init += 1

    def _species(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(charge, may-decay-as-HepMC-status-2) per particle, from a per-species table."""
        pos = np.minimum(np.searchsorted(self._charge_ids, ids), max(len(self._charge_ids) - 1, 0))
        known = self._charge_ids[pos] == ids if len(self._charge_ids) else np.zeros(len(ids), bool)
        new = np.unique(ids[~known])  # species not seen before (after the first batches: none)
        if len(new):
            pdata = self.pythia.particleData
            ids_all = np.concatenate([self._charge_ids, new])
            charge = np.concatenate([self._charge, [pdata.charge(int(i)) for i in new]])
            decays = np.concatenate([self._decays, [bool(pdata.isHadron(abs(int(i)))) or abs(int(i)) in (13, 15) for i in new]])
            order = np.argsort(ids_all)
            self._charge_ids, self._charge, self._decays = ids_all[order], charge[order], decays[order]
        pos = np.searchsorted(self._charge_ids, ids)
        return self._charge[pos], self._decays[pos]

    def _convert(self, batch: ak.Array) -> ak.Array:
        """Pythia's batch (``nextBatch``) -> generator-record batch (contract 1)."""
        counts, col = _batch_columns(batch)
        ids = col["id"].astype(np.int64)
        status = col["status"].astype(np.int64)
        d1_py = col["daughter1"].astype(np.int64)
        px, py, pz, e = col["px"], col["py"], col["pz"], col["e"]
        vtx = {f: col["v" + f] for f in ("px", "py", "pz", "e")}
        charge, decays = self._species(ids)
        # Pythia's Particle::statusHepMC, vectorised over the batch (daughter index -> flat position)
        start = np.repeat(np.cumsum(counts) - counts, counts)
        has_d = d1_py > 0
        d_pos = np.where(has_d, start + d1_py - 1, 0)
        dau_status = np.where(has_d, np.abs(status[d_pos]), 11)
        dau_id = np.where(has_d, ids[d_pos], 90)
        hep = np.where((status <= -11) & (status >= -200), -status, 0)
        hep = np.where(decays & (dau_id != ids) & (dau_status > 90) & (dau_status < 95), 2, hep)
        hep = np.where(status == -12, 4, hep)
        hep = np.where(status > 0, 1, hep)
        pt = np.hypot(px, py)
        p_abs = np.sqrt(pt * pt + pz * pz)
        with np.errstate(divide="ignore", invalid="ignore"):
            # beam-parallel entries get Delphes' +-999.9
            eta = np.where(pt > 0, np.arcsinh(pz / np.where(pt > 0, pt, 1)), np.copysign(999.9, pz))
            rap = np.where(e > np.abs(pz), 0.5 * np.log((e + pz) / (e - pz)), np.copysign(999.9, pz))
        for src, dst in self.relabel.items():
            sel = np.abs(ids) == src
            ids[sel] = np.sign(ids[sel]) * dst
        cols = {
            "PID": ids, "Status": hep, "IsPU": np.zeros(len(ids), np.int32),
            # Pythia index -> Delphes index (entry 0 dropped)
            "M1": col["mother1"] - 1, "M2": col["mother2"] - 1,
            "D1": d1_py - 1, "D2": col["daughter2"] - 1,
            # Delphes: integer part of the charge (quarks 0, uu diquark 1)
            "Charge": np.trunc(charge),
            "Mass": col["m"], "E": e, "Px": px, "Py": py, "Pz": pz, "P": p_abs,
            "PT": pt, "Eta": eta, "Phi": np.arctan2(py, px), "Rapidity": rap,
            "T": vtx["e"] / C_MM_PER_S, "X": vtx["px"], "Y": vtx["py"], "Z": vtx["pz"],
        }
        if self.final_only:  # mother/daughter indices are meaningless after filtering
            final = status > 0
            counts = np.bincount(np.repeat(np.arange(len(counts)), counts)[final], minlength=len(counts))
            cols = {k: v[final] for k, v in cols.items()}
            for k in ("M1", "M2", "D1", "D2"):
                cols[k] = np.full(len(cols[k]), -1)
        return _zip(cols, counts)

    def generate(self, n_events: int, batch_size: int = 100, max_failures: int = 100, progress_every: int = 500):
        """Yield batches (awkward arrays, events * var * record) until ``n_events`` are produced."""
        done = 0
        t_start = time.process_time()
        while done < n_events:
            n = min(batch_size, n_events - done)
            t0 = time.process_time()
            try:
                # skip failed events, but give up after max_failures of them in this chunk
                raw = self.pythia.nextBatch(n, (n + max_failures) / n)
            except Exception as exc:  # the bindings raise a plain RuntimeError
                raise GenerationError(f"Pythia failed more than {max_failures} times in {n} events (after {done}): {exc}") from exc
            t1 = time.process_time()
            out = self._convert(raw)
            self.time_next += t1 - t0
            self.time_convert += time.process_time() - t1
            if len(out) != n:
                raise GenerationError(f"Pythia returned {len(out)} events, {n} requested")
            done += n
            if progress_every and done // progress_every != (done - n) // progress_every:
                log.info("generated %d/%d events (%.1f events/s CPU)", done, n_events, done / (time.process_time() - t_start))
            yield out

    def write_lhe(self, path, n_events: int) -> None:
        """Write ``n_events`` hard-process events as a Les Houches file (Pythia's LHEF3 writer).

        For a process only this generator has (``process_card``), so that a C++ Pythia — the real
        chain's ``DelphesPythia8`` with ``Beams:frameType = 4`` — showers the same hard process. The
        generator must be configured with ``PartonLevel:all = off``, ``HadronLevel:all = off`` and
        ``ProcessLevel:resonanceDecays = off`` (the shower's Pythia decays the X)."""
        import pythia8mc

        # the writer keeps raw pointers: hold the bindings' objects for its lifetime
        process, info = self.pythia.process, self.pythia.infoPython()
        writer = pythia8mc.LHEF3FromPythia8(process, info)
        writer.openLHEF(str(path))
        writer.setInit()
        done = failures = 0
        while done < n_events:
            if self.pythia.next():
                writer.setEvent()
                done += 1
            else:
                failures += 1
                if failures > 100 + n_events:
                    writer.closeLHEF(True)
                    raise GenerationError(f"{path}: Pythia failed {failures} times writing {n_events} hard-process events")
        writer.closeLHEF(True)


_PARTICLE = ("id", "status", "mother1", "mother2", "daughter1", "daughter2", "m")
_P4 = ("px", "py", "pz", "e")


def _batch_columns(batch: ak.Array) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(particles per event, flat numpy columns) of Pythia's batch without entry 0 (the "system"):
    the particle fields, the momentum ``px``..``e`` and the production vertex ``vpx``..``ve``
    (0 where Pythia set none). Read from the layout directly (the generic awkward path costs
    more than the conversion itself); a layout other than the bindings' goes the generic way."""
    prt = ak.to_layout(batch["prt"])
    rec = getattr(prt, "content", None)
    if isinstance(prt, ak.contents.ListOffsetArray) and isinstance(rec, ak.contents.RecordArray):
        offsets = np.asarray(prt.offsets.data, dtype=np.int64)
        counts = np.diff(offsets) - 1
        keep = np.ones(int(offsets[-1] - offsets[0]), bool)
        keep[offsets[:-1] - offsets[0]] = False  # entry 0 of each event
        lo, hi = int(offsets[0]), int(offsets[-1])
        p, v = rec.content("p"), rec.content("vProd")
        if isinstance(p, ak.contents.RecordArray) and isinstance(v, ak.contents.IndexedOptionArray) \
                and isinstance(v.content, ak.contents.RecordArray):
            col = {f: np.asarray(rec.content(f).data)[lo:hi][keep] for f in _PARTICLE}
            col.update({f: np.asarray(p.content(f).data)[lo:hi][keep] for f in _P4})
            index = np.asarray(v.index.data)[lo:hi][keep]
            has_v = index >= 0
            safe = np.where(has_v, index, 0)
            for f in _P4:
                values = np.asarray(v.content.content(f).data)
                col["v" + f] = np.where(has_v, values[safe] if len(values) else 0.0, 0.0)
            return counts, col
    flat = ak.flatten(batch["prt"][:, 1:])
    counts = ak.to_numpy(ak.num(batch["prt"][:, 1:])).astype(np.int64)
    col = {f: ak.to_numpy(flat[f]) for f in _PARTICLE}
    col.update({f: ak.to_numpy(flat["p"][f]) for f in _P4})
    has_v = ~ak.to_numpy(ak.is_none(flat["vProd"]))
    for f in _P4:
        col["v" + f] = np.where(has_v, ak.to_numpy(ak.fill_none(flat["vProd"][f], 0.0)), 0.0)
    return counts, col


def _zip(cols: dict[str, np.ndarray], counts: np.ndarray) -> ak.Array:
    """Flat columns + events' particle counts -> ``events * var * record`` with the record's dtypes."""
    return jagged_records({f: np.asarray(cols[f]).astype(np.int32 if f in _INT_FIELDS else np.float32)
                           for f in _INT_FIELDS + _FLOAT_FIELDS}, counts)
