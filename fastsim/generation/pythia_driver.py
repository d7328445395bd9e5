"""Pythia 8 (``pythia8mc`` wheel) event generation into the generator-record format.

Events come out as awkward batches with the fields of the Delphes ``Particle`` branch
(docs/architecture.md, contract 1): Delphes indices (Pythia's minus one, the "system"
entry dropped), HepMC-style status (1 final, 2 decayed, otherwise |status|), X/Y/Z in mm,
T in seconds.

The bindings expose no bulk accessor of the event record, so the conversion reads each
particle through pythia8mc; ``benchmarks/bench_generation.py`` measures its share.
"""
from __future__ import annotations

import logging
import time

import awkward as ak
import numpy as np

log = logging.getLogger(__name__)

C_MM_PER_S = 2.99792458e11

_INT_FIELDS = ("PID", "Status", "IsPU", "M1", "M2", "D1", "D2", "Charge")
_FLOAT_FIELDS = ("Mass", "E", "Px", "Py", "Pz", "P", "PT", "Eta", "Phi", "Rapidity", "T", "X", "Y", "Z")


class GenerationError(RuntimeError):
    """Pythia could not be initialised or failed to produce events."""


def _pythia():
    import pythia8mc

    return pythia8mc.Pythia("", False)  # no banner


class PythiaGenerator:
    """A configured Pythia instance producing generator-record batches.

    ``relabel`` maps |PDG id| -> |PDG id| in the output record (keeping the sign), used
    where a Pythia process stands in for a resonance it has no process for.
    """

    def __init__(self, commands: list[str], relabel: dict[int, int] | None = None, final_only: bool = False):
        self.pythia = _pythia()
        for cmd in commands:
            if not self.pythia.readString(cmd):
                raise GenerationError(f"Pythia rejected the setting {cmd!r}")
        if not self.pythia.init():
            raise GenerationError("Pythia initialisation failed (see the settings above)")
        self.relabel = relabel or {}
        self.final_only = final_only
        self.time_next = 0.0
        self.time_convert = 0.0
        self.failures = 0

    def _record(self) -> dict[str, np.ndarray]:
        ev = self.pythia.event
        n = ev.size()
        rows = []
        append = rows.append
        for i in range(1, n):
            p = ev[i]
            if self.final_only and not p.isFinal():
                continue
            append((p.id(), p.statusHepMC(), p.mother1(), p.mother2(), p.daughter1(), p.daughter2(), p.charge(),
                    p.m(), p.e(), p.px(), p.py(), p.pz(), p.tProd(), p.xProd(), p.yProd(), p.zProd()))
        a = np.array(rows, dtype=np.float64).reshape(-1, 16)
        px, py, pz, e = a[:, 9], a[:, 10], a[:, 11], a[:, 8]
        pt = np.hypot(px, py)
        p_abs = np.sqrt(pt * pt + pz * pz)
        with np.errstate(divide="ignore", invalid="ignore"):
            # beam-parallel entries get Delphes' +-999.9
            eta = np.where(pt > 0, np.arcsinh(pz / np.where(pt > 0, pt, 1)), np.copysign(999.9, pz))
            rap = np.where(e > np.abs(pz), 0.5 * np.log((e + pz) / (e - pz)), np.copysign(999.9, pz))
        idx = a[:, 2:6].astype(np.int32) - 1  # Pythia index -> Delphes index (entry 0 dropped)
        rec = {
            "PID": a[:, 0].astype(np.int32), "Status": a[:, 1].astype(np.int32),
            "IsPU": np.zeros(len(a), np.int32),
            "M1": idx[:, 0], "M2": idx[:, 1], "D1": idx[:, 2], "D2": idx[:, 3],
            "Charge": np.rint(a[:, 6]).astype(np.int32),
            "Mass": a[:, 7], "E": e, "Px": px, "Py": py, "Pz": pz, "P": p_abs,
            "PT": pt, "Eta": eta, "Phi": np.arctan2(py, px), "Rapidity": rap,
            "T": a[:, 12] / C_MM_PER_S, "X": a[:, 13], "Y": a[:, 14], "Z": a[:, 15],
        }
        if self.final_only:  # mother/daughter indices are meaningless after filtering
            for k in ("M1", "M2", "D1", "D2"):
                rec[k][:] = -1
        for src, dst in self.relabel.items():
            pid = rec["PID"]
            pid[np.abs(pid) == src] = np.sign(pid[np.abs(pid) == src]) * dst
        return rec

    def generate(self, n_events: int, batch_size: int = 100, max_failures: int = 100, progress_every: int = 500):
        """Yield batches (awkward arrays, events * var * record) until ``n_events`` are produced."""
        done = 0
        batch: list[dict[str, np.ndarray]] = []
        t_start = time.perf_counter()
        while done < n_events:
            t0 = time.perf_counter()
            ok = self.pythia.next()
            t1 = time.perf_counter()
            self.time_next += t1 - t0
            if not ok:
                self.failures += 1
                if self.failures > max_failures:
                    raise GenerationError(f"Pythia failed {self.failures} times (after {done} events)")
                continue
            batch.append(self._record())
            self.time_convert += time.perf_counter() - t1
            done += 1
            if progress_every and done % progress_every == 0:
                log.info("generated %d/%d events (%.1f events/s)", done, n_events, done / (time.perf_counter() - t_start))
            if len(batch) == batch_size or done == n_events:
                yield to_awkward(batch)
                batch = []


def to_awkward(records: list[dict[str, np.ndarray]]) -> ak.Array:
    """Stack per-event column dicts into one ``events * var * record`` array."""
    counts = np.array([len(r["PID"]) for r in records], dtype=np.int64)
    cols = {}
    for f in _INT_FIELDS + _FLOAT_FIELDS:
        flat = np.concatenate([r[f] for r in records]) if records else np.zeros(0)
        cols[f] = ak.unflatten(flat.astype(np.int32 if f in _INT_FIELDS else np.float32), counts)
    return ak.zip(cols, depth_limit=2)
