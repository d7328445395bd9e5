"""The 188 JetClass-II jet labels, assigned from the generator record.

The rules follow the reference production's truth matching (jet-universe/jetclass2_generation,
``FatJetMatching.h``): for each reco jet the resonances X (|PDG| 25, 35, 37) are tried in
record order, each followed through its chain of copies; X -> 2 prongs (quarks, gluons, e,
mu, tau pairs), X -> Y Y -> 3 or 4 matched prongs, and optionally QCD labels from the b/c/s
quarks right before hadronization (status and pT threshold: ``qcd_partons`` in config/ntuplizer.yaml). A jet without a valid label gets -1 and is
skipped by the ntuplizer.

The decay-chain walks run in one numba kernel over the flattened generator record (event
offsets), so the cost per jet is a few microseconds.
"""
from __future__ import annotations

import logging

import awkward as ak
import numba as nb
import numpy as np
import yaml

from jetclass2.resources import resource

# the names live in a module without numba (packing needs only them): re-exported here
from .label_names import LABEL_INDEX, LABEL_NAMES  # noqa: F401

log = logging.getLogger(__name__)

# PDG codes used by the rules.
D, U, S, C, B = 1, 2, 3, 4, 5
ELE, NU_E, MU, NU_MU, TAU, NU_TAU = 11, 12, 13, 14, 15, 16
GLUON = 21
H0_SM, H0_HEAVY, H_PLUS = 25, 35, 37

INVALID = -1

# Tau decay modes (as the reference numbers them).
TAU_E, TAU_MU, TAU_H = 0, 1, 2

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

# Roles of the particles written to the aux_genpart_* lists, one flag branch per role, in the
# order a jet's list holds them.
ROLE_X, ROLE_Y, ROLE_DECAY_PRODUCT, ROLE_TAU_DECAY_PRODUCT, ROLE_QCD_PARTON = range(5)
ROLE_FLAGS = ("isResX", "isResY", "isResDecayProd", "isTauDecayProd", "isQcdParton")

# Anomalies counted by the kernel (the reference aborts on them; they do not occur in the samples).
STAT_X_DAUGHTERS, STAT_YY_DAUGHTERS, STAT_YY_COMBINATION, STAT_X_BS = range(4)
_STAT_REASONS = ("X without exactly two daughters", "Y Y without 2+2 daughters",
                 "unlisted X->YY prong combination", "unlisted 2-prong flavour (X_bs)")

# How a Y decays, judged by its first daughter (the hadronic Y is put first).
Y_DECAY_UNKNOWN, Y_DECAY_HADRONIC, Y_DECAY_LEPTONIC = 0, 1, 2
YY_PRONGS = 4              # X -> Y Y -> 2 + 2 decay products
YY_MIN_MATCHED_PRONGS = 3  # of which at least this many lie inside the jet

LABEL_X_TAUHTAUE, LABEL_X_TAUHTAUM, LABEL_X_TAUHTAUH = (
    LABEL_INDEX["X_tauhtaue"], LABEL_INDEX["X_tauhtaum"], LABEL_INDEX["X_tauhtauh"])

# ---------------------------------------------------------------------------------------------
# The kernel. Indices inside are event-local; every record access is bounds-checked so that a
# corrupt record gives an invalid jet, never a crash. Arguments travel in tuples:
#   rec    = (pid, d1, d2, eta, phi) of one event's generator record
#   jet    = (eta, phi, radius)
#   buf    = (res, dec, taub): the X and Y copies, decay products, tau decay products of a match
#   tables = (x2p, ymode, token, yy_keys, yy_vals) from _build_tables


@nb.njit(cache=True)
def _dr(eta, phi, i, jeta, jphi):
    dphi = (phi[i] - jphi + np.pi) % (2.0 * np.pi) - np.pi
    return np.hypot(eta[i] - jeta, dphi)


@nb.njit(cache=True)
def _jet_dr(rec, i, jet):
    """Distance of particle i from the jet axis."""
    return _dr(rec[3], rec[4], i, jet[0], jet[1])


@nb.njit(cache=True)
def _inside(rec, i, jet):
    return _jet_dr(rec, i, jet) < jet[2]


@nb.njit(cache=True)
def _is_quark_or_gluon(apid):
    return (D <= apid <= B) or apid == GLUON


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


# --- X -> 2 prongs -------------------------------------------------------------------------------

@nb.njit(cache=True)
def _match_x_two_prongs(first, rec, jet, dec, x2p, stats):
    """X -> 2 quarks/gluons/e/mu, both inside the jet, the closer one first. Returns (label, ndec)."""
    pid = rec[0]
    q1, q2 = first, first + 1
    dr1, dr2 = _jet_dr(rec, q1, jet), _jet_dr(rec, q2, jet)
    if dr1 > dr2:
        q1, q2 = q2, q1
        dr1, dr2 = dr2, dr1
    if not (dr1 < jet[2] and dr2 < jet[2]):
        return INVALID, 0
    dec[0], dec[1] = q1, q2
    a1, a2 = abs(pid[q1]), abs(pid[q2])
    if a1 >= x2p.shape[0] or a2 >= x2p.shape[1]:
        return INVALID, 2
    label = x2p[a1, a2]
    if label < 0 and ((a1 == B and a2 == S) or (a1 == S and a2 == B)):
        stats[STAT_X_BS] += 1
    return label, 2


# --- X -> tau tau --------------------------------------------------------------------------------

@nb.njit(cache=True)
def _match_x_tautau(first, rec, jet, processed, dec, taub):
    """X -> tau_h tau_(e|mu|h): the hadronic tau inside the jet, the other tau (its lepton for a
    leptonic decay) too. Returns (label, ndec, ntau)."""
    pid, d1, d2 = rec[0], rec[1], rec[2]
    n = pid.shape[0]
    q1, q2 = first, first + 1
    in1, in2 = _inside(rec, q1, jet), _inside(rec, q2, jet)
    t1, m1 = _tau_decay(q1, pid, d1, d2, n, processed)
    t2, m2 = _tau_decay(q2, pid, d1, d2, n, processed)
    if m1 != TAU_H and m2 == TAU_H:  # hadronic tau first
        q1, q2, in1, in2, t1, t2, m1, m2 = q2, q1, in2, in1, t2, t1, m2, m1
    if not (m1 == TAU_H and in1):
        return INVALID, 0, 0
    dec[0] = q1
    ntau = _push_daughters(t1, d1, d2, n, taub, 0)
    if (m2 == TAU_E or m2 == TAU_MU) and _inside(rec, d1[t2], jet):
        label = LABEL_X_TAUHTAUE if m2 == TAU_E else LABEL_X_TAUHTAUM
    elif m2 == TAU_H and in2:
        label = LABEL_X_TAUHTAUH
    else:
        return INVALID, 1, ntau
    dec[1] = q2
    ntau = _push_daughters(t2, d1, d2, n, taub, ntau)
    return label, 2, ntau


# --- X -> Y Y -> 3 or 4 prongs -------------------------------------------------------------------

@nb.njit(cache=True)
def _collect_yy_products(first, rec, processed, res):
    """Last copies of both Ys (into res[1], res[2]) and their daughters in record order.

    Returns (products[4], number of products, how each Y decays)."""
    pid, d1, d2 = rec[0], rec[1], rec[2]
    n = pid.shape[0]
    kinds = np.zeros(2, np.int64)
    products = np.empty(YY_PRONGS, np.int64)
    count = 0
    for iy in range(2):
        y = _final_copy(first + iy, pid, d1, d2, n, processed)
        res[1 + iy] = y
        ya, yb = _dau_range(y, d1, d2, n)
        if yb > ya:
            kinds[iy] = Y_DECAY_HADRONIC if _is_quark_or_gluon(abs(pid[ya])) else Y_DECAY_LEPTONIC
        for k in range(ya, yb):
            if count < YY_PRONGS:
                products[count] = k
            count += 1
    return products, count, kinds


@nb.njit(cache=True)
def _order_yy_products(pid, yy, kinds):
    """The hadronic Y's products first; a leptonic Y's charged lepton before its neutrino."""
    if kinds[0] == Y_DECAY_LEPTONIC and kinds[1] == Y_DECAY_HADRONIC:
        yy[0], yy[2] = yy[2], yy[0]
        yy[1], yy[3] = yy[3], yy[1]
        kinds[0], kinds[1] = Y_DECAY_HADRONIC, Y_DECAY_LEPTONIC
    if kinds[1] == Y_DECAY_LEPTONIC:
        ap = abs(pid[yy[2]])
        if ap == NU_E or ap == NU_MU or ap == NU_TAU:
            yy[2], yy[3] = yy[3], yy[2]


@nb.njit(cache=True)
def _match_y(iy, rec, jet, processed, yy, matched, taub, ntau, ymode_tab):
    """Decay mode of Y number iy (Y_* constants) and which of its two products are inside the jet
    (``matched[2 iy]``, ``matched[2 iy + 1]``); tau decay products go to taub. Returns (mode, ntau)."""
    pid, d1, d2 = rec[0], rec[1], rec[2]
    n = pid.shape[0]
    u, v = yy[2 * iy], yy[2 * iy + 1]
    pu, pv = abs(pid[u]), abs(pid[v])
    if (D <= pu <= NU_MU) or pu == GLUON:  # quark, gluon, e or mu pair (neutrinos never match)
        matched[2 * iy] = _inside(rec, u, jet)
        matched[2 * iy + 1] = pv != NU_E and pv != NU_MU and _inside(rec, v, jet)
        return (Y_PAIR if _tab2(ymode_tab, pu, pv) else Y_NONE), ntau
    if pu == TAU and pv == TAU:
        tu, mu_ = _tau_decay(u, pid, d1, d2, n, processed)
        tv, mv_ = _tau_decay(v, pid, d1, d2, n, processed)
        ntau = _push_daughters(tu, d1, d2, n, taub, ntau)
        ntau = _push_daughters(tv, d1, d2, n, taub, ntau)
        if mu_ != TAU_H and mv_ == TAU_H:  # hadronic tau first
            u, v, tu, tv, mu_, mv_ = v, u, tv, tu, mv_, mu_
            yy[2 * iy], yy[2 * iy + 1] = u, v
        if mu_ != TAU_H:
            return Y_NONE, ntau
        matched[2 * iy] = _inside(rec, u, jet)
        if mv_ == TAU_E or mv_ == TAU_MU:  # the leptonic tau is seen through its lepton
            matched[2 * iy + 1] = _inside(rec, d1[tv], jet)
            return (Y_TAUHTAUE if mv_ == TAU_E else Y_TAUHTAUM), ntau
        matched[2 * iy + 1] = _inside(rec, v, jet)
        return Y_TAUHTAUH, ntau
    if pu == TAU and pv == NU_TAU:
        tu, mu_ = _tau_decay(u, pid, d1, d2, n, processed)
        ntau = _push_daughters(tu, d1, d2, n, taub, ntau)
        if mu_ == TAU_E or mu_ == TAU_MU:
            matched[2 * iy] = _inside(rec, d1[tu], jet)
            return (Y_TAUEV if mu_ == TAU_E else Y_TAUMV), ntau
        matched[2 * iy] = _inside(rec, u, jet)
        return Y_TAUHV, ntau
    return Y_NONE, ntau


@nb.njit(cache=True)
def _yy_label(pid, yy, mode, matched, tok_tab, yy_keys, yy_vals, stats):
    """Label of the matched Y Y prongs: the multiset of their tokens, looked up in yy_keys."""
    if mode[0] == Y_NONE or mode[1] == Y_NONE:
        return INVALID
    if Y_TAUHTAUE <= mode[1] <= Y_TAUHTAUH and not (matched[2] and matched[3]):
        return INVALID
    if matched.sum() < YY_MIN_MATCHED_PRONGS:
        return INVALID
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
        return yy_vals[pos]
    stats[STAT_YY_COMBINATION] += 1
    return INVALID


@nb.njit(cache=True)
def _match_yy(first, rec, jet, processed, buf, tables, stats):
    """X -> Y Y (first: index of the first Y). Returns (label, ndec, ntau)."""
    res, dec, taub = buf
    yy, count, kinds = _collect_yy_products(first, rec, processed, res)
    if kinds[0] == Y_DECAY_LEPTONIC and kinds[1] == Y_DECAY_LEPTONIC:
        return INVALID, 0, 0
    if count != YY_PRONGS:
        stats[STAT_YY_DAUGHTERS] += 1
        return INVALID, 0, 0
    _order_yy_products(rec[0], yy, kinds)
    dec[:YY_PRONGS] = yy  # decay products in this order (before any tau swap)
    mode = np.zeros(2, np.int64)
    matched = np.zeros(YY_PRONGS, np.bool_)
    ntau = 0
    for iy in range(2):
        mode[iy], ntau = _match_y(iy, rec, jet, processed, yy, matched, taub, ntau, tables[1])
    return _yy_label(rec[0], yy, mode, matched, tables[2], tables[3], tables[4], stats), YY_PRONGS, ntau


# --- one resonance, one jet ----------------------------------------------------------------------

@nb.njit(cache=True)
def _match_resonance(x0, rec, jet, processed, buf, tables, stats):
    """Label of the jet from resonance x0 (-1: none); fills buf. Returns (label, nres, ndec, ntau)."""
    pid, d1, d2 = rec[0], rec[1], rec[2]
    n = pid.shape[0]
    x = _final_copy(x0, pid, d1, d2, n, processed)
    buf[0][0] = x
    a, b = _dau_range(x, d1, d2, n)
    if b - a != 2:
        stats[STAT_X_DAUGHTERS] += 1
        return INVALID, 1, 0, 0
    p1, p2 = abs(pid[a]), abs(pid[a + 1])
    if (p1 == H_PLUS and p2 == H_PLUS) or (p1 == H0_HEAVY and p2 == H0_HEAVY):
        label, ndec, ntau = _match_yy(a, rec, jet, processed, buf, tables, stats)
        return label, 3, ndec, ntau
    if p1 == TAU and p2 == TAU:
        label, ndec, ntau = _match_x_tautau(a, rec, jet, processed, buf[1], buf[2])
        return label, 1, ndec, ntau
    label, ndec = _match_x_two_prongs(a, rec, jet, buf[1], tables[0], stats)
    return label, 1, ndec, 0


# --- per event, per jet --------------------------------------------------------------------------

@nb.njit(cache=True)
def _event_candidates(pid, status, pt, qcd_status, qcd_min_pt):
    """Resonance candidates and QCD parton candidates (b/c/s/u/d quarks of the given status
    above qcd_min_pt) of one event, in record order."""
    n = pid.shape[0]
    resonances = np.empty(n, np.int64)
    nres = 0
    partons = np.empty(n, np.int64)
    npart = 0
    for i in range(n):
        ap = abs(pid[i])
        if ap == H0_SM or ap == H0_HEAVY or ap == H_PLUS:
            resonances[nres] = i
            nres += 1
        elif D <= ap <= B and status[i] == qcd_status and pt[i] > qcd_min_pt:
            partons[npart] = i
            npart += 1
    return resonances[:nres], partons[:npart]


@nb.njit(cache=True)
def _label_from_resonances(resonances, rec, jet, processed, buf, tables, stats):
    """The first resonance (record order, chains of copies tried once) that labels the jet."""
    label, nres, ndec, ntau = INVALID, 0, 0, 0
    for i in resonances:
        if processed[i]:
            continue
        processed[i] = True
        label, nres, ndec, ntau = _match_resonance(i, rec, jet, processed, buf, tables, stats)
        if label >= 0:
            break
    return label, nres, ndec, ntau


@nb.njit(cache=True)
def _qcd_label(partons, rec, jet, qcdb, qcd_tab):
    """QCD label from the numbers of b, c and s partons inside the jet (those go to qcdb)."""
    pid = rec[0]
    n_b = n_c = n_s = 0
    nq = 0
    for i in partons:
        if _inside(rec, i, jet):
            qcdb[nq] = i
            nq += 1
            ap = abs(pid[i])
            if ap == B:
                n_b += 1
            elif ap == C:
                n_c += 1
            elif ap == S:
                n_s += 1
    return qcd_tab[min(n_b, 2), min(n_c, 2), min(n_s, 2)], nq


@nb.njit(cache=True)
def _append(out_idx, out_role, n_out, offset, idx, count, role):
    """Append idx[:count] (+ offset) with one role; grows the buffers when full."""
    if n_out + count > out_idx.shape[0]:
        new_cap = 2 * (n_out + count) + 16
        tmp_i = np.empty(new_cap, np.int64)
        tmp_r = np.empty(new_cap, np.int8)
        tmp_i[:n_out] = out_idx[:n_out]
        tmp_r[:n_out] = out_role[:n_out]
        out_idx, out_role = tmp_i, tmp_r
    for k in range(count):
        out_idx[n_out] = offset + idx[k]
        out_role[n_out] = role
        n_out += 1
    return out_idx, out_role, n_out


@nb.njit(cache=True)
def _label_kernel(cols, p_off, jet_eta, jet_phi, j_off, r, qcd, qcd_status, qcd_min_pt, tables, qcd_tab):
    """Labels of all jets; cols = flattened (pid, status, d1, d2, pt, eta, phi) of the records.

    Returns (labels, aux particles per jet, their global indices, their roles, anomaly counts)."""
    pid, status, d1, d2, pt, eta, phi = cols
    n_jets = jet_eta.shape[0]
    labels = np.full(n_jets, INVALID, np.int32)
    aux_count = np.zeros(n_jets, np.int64)
    cap = 16 + 8 * n_jets
    out_idx = np.empty(cap, np.int64)
    out_role = np.empty(cap, np.int8)
    n_out = 0
    stats = np.zeros(len(_STAT_REASONS), np.int64)
    res = np.empty(3, np.int64)
    dec = np.empty(YY_PRONGS, np.int64)
    for ev in range(p_off.shape[0] - 1):
        jlo, jhi = j_off[ev], j_off[ev + 1]
        if jhi == jlo:
            continue
        lo, hi = p_off[ev], p_off[ev + 1]
        n = hi - lo
        rec = (pid[lo:hi], d1[lo:hi], d2[lo:hi], eta[lo:hi], phi[lo:hi])
        resonances, partons = _event_candidates(pid[lo:hi], status[lo:hi], pt[lo:hi], qcd_status, qcd_min_pt)
        processed = np.zeros(n, np.bool_)
        buf = (res, dec, np.empty(n + 16, np.int64))
        qcdb = np.empty(max(partons.shape[0], 1), np.int64)
        for j in range(jlo, jhi):
            jet = (jet_eta[j], jet_phi[j], r)
            processed[:] = False
            label, nres, ndec, ntau = _label_from_resonances(resonances, rec, jet, processed, buf, tables, stats)
            nq = 0
            if label < 0 and qcd:
                nres = ndec = ntau = 0
                label, nq = _qcd_label(partons, rec, jet, qcdb, qcd_tab)
            labels[j] = label
            if label < 0:
                continue
            out_idx, out_role, n_out = _append(out_idx, out_role, n_out, lo, res, min(nres, 1), ROLE_X)
            out_idx, out_role, n_out = _append(out_idx, out_role, n_out, lo, res[1:], max(nres - 1, 0), ROLE_Y)
            out_idx, out_role, n_out = _append(out_idx, out_role, n_out, lo, dec, ndec, ROLE_DECAY_PRODUCT)
            out_idx, out_role, n_out = _append(out_idx, out_role, n_out, lo, buf[2], ntau, ROLE_TAU_DECAY_PRODUCT)
            out_idx, out_role, n_out = _append(out_idx, out_role, n_out, lo, qcdb, nq, ROLE_QCD_PARTON)
            aux_count[j] = nres + ndec + ntau + nq
    return labels, aux_count, out_idx[:n_out], out_role[:n_out], stats


def default_qcd_partons() -> tuple[int, float]:
    """(status, minimum pT) of the QCD parton candidates in the default ``config/ntuplizer.yaml``."""
    with open(resource("config/ntuplizer.yaml")) as f:
        cut = yaml.safe_load(f)["qcd_partons"]
    return int(cut["status"]), float(cut["min_pt"])


def label_flat(cols: dict[str, np.ndarray], p_off: np.ndarray, jet_eta: np.ndarray, jet_phi: np.ndarray,
               j_off: np.ndarray, jet_radius: float, qcd_labels: bool, qcd_partons: tuple[int, float]):
    """:func:`label_jets` on flat arrays: ``cols`` the generator particles' PID, Status, D1, D2, PT,
    Eta, Phi (all events concatenated, event e at ``p_off[e]:p_off[e + 1]``), jets of event e at
    ``j_off[e]:j_off[e + 1]``.

    Returns ``(labels, aux_count, aux_index, aux_role)``: a label per jet, how many aux particles
    each jet has, and their flat particle indices and roles (``ROLE_*``), jet after jet.
    """
    qcd_status, qcd_min_pt = qcd_partons
    # the stored dtypes (int32, float32) go in as they are: the kernel compares and subtracts
    # them in 64 bits, exactly as it would converted copies
    ints = [np.ascontiguousarray(cols[k]) for k in ("PID", "Status", "D1", "D2")]
    floats = [np.ascontiguousarray(cols[k]) for k in ("PT", "Eta", "Phi")]
    int_type = np.int32 if all(a.dtype == np.int32 for a in ints) else np.int64
    float_type = np.float32 if all(a.dtype == np.float32 for a in floats) else np.float64
    kcols = (*(a.astype(int_type, copy=False) for a in ints), *(a.astype(float_type, copy=False) for a in floats))
    labels, aux_count, gi, role, stats = _label_kernel(
        kcols, np.ascontiguousarray(p_off, dtype=np.int64), np.ascontiguousarray(jet_eta, dtype=np.float64),
        np.ascontiguousarray(jet_phi, dtype=np.float64), np.ascontiguousarray(j_off, dtype=np.int64),
        float(jet_radius), bool(qcd_labels), int(qcd_status), float(qcd_min_pt),
        (_X2P, _YMODE, _TOKEN, _YY_KEYS, _YY_VALS), _QCD)
    for reason, n in zip(_STAT_REASONS, stats):
        if n:
            log.warning("labelling: %d resonance(s) not labelled: %s", n, reason)
    return labels, aux_count, gi, role


def aux_columns(cols: dict[str, np.ndarray], gi: np.ndarray, role: np.ndarray) -> dict[str, np.ndarray]:
    """The aux_genpart fields (``AUX_FIELDS``) of the particles at flat indices ``gi`` with roles ``role``."""
    return {
        "pt": np.asarray(cols["PT"][gi], dtype=np.float32), "eta": np.asarray(cols["Eta"][gi], dtype=np.float32),
        "phi": np.asarray(cols["Phi"][gi], dtype=np.float32), "mass": np.asarray(cols["Mass"][gi], dtype=np.float32),
        "pid": np.asarray(cols["PID"][gi], dtype=np.int32),
        **{flag: role == r for r, flag in enumerate(ROLE_FLAGS)},
    }


def label_jets(particles: ak.Array, jets: ak.Array, jet_radius: float = 0.8, qcd_labels: bool = False,
               qcd_partons: tuple[int, float] | None = None):
    """Assign JetClass-II labels to reco jets from the generator record.

    ``particles``: events * var * {PID, Status, D1, D2, PT, Eta, Phi, Mass, ...} (Delphes
    ``Particle`` fields, daughter indices into the same event); ``jets``: events * var *
    {eta, phi, ...}; ``qcd_partons``: (status, minimum pT) of the quarks counted by the QCD
    labels (default: ``config/ntuplizer.yaml``). Returns ``(labels, aux)``: labels events * var *
    int32 (``-1`` = no valid label) and aux events * var * {pt, eta, phi, mass, pid, isResX, ...}
    lists per jet: X, the Ys, decay products, tau decay products, matched QCD partons, in that order.
    """
    qcd_partons = qcd_partons if qcd_partons is not None else default_qcd_partons()
    n_jets = np.asarray(ak.num(jets, axis=1), dtype=np.int64)
    n_part = np.asarray(ak.num(particles, axis=1), dtype=np.int64)
    p_off = np.concatenate([[0], np.cumsum(n_part)]).astype(np.int64)
    j_off = np.concatenate([[0], np.cumsum(n_jets)]).astype(np.int64)
    cols = {f: np.asarray(ak.to_numpy(ak.flatten(particles[f], axis=1)))
            for f in ("PID", "Status", "D1", "D2", "PT", "Eta", "Phi", "Mass")}
    labels, aux_count, gi, role = label_flat(cols, p_off, ak.to_numpy(ak.flatten(jets["eta"])),
                                             ak.to_numpy(ak.flatten(jets["phi"])), j_off, jet_radius, qcd_labels,
                                             qcd_partons)
    aux = ak.unflatten(ak.unflatten(ak.zip(aux_columns(cols, gi, role)), aux_count), n_jets)
    return ak.unflatten(labels, n_jets), aux
