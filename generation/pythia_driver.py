"""Pythia 8 (``pythia8mc`` wheel) event generation into the generator-record format.

Events come out as awkward batches with the fields of the Delphes ``Particle`` branch
(docs/architecture.md, contract 1): Delphes indices (Pythia's minus one, the "system"
entry dropped), HepMC-style status (1 final, 2 decayed, otherwise |status|), X/Y/Z in mm,
T in seconds.

The bindings expose no bulk accessor of the event record, so the conversion reads each
particle through pythia8mc (eleven calls of ~0.3 us each, the floor of the bindings);
``benchmarks/bench_chain.py`` measures its share.
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
        self._charge: dict[int, float] = {}
        self._decays: dict[int, bool] = {}

    def _species(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(charge, decays-as-HepMC-2 candidate) per particle, from a per-species cache."""
        pdata = self.pythia.particleData
        species, inverse = np.unique(ids, return_inverse=True)
        for pid in species.tolist():
            if pid not in self._charge:
                self._charge[pid] = pdata.charge(pid)
                apid = abs(pid)
                self._decays[pid] = bool(pdata.isHadron(apid)) or apid in (13, 15)
        charge = np.array([self._charge[i] for i in species.tolist()])[inverse]
        decays = np.array([self._decays[i] for i in species.tolist()], dtype=bool)[inverse]
        return charge, decays

    def _record(self) -> dict[str, np.ndarray]:
        ev = self.pythia.event
        n = ev.size()
        # Eleven accessor calls per particle is the floor of these bindings (no bulk access);
        # everything derivable (charge, HepMC status, kinematics) is computed in numpy.
        rows = [None] * (n - 1)
        vertex = []
        for i in range(1, n):
            p = ev[i]
            rows[i - 1] = (p.id(), p.status(), p.mother1(), p.mother2(), p.daughter1(), p.daughter2(),
                           p.m(), p.e(), p.px(), p.py(), p.pz())
            if p.hasVertex():
                vertex.append((i - 1, p.tProd(), p.xProd(), p.yProd(), p.zProd()))
        a = np.array(rows, dtype=np.float64).reshape(-1, 11)
        ids = a[:, 0].astype(np.int64)
        status = a[:, 1].astype(np.int64)
        moth = a[:, 2:4].astype(np.int64)
        dau = a[:, 4:6].astype(np.int64)
        charge, decays = self._species(ids)
        # Pythia's Particle::statusHepMC, vectorised (index 0, the "system", has status -11)
        d1 = dau[:, 0] - 1
        has_d = d1 >= 0
        d1c = np.where(has_d, d1, 0)
        dau_status = np.where(has_d, np.abs(status[d1c]), 11)
        dau_id = np.where(has_d, ids[d1c], 90)
        hep = np.where((status <= -11) & (status >= -200), -status, 0)
        hep = np.where(decays & (dau_id != ids) & (dau_status > 90) & (dau_status < 95), 2, hep)
        hep = np.where(status == -12, 4, hep)
        hep = np.where(status > 0, 1, hep)
        px, py, pz, e = a[:, 8], a[:, 9], a[:, 10], a[:, 7]
        pt = np.hypot(px, py)
        p_abs = np.sqrt(pt * pt + pz * pz)
        with np.errstate(divide="ignore", invalid="ignore"):
            # beam-parallel entries get Delphes' +-999.9
            eta = np.where(pt > 0, np.arcsinh(pz / np.where(pt > 0, pt, 1)), np.copysign(999.9, pz))
            rap = np.where(e > np.abs(pz), 0.5 * np.log((e + pz) / (e - pz)), np.copysign(999.9, pz))
        vtx = np.zeros((len(a), 4))
        if vertex:
            v = np.array(vertex, dtype=np.float64)
            vtx[v[:, 0].astype(np.int64)] = v[:, 1:]
        final = status > 0
        rec = {
            "PID": ids.astype(np.int32), "Status": hep.astype(np.int32),
            "IsPU": np.zeros(len(a), np.int32),
            # Pythia index -> Delphes index (entry 0 dropped)
            "M1": (moth[:, 0] - 1).astype(np.int32), "M2": (moth[:, 1] - 1).astype(np.int32),
            "D1": (dau[:, 0] - 1).astype(np.int32), "D2": (dau[:, 1] - 1).astype(np.int32),
            # Delphes: integer part of the charge (quarks 0, uu diquark 1)
            "Charge": np.trunc(charge).astype(np.int32),
            "Mass": a[:, 6], "E": e, "Px": px, "Py": py, "Pz": pz, "P": p_abs,
            "PT": pt, "Eta": eta, "Phi": np.arctan2(py, px), "Rapidity": rap,
            "T": vtx[:, 0] / C_MM_PER_S, "X": vtx[:, 1], "Y": vtx[:, 2], "Z": vtx[:, 3],
        }
        if self.final_only:  # mother/daughter indices are meaningless after filtering
            rec = {k: v[final] for k, v in rec.items()}
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
