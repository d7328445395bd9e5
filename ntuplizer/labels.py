"""The 188 JetClass-II jet labels, assigned from the generator record.

The rules follow the reference production's truth matching (jet-universe/jetclass2_generation,
``FatJetMatching.h``): for each reco jet the resonances X (|PDG| 25, 35, 37) are tried in
record order, each followed through its chain of copies; X -> 2 prongs (quarks, gluons, e,
mu, tau pairs), X -> Y Y -> 3 or 4 matched prongs, and optionally QCD labels from the b/c/s
quarks right before hadronization (status 71). A jet without a valid label gets -1 and is
skipped by the ntuplizer.

The decay-chain walks run in one numba kernel over the flattened generator record (event
offsets), so the cost per jet is a few microseconds.
"""
from __future__ import annotations

import logging

import awkward as ak
import numba as nb
import numpy as np

log = logging.getLogger(__name__)

# PDG codes used by the rules.
D, U, S, C, B = 1, 2, 3, 4, 5
ELE, NU_E, MU, NU_MU, TAU, NU_TAU = 11, 12, 13, 14, 15, 16
GLUON = 21
H0_SM, H0_HEAVY, H_PLUS = 25, 35, 37

INVALID = -1

# Tau decay modes (as the reference numbers them).
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
    for n_b in (2, 1, 0):
        for nc in (2, 1, 0):
            for ns in (2, 1, 0):
                flav = "b" * n_b + "c" * nc + "s" * ns
                names.append("QCD_" + (flav or "light"))
    return names


LABEL_NAMES: list[str] = _make_label_names()
LABEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(LABEL_NAMES)}

AUX_FIELDS = ("pt", "eta", "phi", "mass", "pid", "isResX", "isResY", "isResDecayProd", "isTauDecayProd", "isQcdParton")

# ---------------------------------------------------------------------------------------------
# Lookup tables handed to the kernel (built once from the label names).

_NPDG = 26  # |PDG| below this can be a prong; anything else is "other"

# Prong tokens of the X_YY label strings; a YY label is identified by its multiset of tokens
# (the reference accepts every order in which the prongs can appear).
_YY_TOKENS = ("b", "c", "s", "q", "g", "e", "m", "v", "tauhtaue", "tauhtaum", "tauhtauh", "tauev", "taumv", "tauhv")
_TOK = {t: i for i, t in enumerate(_YY_TOKENS)}
_KEY_BASE = 5  # at most 4 prongs: a count per token fits one base-5 digit

# Y decay modes in the kernel: 0 none, 1 quark/gluon/e/mu pair (the prongs make the label), then taus.
Y_NONE, Y_PAIR, Y_TAUHTAUE, Y_TAUHTAUM, Y_TAUHTAUH, Y_TAUEV, Y_TAUMV, Y_TAUHV = range(8)
_YMODE_TOKEN = np.array([-1, -1, _TOK["tauhtaue"], _TOK["tauhtaum"], _TOK["tauhtauh"],
                         _TOK["tauev"], _TOK["taumv"], _TOK["tauhv"]], dtype=np.int64)


def label_tokens(s: str) -> list[str]:
    """Prong tokens of a label body, e.g. ``"bbtauhtaue"`` -> ``["b", "b", "tauhtaue"]``."""
    out = []
    while s:
        tok = max((t for t in _YY_TOKENS if s.startswith(t)), key=len)
        out.append(tok)
        s = s[len(tok):]
    return out


def _tokens_key(tokens) -> int:
    return sum(_KEY_BASE ** _TOK[t] for t in tokens)


def _pair_name(p1: int, p2: int) -> str | None:
    """Flavour of an |PDG| pair as the reference names it ("bs" included, unordered)."""
    light = (U, D)
    pair = {p1, p2}
    same = {B: "bb", C: "cc", S: "ss", GLUON: "gg", ELE: "ee", MU: "mm"}
    if p1 == p2 and p1 in same:
        return same[p1]
    if p1 in light and p2 in light:
        return "qq"
    for heavy, other, name in ((B, C, "bc"), (B, S, "bs"), (C, S, "cs")):
        if pair == {heavy, other}:
            return name
    for heavy, name in ((B, "bq"), (C, "cq"), (S, "sq")):
        if (p1 == heavy and p2 in light) or (p1 in light and p2 == heavy):
            return name
    return None


def _build_tables():
    x2p = np.full((_NPDG, _NPDG), INVALID, dtype=np.int32)   # X -> 2 prongs label
    ymode = np.zeros((_NPDG, _NPDG), dtype=np.int8)          # Y -> pair gives a Y mode
    for p1 in range(_NPDG):
        for p2 in range(_NPDG):
            name = _pair_name(p1, p2)
            if name is not None:
                # X_bs is no JetClass-II class (the reference aborts on it): no label
                x2p[p1, p2] = LABEL_INDEX.get("X_" + name, INVALID)
                ymode[p1, p2] = name != "bs"
    ymode[ELE, NU_E] = ymode[MU, NU_MU] = 1
    tok = np.full(_NPDG, -1, dtype=np.int64)
    for pdg, t in ((B, "b"), (C, "c"), (S, "s"), (U, "q"), (D, "q"), (GLUON, "g"), (ELE, "e"), (MU, "m"),
                   (NU_E, "v"), (NU_MU, "v")):
        tok[pdg] = _TOK[t]
    yy = {_tokens_key(label_tokens(n[len("X_YY_"):])): LABEL_INDEX[n] for n in LABEL_NAMES if n.startswith("X_YY_")}
    keys = np.array(sorted(yy), dtype=np.int64)
    vals = np.array([yy[k] for k in keys], dtype=np.int32)
    qcd = np.empty((3, 3, 3), dtype=np.int32)  # [min(nb,2), min(nc,2), min(ns,2)]
    for nb_ in range(3):
        for nc in range(3):
            for ns in range(3):
                qcd[nb_, nc, ns] = LABEL_INDEX["QCD_" + ("b" * nb_ + "c" * nc + "s" * ns or "light")]
    return x2p, ymode, tok, keys, vals, qcd


_X2P, _YMODE, _TOKEN, _YY_KEYS, _YY_VALS, _QCD = _build_tables()
assert len(_YY_KEYS) == sum(n.startswith("X_YY_") for n in LABEL_NAMES), "ambiguous X_YY prong multisets"

# Anomalies counted by the kernel (the reference aborts on them; they do not occur in the samples).
_STAT_REASONS = ("X without exactly two daughters", "Y Y without 2+2 daughters",
                 "unlisted X->YY prong combination", "unlisted 2-prong flavour (X_bs)", "aux buffer overflow")

# ---------------------------------------------------------------------------------------------
# The kernel. Indices inside are event-local; every record access is bounds-checked so that a
# corrupt record gives an invalid jet, never a crash.


@nb.njit(cache=True)
def _dr(eta, phi, i, jeta, jphi):
    dphi = (phi[i] - jphi + np.pi) % (2.0 * np.pi) - np.pi
    return np.hypot(eta[i] - jeta, dphi)


@nb.njit(cache=True)
def _dau_range(i, d1, d2, n):
    """First and one-past-last daughter of i (empty for none or out-of-range indices)."""
    a, b = d1[i], d2[i]
    if a < 0 or b < a or b >= n:
        return 0, 0
    return a, b + 1


@nb.njit(cache=True)
def _final_copy(i, pid, d1, d2, n, processed):
    """Last copy of particle i: follow the first daughter with the same (signed) PDG id."""
    processed[i] = True
    cur = i
    for _ in range(n):  # bounded: a corrupt record cannot loop forever
        a, b = _dau_range(cur, d1, d2, n)
        nxt = -1
        for k in range(a, b):
            if pid[k] == pid[i]:
                nxt = k
                break
        if nxt < 0:
            break
        processed[nxt] = True
        cur = nxt
    return cur


@nb.njit(cache=True)
def _tau_decay(i, pid, d1, d2, n, processed):
    """(last copy of tau i, its decay mode): the first e or mu among its daughters decides."""
    t = _final_copy(i, pid, d1, d2, n, processed)
    a, b = _dau_range(t, d1, d2, n)
    for k in range(a, b):
        ap = abs(pid[k])
        if ap == ELE:
            return t, TAU_E
        if ap == MU:
            return t, TAU_MU
    return t, TAU_H


@nb.njit(cache=True)
def _tab2(tab, p1, p2):
    if p1 >= tab.shape[0] or p2 >= tab.shape[1]:
        return 0
    return tab[p1, p2]


@nb.njit(cache=True)
def _push_daughters(t, d1, d2, n, buf, nbuf):
    a, b = _dau_range(t, d1, d2, n)
    for k in range(a, b):
        if nbuf < buf.shape[0]:
            buf[nbuf] = k
            nbuf += 1
    return nbuf


@nb.njit(cache=True)
def _match_resonance(x0, pid, d1, d2, eta, phi, n, jeta, jphi, r, processed,
                     res, dec, taub, x2p, ymode_tab, tok_tab, yy_keys, yy_vals, stats):
    """Label of the jet from resonance x0; fills res/dec/taub. Returns (label, nres, ndec, ntau)."""
    nres = ndec = ntau = 0
    x = _final_copy(x0, pid, d1, d2, n, processed)
    res[0] = x
    nres = 1
    a, b = _dau_range(x, d1, d2, n)
    if b - a != 2:
        stats[0] += 1
        return -1, nres, ndec, ntau
    q1, q2 = a, a + 1
    p1, p2 = abs(pid[q1]), abs(pid[q2])

    if (p1 == H_PLUS and p2 == H_PLUS) or (p1 == H0_HEAVY and p2 == H0_HEAVY):
        # X -> Y Y: collect both Ys' daughters, remember whether each Y decays hadronically
        ymodes = np.zeros(2, np.int64)  # 0 none, 1 hadronic, 2 leptonic (from its first daughter)
        yy = np.empty(4, np.int64)
        nyy = 0
        for iy in range(2):
            yf = _final_copy(a + iy, pid, d1, d2, n, processed)
            res[nres] = yf
            nres += 1
            ya, yb = _dau_range(yf, d1, d2, n)
            for k in range(ya, yb):
                if k == ya:
                    ap = abs(pid[k])
                    ymodes[iy] = 1 if ((1 <= ap <= 5) or ap == 21) else 2
                if nyy < 4:
                    yy[nyy] = k
                nyy += 1
        if ymodes[0] == 2 and ymodes[1] == 2:
            return -1, nres, ndec, ntau
        if nyy != 4:
            stats[1] += 1
            return -1, nres, ndec, ntau
        if ymodes[0] == 2 and ymodes[1] == 1:  # hadronic Y first
            yy[0], yy[2] = yy[2], yy[0]
            yy[1], yy[3] = yy[3], yy[1]
            ymodes[0], ymodes[1] = 1, 2
        if ymodes[1] == 2:  # charged lepton before its neutrino
            ap = abs(pid[yy[2]])
            if ap == NU_E or ap == NU_MU or ap == NU_TAU:
                yy[2], yy[3] = yy[3], yy[2]
        for k in range(4):  # decay products in this order (before any tau swap)
            dec[k] = yy[k]
        ndec = 4

        mode = np.zeros(2, np.int64)
        matched = np.zeros(4, np.bool_)
        for iy in range(2):
            u, v = yy[2 * iy], yy[2 * iy + 1]
            pu, pv = abs(pid[u]), abs(pid[v])
            if (1 <= pu <= NU_MU) or pu == GLUON:
                mode[iy] = Y_PAIR if _tab2(ymode_tab, pu, pv) else Y_NONE
                matched[2 * iy] = _dr(eta, phi, u, jeta, jphi) < r
                matched[2 * iy + 1] = pv != NU_E and pv != NU_MU and _dr(eta, phi, v, jeta, jphi) < r
            elif pu == TAU and pv == TAU:
                tu, mu_ = _tau_decay(u, pid, d1, d2, n, processed)
                tv, mv_ = _tau_decay(v, pid, d1, d2, n, processed)
                ntau = _push_daughters(tu, d1, d2, n, taub, ntau)
                ntau = _push_daughters(tv, d1, d2, n, taub, ntau)
                if mu_ != TAU_H and mv_ == TAU_H:  # hadronic tau first
                    u, v = v, u
                    tu, tv = tv, tu
                    mu_, mv_ = mv_, mu_
                    yy[2 * iy], yy[2 * iy + 1] = u, v
                if mu_ == TAU_H:
                    if mv_ == TAU_E or mv_ == TAU_MU:
                        mode[iy] = Y_TAUHTAUE if mv_ == TAU_E else Y_TAUHTAUM
                        matched[2 * iy] = _dr(eta, phi, u, jeta, jphi) < r
                        matched[2 * iy + 1] = _dr(eta, phi, d1[tv], jeta, jphi) < r
                    else:
                        mode[iy] = Y_TAUHTAUH
                        matched[2 * iy] = _dr(eta, phi, u, jeta, jphi) < r
                        matched[2 * iy + 1] = _dr(eta, phi, v, jeta, jphi) < r
            elif pu == TAU and pv == NU_TAU:
                tu, mu_ = _tau_decay(u, pid, d1, d2, n, processed)
                ntau = _push_daughters(tu, d1, d2, n, taub, ntau)
                if mu_ == TAU_E or mu_ == TAU_MU:
                    mode[iy] = Y_TAUEV if mu_ == TAU_E else Y_TAUMV
                    matched[2 * iy] = _dr(eta, phi, d1[tu], jeta, jphi) < r
                else:
                    mode[iy] = Y_TAUHV
                    matched[2 * iy] = _dr(eta, phi, u, jeta, jphi) < r
        if mode[0] == Y_NONE or mode[1] == Y_NONE:
            return -1, nres, ndec, ntau
        if Y_TAUHTAUE <= mode[1] <= Y_TAUHTAUH and not (matched[2] and matched[3]):
            return -1, nres, ndec, ntau
        if matched.sum() < 3:
            return -1, nres, ndec, ntau
        key = 0
        for iy in range(2):
            if mode[iy] == Y_PAIR:
                for j in range(2):
                    ap = abs(pid[yy[2 * iy + j]])
                    if matched[2 * iy + j] or ap == NU_E or ap == NU_MU:
                        if ap < tok_tab.shape[0] and tok_tab[ap] >= 0:
                            key += _KEY_BASE ** tok_tab[ap]
            else:
                key += _KEY_BASE ** _YMODE_TOKEN[mode[iy]]
        pos = np.searchsorted(yy_keys, key)
        if pos < yy_keys.shape[0] and yy_keys[pos] == key:
            return yy_vals[pos], nres, ndec, ntau
        stats[2] += 1
        return -1, nres, ndec, ntau

    if p1 == TAU and p2 == TAU:
        dr1 = _dr(eta, phi, q1, jeta, jphi)
        dr2 = _dr(eta, phi, q2, jeta, jphi)
        t1, m1 = _tau_decay(q1, pid, d1, d2, n, processed)
        t2, m2 = _tau_decay(q2, pid, d1, d2, n, processed)
        if m1 != TAU_H and m2 == TAU_H:  # hadronic tau first
            q1, q2 = q2, q1
            dr1, dr2 = dr2, dr1
            t1, t2 = t2, t1
            m1, m2 = m2, m1
        label = -1
        if m1 == TAU_H and dr1 < r:
            dec[0] = q1
            ndec = 1
            ntau = _push_daughters(t1, d1, d2, n, taub, ntau)
            if (m2 == TAU_E or m2 == TAU_MU) and _dr(eta, phi, d1[t2], jeta, jphi) < r:
                dec[1] = q2
                ndec = 2
                ntau = _push_daughters(t2, d1, d2, n, taub, ntau)
                label = TAUHTAUE if m2 == TAU_E else TAUHTAUM
            elif m2 == TAU_H and dr2 < r:
                dec[1] = q2
                ndec = 2
                ntau = _push_daughters(t2, d1, d2, n, taub, ntau)
                label = TAUHTAUH
        return label, nres, ndec, ntau

    # X -> 2 prongs: the prong closer to the jet first
    dr1 = _dr(eta, phi, q1, jeta, jphi)
    dr2 = _dr(eta, phi, q2, jeta, jphi)
    if dr1 > dr2:
        q1, q2 = q2, q1
        dr1, dr2 = dr2, dr1
    if dr1 < r and dr2 < r:
        dec[0] = q1
        dec[1] = q2
        ndec = 2
        a1, a2 = abs(pid[q1]), abs(pid[q2])
        if a1 < x2p.shape[0] and a2 < x2p.shape[1]:
            lab = x2p[a1, a2]
            if lab < 0 and ((a1 == 5 and a2 == 3) or (a1 == 3 and a2 == 5)):
                stats[3] += 1
            return lab, nres, ndec, ntau
    return -1, nres, ndec, ntau


TAUHTAUE, TAUHTAUM, TAUHTAUH = LABEL_INDEX["X_tauhtaue"], LABEL_INDEX["X_tauhtaum"], LABEL_INDEX["X_tauhtauh"]


@nb.njit(cache=True)
def _label_kernel(pid, status, d1, d2, pt, eta, phi, p_off, jet_eta, jet_phi, j_off, r, qcd,
                  x2p, ymode_tab, tok_tab, yy_keys, yy_vals, qcd_tab):
    n_jets = jet_eta.shape[0]
    labels = np.full(n_jets, -1, np.int32)
    aux_count = np.zeros(n_jets, np.int64)
    cap = 16 + 8 * n_jets
    out_idx = np.empty(cap, np.int64)
    out_role = np.empty(cap, np.int8)
    n_out = 0
    stats = np.zeros(5, np.int64)
    res = np.empty(3, np.int64)
    dec = np.empty(4, np.int64)
    for ev in range(p_off.shape[0] - 1):
        jlo, jhi = j_off[ev], j_off[ev + 1]
        if jhi == jlo:
            continue
        lo, hi = p_off[ev], p_off[ev + 1]
        n = hi - lo
        P = pid[lo:hi]
        D1 = d1[lo:hi]
        D2 = d2[lo:hi]
        ETA = eta[lo:hi]
        PHI = phi[lo:hi]
        # resonance candidates and QCD parton candidates, in record order
        resonances = np.empty(n, np.int64)
        nresn = 0
        cands = np.empty(n, np.int64)
        ncand = 0
        for i in range(n):
            ap = abs(P[i])
            if ap == H0_SM or ap == H0_HEAVY or ap == H_PLUS:
                resonances[nresn] = i
                nresn += 1
            elif 1 <= ap <= 5 and status[lo + i] == 71 and pt[lo + i] > 10:
                cands[ncand] = i
                ncand += 1
        processed = np.zeros(n, np.bool_)
        taub = np.empty(n + 16, np.int64)
        qcdb = np.empty(max(ncand, 1), np.int64)
        for j in range(jlo, jhi):
            jeta, jphi = jet_eta[j], jet_phi[j]
            processed[:] = False
            label = -1
            nres = ndec = ntau = nq = 0
            for ir in range(nresn):
                i = resonances[ir]
                if processed[i]:
                    continue
                processed[i] = True
                label, nres, ndec, ntau = _match_resonance(
                    i, P, D1, D2, ETA, PHI, n, jeta, jphi, r, processed, res, dec, taub,
                    x2p, ymode_tab, tok_tab, yy_keys, yy_vals, stats)
                if label >= 0:
                    break
            if label < 0 and qcd:
                nres = ndec = ntau = 0
                cnt = np.zeros(3, np.int64)
                for ic in range(ncand):
                    i = cands[ic]
                    if _dr(ETA, PHI, i, jeta, jphi) < r:
                        qcdb[nq] = i
                        nq += 1
                        ap = abs(P[i])
                        if ap == 5:
                            cnt[0] += 1
                        elif ap == 4:
                            cnt[1] += 1
                        elif ap == 3:
                            cnt[2] += 1
                label = qcd_tab[min(cnt[0], 2), min(cnt[1], 2), min(cnt[2], 2)]
            labels[j] = label
            if label < 0:
                continue
            total = nres + ndec + ntau + nq
            if n_out + total > out_idx.shape[0]:
                new_cap = 2 * (n_out + total) + 16
                tmp_i = np.empty(new_cap, np.int64)
                tmp_r = np.empty(new_cap, np.int8)
                tmp_i[:n_out] = out_idx[:n_out]
                tmp_r[:n_out] = out_role[:n_out]
                out_idx, out_role = tmp_i, tmp_r
            for k in range(nres):
                out_idx[n_out] = lo + res[k]
                out_role[n_out] = 0 if k == 0 else 1
                n_out += 1
            for k in range(ndec):
                out_idx[n_out] = lo + dec[k]
                out_role[n_out] = 2
                n_out += 1
            for k in range(ntau):
                out_idx[n_out] = lo + taub[k]
                out_role[n_out] = 3
                n_out += 1
            for k in range(nq):
                out_idx[n_out] = lo + qcdb[k]
                out_role[n_out] = 4
                n_out += 1
            aux_count[j] = total
    return labels, aux_count, out_idx[:n_out], out_role[:n_out], stats


def _flat(particles: ak.Array, field: str, dtype) -> np.ndarray:
    return np.ascontiguousarray(ak.to_numpy(ak.flatten(particles[field], axis=1)), dtype=dtype)


def label_jets(particles: ak.Array, jets: ak.Array, jet_radius: float = 0.8, qcd_labels: bool = False):
    """Assign JetClass-II labels to reco jets from the generator record.

    ``particles``: events * var * {PID, Status, D1, D2, PT, Eta, Phi, Mass, ...} (Delphes
    ``Particle`` fields, daughter indices into the same event); ``jets``: events * var *
    {eta, phi, ...}. Returns ``(labels, aux)``: labels events * var * int32 (``-1`` = no valid
    label) and aux events * var * {pt, eta, phi, mass, pid, isResX, ...} lists per jet: X, the
    Ys, decay products, tau decay products, matched QCD partons, in that order.
    """
    n_jets = np.asarray(ak.num(jets, axis=1), dtype=np.int64)
    n_part = np.asarray(ak.num(particles, axis=1), dtype=np.int64)
    p_off = np.concatenate([[0], np.cumsum(n_part)]).astype(np.int64)
    j_off = np.concatenate([[0], np.cumsum(n_jets)]).astype(np.int64)
    pid = _flat(particles, "PID", np.int64)
    labels, aux_count, gi, role, stats = _label_kernel(
        pid, _flat(particles, "Status", np.int64), _flat(particles, "D1", np.int64),
        _flat(particles, "D2", np.int64), _flat(particles, "PT", np.float64),
        _flat(particles, "Eta", np.float64), _flat(particles, "Phi", np.float64), p_off,
        np.ascontiguousarray(ak.to_numpy(ak.flatten(jets["eta"])), dtype=np.float64),
        np.ascontiguousarray(ak.to_numpy(ak.flatten(jets["phi"])), dtype=np.float64), j_off,
        float(jet_radius), bool(qcd_labels), _X2P, _YMODE, _TOKEN, _YY_KEYS, _YY_VALS, _QCD)
    for reason, n in zip(_STAT_REASONS, stats):
        if n:
            log.warning("labelling: %d resonance(s) not labelled: %s", n, reason)
    aux_flat = {
        "pt": _flat(particles, "PT", np.float32)[gi], "eta": _flat(particles, "Eta", np.float32)[gi],
        "phi": _flat(particles, "Phi", np.float32)[gi], "mass": _flat(particles, "Mass", np.float32)[gi],
        "pid": pid[gi].astype(np.int32),
        "isResX": role == 0, "isResY": role == 1, "isResDecayProd": role == 2,
        "isTauDecayProd": role == 3, "isQcdParton": role == 4,
    }
    aux = ak.unflatten(ak.unflatten(ak.zip(aux_flat), aux_count), n_jets)
    return ak.unflatten(labels, n_jets), aux
