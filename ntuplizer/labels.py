"""The 188 JetClass-II jet labels, assigned from the generator record.

The rules follow the reference production's truth matching (jet-universe/jetclass2_generation,
``FatJetMatching.h``): for each reco jet, the resonances X (PDG 25, 35, 37) are tried in
record order; X → 2 prongs (quarks, gluons, e, mu, tau pairs), X → Y Y → 3 or 4 matched
prongs, and optionally QCD labels from b/c/s quarks before hadronization (status 71).
A jet without a valid label is skipped by the ntuplizer.

The work per jet touches only the few resonances and their decay chains, so it runs as
plain Python over per-event lists; the only per-particle operation (QCD parton matching)
is vectorised with numpy.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import awkward as ak
import numpy as np

log = logging.getLogger(__name__)

# PDG codes used by the rules.
D, U, S, C, B = 1, 2, 3, 4, 5
ELE, NU_E, MU, NU_MU, TAU, NU_TAU = 11, 12, 13, 14, 15, 16
GLUON = 21
H0_SM, H0_HEAVY, H_PLUS = 25, 35, 37
RESONANCES = (H0_SM, H0_HEAVY, H_PLUS)

INVALID = -1

# Tau decay modes.
TAU_E, TAU_MU, TAU_H = 0, 1, 2


def _make_label_names() -> list[str]:
    """The 188 class names in label-index order."""
    names = ["X_" + s for s in ("bb", "cc", "ss", "qq", "bc", "cs", "bq", "cq", "sq", "gg", "ee", "mm",
                                "tauhtaue", "tauhtaum", "tauhtauh")]
    hadronic_pairs = ["bb", "cc", "ss", "qq", "gg"]
    lepton_pairs = ["ee", "mm", "tauhtaue", "tauhtaum", "tauhtauh"]
    single_prongs = ["b", "c", "s", "q", "g", "e", "m"]
    # Y Y -> fully matched hadronic pair + second pair (4 prongs), then + one prong (3 prongs)
    for i, first in enumerate(hadronic_pairs):
        names += ["X_YY_" + first + second for second in hadronic_pairs[i:] + lepton_pairs]
        names += ["X_YY_" + first + prong for prong in single_prongs]
    # one quark/gluon + a leptonic Y
    for lep in lepton_pairs:
        names += ["X_YY_" + prong + lep for prong in ("b", "c", "s", "q", "g")]
    # H+ H- specific flavour combinations
    names += ["X_YY_" + s for s in ("qqqb", "qqqc", "qqqs", "bbcq", "ccbs", "ccbq", "ccsq", "sscq",
                                    "qqbc", "qqbs", "qqcs", "bcsq", "bcs", "bcq", "bsq", "csq")]
    for lep in ("ev", "mv", "tauev", "taumv", "tauhv"):
        names += ["X_YY_" + pair + lep for pair in ("bc", "cs", "bq", "cq", "sq", "qq")]
    # QCD: number of matched b, c, s partons (0, 1, >=2 each)
    for nb in (2, 1, 0):
        for nc in (2, 1, 0):
            for ns in (2, 1, 0):
                flav = "b" * nb + "c" * nc + "s" * ns
                names.append("QCD_" + (flav or "light"))
    return names


LABEL_NAMES: list[str] = _make_label_names()
LABEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(LABEL_NAMES)}

# Tokens of the X_YY label strings, longest first for greedy parsing.
_TOKENS = ("tauhtaue", "tauhtaum", "tauhtauh", "tauev", "taumv", "tauhv", "b", "c", "s", "q", "g", "e", "m", "v")


def _tokens(s: str) -> tuple[str, ...]:
    out = []
    while s:
        tok = next(t for t in _TOKENS if s.startswith(t))
        out.append(tok)
        s = s[len(tok):]
    return tuple(sorted(out))


# X -> Y Y labels are defined by the multiset of matched prongs, whatever their order.
_YY_BY_TOKENS = {_tokens(n[len("X_YY_"):]): n for n in LABEL_NAMES if n.startswith("X_YY_")}


def _pair_flavour(p1: int, p2: int) -> str | None:
    """2-prong flavour string of a decay into |PDG| p1, p2 (None when not a JetClass-II class)."""
    light = (U, D)
    pair = {p1, p2}
    if p1 == B and p2 == B:
        return "bb"
    if p1 == C and p2 == C:
        return "cc"
    if p1 == S and p2 == S:
        return "ss"
    if p1 in light and p2 in light:
        return "qq"
    if pair == {B, C}:
        return "bc"
    if pair == {B, S}:
        return "bs"  # not a JetClass-II class
    if pair == {C, S}:
        return "cs"
    if (p1 == B and p2 in light) or (p1 in light and p2 == B):
        return "bq"
    if (p1 == C and p2 in light) or (p1 in light and p2 == C):
        return "cq"
    if (p1 == S and p2 in light) or (p1 in light and p2 == S):
        return "sq"
    if p1 == GLUON and p2 == GLUON:
        return "gg"
    if p1 == ELE and p2 == ELE:
        return "ee"
    if p1 == MU and p2 == MU:
        return "mm"
    return None


_PRONG_CHAR = {B: "b", C: "c", S: "s", U: "q", D: "q", GLUON: "g", ELE: "e", MU: "m", NU_E: "v", NU_MU: "v"}


@dataclass
class JetTruth:
    """The truth-matching result of one jet (indices into the event's particle list)."""

    label: int = INVALID
    res: list[int] = field(default_factory=list)
    decay: list[int] = field(default_factory=list)
    tau_decay: list[int] = field(default_factory=list)
    qcd: list[int] = field(default_factory=list)


class _EventRecord:
    """One event's generator record as Python lists (fast scalar access)."""

    __slots__ = ("pid", "apid", "d1", "d2", "eta", "phi", "np_eta", "np_phi", "qcd_candidates", "resonances")

    def __init__(self, pid, d1, d2, eta, phi, status, pt):
        self.pid = pid.tolist()
        self.apid = np.abs(pid).tolist()
        self.d1 = d1.tolist()
        self.d2 = d2.tolist()
        self.eta = eta.tolist()
        self.phi = phi.tolist()
        apid = np.abs(pid)
        # quarks right before hadronization (status 71) with pT > 10 GeV, in record order
        self.qcd_candidates = np.flatnonzero((apid >= D) & (apid <= B) & (status == 71) & (pt > 10))
        self.resonances = np.flatnonzero(np.isin(apid, RESONANCES)).tolist()
        self.np_eta = eta
        self.np_phi = phi

    def daughters(self, i: int) -> range:
        return range(self.d1[i], self.d2[i] + 1)


def _delta_r(eta1: float, phi1: float, eta2: float, phi2: float) -> float:
    dphi = (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
    return float(np.hypot(eta1 - eta2, dphi))


class _JetMatcher:
    """Truth matching of one jet against one event record (the reference rules)."""

    def __init__(self, ev: _EventRecord, jet_eta: float, jet_phi: float, radius: float, stats: Counter):
        self.ev = ev
        self.jet_eta = jet_eta
        self.jet_phi = jet_phi
        self.r = radius
        self.processed: set[int] = set()
        self.stats = stats

    def dr(self, i: int) -> float:
        return _delta_r(self.jet_eta, self.jet_phi, self.ev.eta[i], self.ev.phi[i])

    def final_copy(self, i: int) -> int:
        """Follow the chain of copies (daughter with the same PDG id) to the last one."""
        ev = self.ev
        self.processed.add(i)
        pid = ev.pid[i]
        cur = i
        while ev.d1[cur] >= 0:
            nxt = next((k for k in ev.daughters(cur) if ev.pid[k] == pid), None)
            if nxt is None:
                break
            self.processed.add(nxt)
            cur = nxt
        return cur

    def tau_daughters(self, i: int) -> tuple[list[int], int]:
        """Decay products of the last copy of tau ``i`` and the decay mode (e, mu or hadronic)."""
        tau = self.final_copy(i)
        daus = list(self.ev.daughters(tau))
        for k in daus:
            if self.ev.apid[k] == ELE:
                return daus, TAU_E
            if self.ev.apid[k] == MU:
                return daus, TAU_MU
        return daus, TAU_H

    # -- resonances ---------------------------------------------------------------------------
    def match(self, qcd_labels: bool) -> JetTruth:
        for i in self.ev.resonances:
            if i in self.processed:
                continue
            self.processed.add(i)
            truth = self.resonance(i)
            if truth.label != INVALID:
                return truth
        if qcd_labels:
            return self.qcd()
        return JetTruth()

    def resonance(self, parton: int) -> JetTruth:
        ev = self.ev
        t = JetTruth()
        x = self.final_copy(parton)
        t.res.append(x)
        daus = list(ev.daughters(x))
        if len(daus) != 2:
            # the reference aborts on such records; we skip the resonance and count it
            self.stats[f"X with {len(daus)} daughters"] += 1
            return JetTruth()
        p1, p2 = ev.apid[daus[0]], ev.apid[daus[1]]
        if (p1 == H_PLUS and p2 == H_PLUS) or (p1 == H0_HEAVY and p2 == H0_HEAVY):
            return self.resonance_yy(t, x)
        if p1 == TAU and p2 == TAU:
            return self.resonance_tautau(t, daus)
        return self.resonance_2prong(t, daus)

    def resonance_2prong(self, t: JetTruth, daus: list[int]) -> JetTruth:
        ev = self.ev
        dr1, dr2 = self.dr(daus[0]), self.dr(daus[1])
        if dr1 > dr2:
            daus = [daus[1], daus[0]]
            dr1, dr2 = dr2, dr1
        if dr1 < self.r and dr2 < self.r:
            t.decay += daus
            flav = _pair_flavour(ev.apid[daus[0]], ev.apid[daus[1]])
            if flav is not None:
                t.label = self._label("X_" + flav)
        return t

    def resonance_tautau(self, t: JetTruth, daus: list[int]) -> JetTruth:
        dr1, dr2 = self.dr(daus[0]), self.dr(daus[1])
        tau1 = self.tau_daughters(daus[0])
        tau2 = self.tau_daughters(daus[1])
        if tau1[1] != TAU_H and tau2[1] == TAU_H:  # hadronic tau first
            daus = [daus[1], daus[0]]
            dr1, dr2 = dr2, dr1
            tau1, tau2 = tau2, tau1
        if tau1[1] == TAU_H and dr1 < self.r:
            t.decay.append(daus[0])
            t.tau_decay += tau1[0]
            if tau2[1] in (TAU_E, TAU_MU) and self.dr(tau2[0][0]) < self.r:
                t.decay.append(daus[1])
                t.tau_decay += tau2[0]
                t.label = self._label("X_tauhtaue" if tau2[1] == TAU_E else "X_tauhtaum")
            elif tau2[1] == TAU_H and dr2 < self.r:
                t.decay.append(daus[1])
                t.tau_decay += tau2[0]
                t.label = self._label("X_tauhtauh")
        return t

    def resonance_yy(self, t: JetTruth, x: int) -> JetTruth:
        ev = self.ev
        hadronic = [False, False]
        yy_daus: list[int] = []
        for i, y in enumerate(ev.daughters(x)):
            yf = self.final_copy(y)
            t.res.append(yf)
            for k in ev.daughters(yf):
                if k == ev.d1[yf]:
                    a = ev.apid[k]
                    hadronic[i] = (D <= a <= B) or a == GLUON
                yy_daus.append(k)
        if len(yy_daus) != 4:
            self.stats["Y without two daughters"] += 1
            return JetTruth()
        if not hadronic[0] and not hadronic[1]:
            return JetTruth()  # both Ys leptonic: not a JetClass-II class
        if not hadronic[0] and hadronic[1]:  # hadronic Y first
            yy_daus = yy_daus[2:] + yy_daus[:2]
            hadronic = [True, False]
        if not hadronic[1] and ev.apid[yy_daus[2]] in (NU_E, NU_MU, NU_TAU):  # charged lepton before neutrino
            yy_daus[2], yy_daus[3] = yy_daus[3], yy_daus[2]
        return self.resonance_34prong(t, yy_daus)

    def resonance_34prong(self, t: JetTruth, yy: list[int]) -> JetTruth:
        ev = self.ev
        r = self.r
        t.decay += yy
        modes: list[str | None] = [None, None]
        matched = [False] * 4
        for i in range(2):
            d0, d1 = yy[2 * i], yy[2 * i + 1]
            p1, p2 = ev.apid[d0], ev.apid[d1]
            if (D <= p1 <= NU_MU) or p1 == GLUON:
                flav = _pair_flavour(p1, p2)
                if flav == "bs":
                    flav = None
                elif flav is None and ((p1, p2) == (ELE, NU_E) or (p1, p2) == (MU, NU_MU)):
                    flav = "ev" if p1 == ELE else "mv"
                modes[i] = flav
                matched[2 * i] = self.dr(d0) < r
                matched[2 * i + 1] = p2 not in (NU_E, NU_MU) and self.dr(d1) < r
            elif p1 == TAU and p2 == TAU:
                tau1 = self.tau_daughters(d0)
                tau2 = self.tau_daughters(d1)
                t.tau_decay += tau1[0] + tau2[0]
                if tau1[1] != TAU_H and tau2[1] == TAU_H:
                    yy[2 * i], yy[2 * i + 1] = d1, d0
                    d0, d1 = d1, d0
                    tau1, tau2 = tau2, tau1
                if tau1[1] == TAU_H:
                    if tau2[1] in (TAU_E, TAU_MU):
                        modes[i] = "tauhtaue" if tau2[1] == TAU_E else "tauhtaum"
                        matched[2 * i] = self.dr(d0) < r
                        matched[2 * i + 1] = self.dr(tau2[0][0]) < r
                    else:
                        modes[i] = "tauhtauh"
                        matched[2 * i] = self.dr(d0) < r
                        matched[2 * i + 1] = self.dr(d1) < r
            elif p1 == TAU and p2 == NU_TAU:
                daus, mode = self.tau_daughters(d0)
                t.tau_decay += daus
                if mode == TAU_H:
                    modes[i] = "tauhv"
                    matched[2 * i] = self.dr(d0) < r
                else:
                    modes[i] = "tauev" if mode == TAU_E else "taumv"
                    matched[2 * i] = self.dr(daus[0]) < r
        if modes[0] is None or modes[1] is None:
            return JetTruth()
        if modes[1].startswith("tauhtau") and not (matched[2] and matched[3]):
            return JetTruth()
        if sum(matched) < 3:
            return JetTruth()
        prongs: list[str] = []
        for i in range(2):
            if modes[i].startswith("tau"):
                prongs.append(modes[i])
                continue
            for j in range(2):
                a = ev.apid[yy[2 * i + j]]
                if matched[2 * i + j] or a in (NU_E, NU_MU):
                    if a in _PRONG_CHAR:
                        prongs.append(_PRONG_CHAR[a])
        name = _YY_BY_TOKENS.get(tuple(sorted(prongs)))
        if name is None:
            # the reference aborts here; such combinations are absent from the JetClass-II samples
            self.stats["unlisted X->YY prong combination " + "".join(prongs)] += 1
            return JetTruth()
        t.label = LABEL_INDEX[name]
        return t

    def qcd(self) -> JetTruth:
        ev = self.ev
        t = JetTruth()
        cand = ev.qcd_candidates
        if len(cand):
            dphi = (ev.np_phi[cand] - self.jet_phi + np.pi) % (2 * np.pi) - np.pi
            dr = np.hypot(ev.np_eta[cand] - self.jet_eta, dphi)
            t.qcd = cand[dr < self.r].tolist()
        counts = Counter(ev.apid[i] for i in t.qcd)
        flav = "b" * min(counts[B], 2) + "c" * min(counts[C], 2) + "s" * min(counts[S], 2)
        t.label = LABEL_INDEX["QCD_" + (flav or "light")]
        return t

    def _label(self, name: str) -> int:
        idx = LABEL_INDEX.get(name)
        if idx is None:
            self.stats[f"unlisted label {name}"] += 1
            return INVALID
        return idx


def match_event(ev: _EventRecord, jet_eta, jet_phi, radius: float, qcd_labels: bool, stats: Counter) -> list[JetTruth]:
    """Truth results for the jets (eta, phi lists) of one event."""
    return [_JetMatcher(ev, e, p, radius, stats).match(qcd_labels) for e, p in zip(jet_eta, jet_phi)]


AUX_FIELDS = ("pt", "eta", "phi", "mass", "pid", "isResX", "isResY", "isResDecayProd", "isTauDecayProd", "isQcdParton")


def label_jets(particles: ak.Array, jets: ak.Array, jet_radius: float = 0.8, qcd_labels: bool = False):
    """Assign JetClass-II labels to reco jets from the generator record.

    ``particles``: events * var * {PID, Status, D1, D2, PT, Eta, Phi, Mass, ...} (Delphes
    ``Particle`` fields, daughter indices into the same event); ``jets``: events * var *
    {eta, phi, ...}. Returns ``(labels, aux)``: labels events * var * int32 (``-1`` = no valid
    label) and aux events * var * {pt, eta, phi, mass, pid, isResX, ...} lists per jet: X, the
    Ys, decay products, tau decay products, matched QCD partons, in that order.
    """
    n_jets = np.asarray(ak.num(jets, axis=1))
    part_counts = np.asarray(ak.num(particles, axis=1))
    offsets = np.concatenate([[0], np.cumsum(part_counts)])
    flat = {f: np.asarray(ak.to_numpy(ak.flatten(particles[f], axis=1))) for f in ("PID", "Status", "D1", "D2", "PT", "Eta", "Phi", "Mass")}
    jet_eta = ak.to_list(jets["eta"])
    jet_phi = ak.to_list(jets["phi"])
    stats: Counter = Counter()
    labels = np.full(int(n_jets.sum()), INVALID, dtype=np.int32)
    aux_index: list[int] = []  # global particle indices
    aux_role: list[int] = []  # 0 X, 1 Y, 2 decay, 3 tau decay, 4 qcd parton
    aux_counts = np.zeros(len(labels), dtype=np.int64)
    j = 0
    for iev in range(len(n_jets)):
        if n_jets[iev] == 0:
            continue
        lo, hi = offsets[iev], offsets[iev + 1]
        ev = _EventRecord(flat["PID"][lo:hi], flat["D1"][lo:hi], flat["D2"][lo:hi], flat["Eta"][lo:hi],
                          flat["Phi"][lo:hi], flat["Status"][lo:hi], flat["PT"][lo:hi])
        for truth in match_event(ev, jet_eta[iev], jet_phi[iev], jet_radius, qcd_labels, stats):
            labels[j] = truth.label
            if truth.label != INVALID:
                roles = [0] * min(1, len(truth.res)) + [1] * (len(truth.res) - 1) + [2] * len(truth.decay) \
                    + [3] * len(truth.tau_decay) + [4] * len(truth.qcd)
                idx = truth.res + truth.decay + truth.tau_decay + truth.qcd
                aux_index += [lo + k for k in idx]
                aux_role += roles
                aux_counts[j] = len(idx)
            j += 1
    for reason, n in stats.items():
        log.warning("labelling: %d jet(s) skipped: %s", n, reason)
    gi = np.asarray(aux_index, dtype=np.int64)
    role = np.asarray(aux_role, dtype=np.int8)
    aux_flat = {
        "pt": flat["PT"][gi].astype(np.float32), "eta": flat["Eta"][gi].astype(np.float32),
        "phi": flat["Phi"][gi].astype(np.float32), "mass": flat["Mass"][gi].astype(np.float32),
        "pid": flat["PID"][gi].astype(np.int32),
        "isResX": role == 0, "isResY": role == 1, "isResDecayProd": role == 2,
        "isTauDecayProd": role == 3, "isQcdParton": role == 4,
    }
    aux = ak.unflatten(ak.unflatten(ak.zip(aux_flat), aux_counts), n_jets)
    return ak.unflatten(labels, n_jets), aux
