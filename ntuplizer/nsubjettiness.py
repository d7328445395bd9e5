"""N-subjettiness as fastjet-contrib's ``Nsubjettiness`` computes it, in one numba kernel.

Definition (fastjet-contrib Nsubjettiness 2.2, as used by Delphes' FastJetFinder and by the
fastjet bindings' ``njettiness``): ``OnePass_KT_Axes`` (seed axes from exclusive kT clustering
with E-scheme recombination, then the one-pass minimisation, iterated until the axes move by
less than 1e-4 on average, at most 1000 times) and ``NormalizedMeasure(beta, R0)``:
tau_N = sum_i pT_i min_k dR_ik^beta / sum_i pT_i R0^beta; tau_N = 0 for N or fewer constituents.

The bindings cost ~0.2 ms per jet for tau_1..4 (a kT clustering per N behind a C++ loop); this
kernel clusters once and takes the exclusive jets of every N from the same history. It follows
fastjet's arithmetic step by step (rapidity and azimuth conventions, the order of the history,
of the axes and of every sum), so it gives the same numbers bit for bit
(tests/test_ntuplizer_speed.py compares them on every jet of the shared files). Exact ties —
constituents without transverse momentum (PUPPI candidates with zero weight sit at the same
point), equal distances — make fastjet's result depend on the order of its own loops: below
N2PLAIN_MAX constituents fastjet clusters the axes with its N2Plain strategy, and the kernel follows
those loops one for one (ties broken as fastjet breaks them); for larger jets fastjet uses a tiled
strategy, and the kernel declines a tied jet and the caller asks the bindings.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from .softdrop import _rap_phi

_TWO_PI = 2.0 * math.pi
_DBL_MAX = np.finfo(np.float64).max
_ACCURACY = 0.0001  # AxesDefinition::setNPass defaults of OnePass_KT_Axes
_ATTEMPTS = 1000


@numba.njit(cache=True, inline="always")
def _plain_distance(rap_a, phi_a, rap_b, phi_b):
    """fastjet's PseudoJet::plain_distance (dphi^2 + drap^2, this order)."""
    dphi = abs(phi_a - phi_b)
    if dphi > math.pi:
        dphi = _TWO_PI - dphi
    drap = rap_a - rap_b
    return dphi * dphi + drap * drap


@numba.njit(cache=True, inline="always")
def _axis_distance_sq(rap1, phi1, rap2, phi2):
    """Nsubjettiness' LightLikeAxis::DistanceSq (drap^2 + dphi^2, this order)."""
    dist_rap = rap1 - rap2
    dist_phi = abs(phi1 - phi2)
    if dist_phi > math.pi:
        dist_phi = 2.0 * math.pi - dist_phi
    return dist_rap * dist_rap + dist_phi * dist_phi


@numba.njit(cache=True, inline="always")
def _nearest(k, act, m, jrap, jphi):
    """Geometric nearest neighbour (position in ``act``) of active position k, its distance, and
    whether another one is exactly as near."""
    best, bp, tie = np.inf, -1, False
    ik = act[k]
    for q in range(m):
        if q != k:
            d = _plain_distance(jrap[ik], jphi[ik], jrap[act[q]], jphi[act[q]])
            if d < best:
                best, bp, tie = d, q, False
            elif d == best:
                tie = True
    return bp, best, tie


@numba.njit(cache=True)
def _kt_history(px, py, pz, e, kt2, rap, phi):
    """Exclusive kT clustering of one jet to a single pseudojet (R beyond any distance).

    The pair with the smallest min(kt2_i, kt2_j) dR_ij^2 merges first; as in fastjet, that pair
    is found through each pseudojet's geometric nearest neighbour. Returns (jet four-momenta of
    the history entries [2n-1, 4], parent1, parent2 per history entry, ok): ok is False when a
    choice depended on an exact tie of distances.
    """
    n = px.shape[0]
    size = 2 * n - 1
    mom = np.empty((size, 4))
    jkt2 = np.empty(size)
    jrap = np.empty(size)
    jphi = np.empty(size)
    parent1 = np.full(2 * n, -2, np.int64)
    parent2 = np.full(2 * n, -2, np.int64)
    for i in range(n):
        mom[i, 0], mom[i, 1], mom[i, 2], mom[i, 3] = px[i], py[i], pz[i], e[i]
        jkt2[i], jrap[i], jphi[i] = kt2[i], rap[i], phi[i]
    act = np.arange(n)  # history index (= row of mom) of the active pseudojets, by position
    nn = np.empty(n, np.int64)  # by position
    nnd = np.empty(n)
    m = n
    for k in range(m):
        nn[k], nnd[k], tie = _nearest(k, act, m, jrap, jphi)
        if tie:
            return mom, parent1, parent2, False
    for step in range(n - 1):
        best, ka, tie = np.inf, -1, False
        for k in range(m):
            d = nnd[k] * min(jkt2[act[k]], jkt2[act[nn[k]]])
            if d < best:
                best, ka, tie = d, k, False
            elif d == best and not (nn[k] == ka and nn[ka] == k):
                tie = True  # an equal distance of another pair
        if tie:
            return mom, parent1, parent2, False
        kb = nn[ka]
        if kb < ka:  # keep the merged pseudojet at the lower position (the last one moves)
            ka, kb = kb, ka
        ia, ib = act[ka], act[kb]
        c = n + step
        for q in range(4):
            mom[c, q] = mom[ia, q] + mom[ib, q]
        jkt2[c] = mom[c, 0] * mom[c, 0] + mom[c, 1] * mom[c, 1]
        jrap[c], jphi[c] = _rap_phi(mom[c, 0], mom[c, 1], mom[c, 2], mom[c, 3])
        parent1[c], parent2[c] = min(ia, ib), max(ia, ib)
        # the merged pseudojet takes position ka; the last position moves into kb
        act[ka] = c
        last = m - 1
        if kb != last:
            act[kb], nn[kb], nnd[kb] = act[last], nn[last], nnd[last]
        m -= 1
        for k in range(m):
            if nn[k] == last:
                nn[k] = kb
        if m == 1:
            break
        for k in range(m):
            if k == ka or nn[k] == ka or nn[k] == kb:
                # its neighbour was merged away (or it is the merged one): search again
                nn[k], nnd[k], tie = _nearest(k, act, m, jrap, jphi)
                if tie:
                    return mom, parent1, parent2, False
            else:
                d = _plain_distance(jrap[act[k]], jphi[act[k]], jrap[c], jphi[c])
                if d < nnd[k]:
                    nn[k], nnd[k] = ka, d
                elif d == nnd[k]:
                    return mom, parent1, parent2, False
    parent1[2 * n - 1], parent2[2 * n - 1] = act[0], -1  # the last pseudojet goes to the beam
    return mom, parent1, parent2, True


# fastjet's Best strategy for the exclusive kT clustering of the axes (R = 1000) is N2Plain below
# this many particles (checked in tests/test_ntuplizer_speed.py); N2Plain breaks exact ties in the
# order of its own loops, which _kt_history_n2plain follows.
N2PLAIN_MAX = 75
_R2_MAX = 1000.0 * 1000.0  # fastjet::JetDefinition::max_allowable_R squared


@numba.njit(cache=True, inline="always")
def _bj_dij(k, nn, nnd, bkt2):
    kt2 = bkt2[k]
    if nn[k] >= 0 and bkt2[nn[k]] < kt2:
        kt2 = bkt2[nn[k]]
    return nnd[k] * kt2


@numba.njit(cache=True)
def _kt_history_n2plain(px, py, pz, e, kt2, rap, phi):
    """:func:`_kt_history` as fastjet's N2Plain strategy runs it (ClusterSequence::_simple_N2_cluster),
    loop for loop: exact ties (constituents without transverse momentum) are broken as fastjet
    breaks them. Same outputs; ok is False only if a pseudojet went to the beam before the end."""
    n = px.shape[0]
    size = 2 * n - 1
    mom = np.empty((size, 4))
    parent1 = np.full(2 * n, -2, np.int64)
    parent2 = np.full(2 * n, -2, np.int64)
    for i in range(n):
        mom[i, 0], mom[i, 1], mom[i, 2], mom[i, 3] = px[i], py[i], pz[i], e[i]
    # brief jets by position: history index, rapidity, azimuth, kt2, nearest neighbour (position)
    bidx = np.arange(n)
    brap = rap.copy()
    bphi = phi.copy()
    bkt2 = kt2.copy()
    nn = np.full(n, -1, np.int64)
    nnd = np.full(n, _R2_MAX)
    dij = np.empty(n)
    for a in range(1, n):  # _bj_set_NN_crosscheck(jetA, head, jetA)
        best, bnn = _R2_MAX, -1
        for b in range(a):
            d = _plain_distance(brap[a], bphi[a], brap[b], bphi[b])
            if d < best:
                best, bnn = d, b
            if d < nnd[b]:
                nnd[b], nn[b] = d, a
        nn[a], nnd[a] = bnn, best
    for k in range(n):
        dij[k] = _bj_dij(k, nn, nnd, bkt2)
    m = n
    step = 0
    while m > 0:
        dmin, ka = dij[0], 0
        for k in range(1, m):
            if dij[k] < dmin:
                ka, dmin = k, dij[k]
        kb = nn[ka]
        if kb >= 0:
            if ka < kb:
                ka, kb = kb, ka
            ia, ib = bidx[ka], bidx[kb]
            c = n + step
            step += 1
            for q in range(4):
                mom[c, q] = mom[ia, q] + mom[ib, q]
            parent1[c], parent2[c] = min(ia, ib), max(ia, ib)
            # jetB becomes the new jet (_bj_set_jetinfo)
            bidx[kb] = c
            bkt2[kb] = mom[c, 0] * mom[c, 0] + mom[c, 1] * mom[c, 1]
            brap[kb], bphi[kb] = _rap_phi(mom[c, 0], mom[c, 1], mom[c, 2], mom[c, 3])
            nn[kb], nnd[kb] = -1, _R2_MAX
        else:
            if m > 1:
                return mom, parent1, parent2, False
            parent1[2 * n - 1], parent2[2 * n - 1] = bidx[ka], -1
        m -= 1  # tail--; *jetA = *tail
        bidx[ka], brap[ka], bphi[ka], bkt2[ka] = bidx[m], brap[m], bphi[m], bkt2[m]
        nn[ka], nnd[ka], dij[ka] = nn[m], nnd[m], dij[m]
        for i in range(m):
            if nn[i] == ka or nn[i] == kb:  # _bj_set_NN_nocross(jetI, head, tail)
                best, bnn = _R2_MAX, -1
                for q in range(m):
                    if q != i:
                        d = _plain_distance(brap[i], bphi[i], brap[q], bphi[q])
                        if d < best:
                            best, bnn = d, q
                nn[i], nnd[i] = bnn, best
                dij[i] = _bj_dij(i, nn, nnd, bkt2)
            if kb >= 0:
                d = _plain_distance(brap[i], bphi[i], brap[kb], bphi[kb])
                if d < nnd[i] and i != kb:
                    nnd[i], nn[i] = d, kb
                    dij[i] = _bj_dij(i, nn, nnd, bkt2)
                if d < nnd[kb] and i != kb:
                    nnd[kb], nn[kb] = d, i
            if nn[i] == m:
                nn[i] = ka
        if kb >= 0:
            dij[kb] = _bj_dij(kb, nn, nnd, bkt2)
    return mom, parent1, parent2, True


@numba.njit(cache=True)
def _exclusive_jets(n, n_jets, parent1, parent2):
    """History indices of the exclusive jets, in fastjet's order (exclusive_jets_up_to)."""
    stop = 2 * n - n_jets
    out = np.empty(n_jets, np.int64)
    k = 0
    for i in range(stop, 2 * n):
        if parent1[i] < stop:
            out[k] = parent1[i]
            k += 1
        if parent2[i] < stop and parent2[i] > 0:
            out[k] = parent2[i]
            k += 1
    return out


@numba.njit(cache=True)
def _tau(n_axes, rap, phi, perp, arap, aphi, half_beta, r0_beta):
    """NormalizedMeasure: partition by the closest axis, then the sums in fastjet's order."""
    n = rap.shape[0]
    owner = np.empty(n, np.int64)
    for i in range(n):
        best = _DBL_MAX
        owner[i] = -1
        for j in range(n_axes):
            d = _plain_distance(rap[i], phi[i], arap[j], aphi[j])
            if d < best:
                best = d
                owner[i] = j
    numerator = 0.0
    denominator = 0.0
    pieces = np.zeros(n_axes)
    for j in range(n_axes):
        for i in range(n):
            if owner[i] == j:
                d = _plain_distance(rap[i], phi[i], arap[j], aphi[j])
                if d > 0.0:
                    pieces[j] += perp[i] * math.pow(d, half_beta)
                denominator += perp[i] * r0_beta
    for j in range(n_axes):
        numerator += pieces[j]
    return numerator / denominator


@numba.njit(cache=True)
def _one_pass(n_axes, rap, phi, perp, px, py, pz, e, arap, aphi, amom, accuracy, attempts):
    """DefaultMeasure::get_one_pass_axes (pt_R, beta = 1): UpdateAxes until converged."""
    n = rap.shape[0]
    precision_sq = accuracy * accuracy
    assign = np.empty(n, np.int64)
    cmp = _DBL_MAX
    h = 0
    while cmp > accuracy and h < attempts:
        cmp = 0.0
        h += 1
        nrap = np.zeros(n_axes)
        nphi = np.zeros(n_axes)
        nweight = np.zeros(n_axes)
        jets = np.zeros((n_axes, 4))
        k_assign = -1
        for i in range(n):
            smallest = _DBL_MAX
            for k in range(n_axes):
                d = _axis_distance_sq(arap[k], aphi[k], rap[i], phi[i])
                if d < smallest:
                    smallest = d
                    k_assign = k
            assign[i] = k_assign
        for i in range(n):
            j = assign[i]
            if j == -1:
                continue
            dr = math.sqrt(precision_sq + _axis_distance_sq(arap[j], aphi[j], rap[i], phi[i]))
            old_dist = 1.0 / dr
            nrap[j] = nrap[j] + perp[i] * rap[i] * old_dist
            dist_phi = phi[i] - aphi[j]
            if abs(dist_phi) <= math.pi:
                nphi[j] = nphi[j] + perp[i] * phi[i] * old_dist
            elif dist_phi > math.pi:
                nphi[j] = nphi[j] + perp[i] * (-2 * math.pi + phi[i]) * old_dist
            elif dist_phi < -math.pi:
                nphi[j] = nphi[j] + perp[i] * (+2 * math.pi + phi[i]) * old_dist
            nweight[j] = nweight[j] + perp[i] * old_dist
            jets[j, 0] += px[i]
            jets[j, 1] += py[i]
            jets[j, 2] += pz[i]
            jets[j, 3] += e[i]
        for k in range(n_axes):
            if nweight[k] == 0:
                new_rap, new_phi, new_mom = arap[k], aphi[k], amom[k]
            else:
                new_rap = nrap[k] / nweight[k]
                new_phi = np.fmod(nphi[k] / nweight[k] + 2 * math.pi, 2 * math.pi)
                new_mom = math.sqrt((jets[k, 0] * jets[k, 0] + jets[k, 1] * jets[k, 1]) + jets[k, 2] * jets[k, 2])
            cmp += math.sqrt(_axis_distance_sq(arap[k], aphi[k], new_rap, new_phi))
            arap[k], aphi[k], amom[k] = new_rap, new_phi, new_mom
        cmp = cmp / n_axes


@numba.njit(cache=True)
def _one_jet(px, py, pz, e, n_max, beta, r0, taus):
    """tau_1..n_max of one jet into ``taus``; False where an exact tie makes fastjet's choice matter."""
    n = px.shape[0]
    kt2 = np.empty(n)
    perp = np.empty(n)
    rap = np.empty(n)
    phi = np.empty(n)
    exact_ties = n < N2PLAIN_MAX
    for i in range(n):
        kt2[i] = px[i] * px[i] + py[i] * py[i]
        if kt2[i] == 0.0 and not (exact_ties and n > 1):
            return False
        perp[i] = math.sqrt(kt2[i])
        rap[i], phi[i] = _rap_phi(px[i], py[i], pz[i], e[i])
    if n <= 1:
        taus[:] = 0.0
        return True
    if exact_ties:
        mom, parent1, parent2, ok = _kt_history_n2plain(px, py, pz, e, kt2, rap, phi)
    else:
        mom, parent1, parent2, ok = _kt_history(px, py, pz, e, kt2, rap, phi)
    if not ok:
        return False
    half_beta = beta / 2.0
    r0_beta = math.pow(r0, beta)
    for n_axes in range(1, n_max + 1):
        if n <= n_axes:
            taus[n_axes - 1] = 0.0
            continue
        hist = _exclusive_jets(n, n_axes, parent1, parent2)
        arap = np.empty(n_axes)
        aphi = np.empty(n_axes)
        amom = np.empty(n_axes)
        for k in range(n_axes):
            jx, jy, jz, je = mom[hist[k], 0], mom[hist[k], 1], mom[hist[k], 2], mom[hist[k], 3]
            arap[k], aphi[k] = _rap_phi(jx, jy, jz, je)
            amom[k] = math.sqrt((jx * jx + jy * jy) + jz * jz)
        _one_pass(n_axes, rap, phi, perp, px, py, pz, e, arap, aphi, amom, _ACCURACY, _ATTEMPTS)
        # the refined axes as fastjet PseudoJets (LightLikeAxis::ConvertToPseudoJet)
        for k in range(n_axes):
            big_e = amom[k]
            t = math.exp(2.0 * arap[k])
            az = (t - 1.0) / (t + 1.0) * big_e
            root = math.sqrt(big_e * big_e - az * az)
            ax = math.cos(aphi[k]) * root
            ay = math.sin(aphi[k]) * root
            arap[k], aphi[k] = _rap_phi(ax, ay, az, big_e)
        taus[n_axes - 1] = _tau(n_axes, rap, phi, perp, arap, aphi, half_beta, r0_beta)
    return True


@numba.njit(cache=True)
def nsubjettiness(px, py, pz, e, offsets, n_max, beta, r0):
    """tau_1..n_max of many jets (constituents flattened, jet j = offsets[j]:offsets[j + 1], in the
    order fastjet is given them). Returns (taus[n_jets, n_max], done[n_jets]): jets not done
    must be computed with fastjet-contrib itself."""
    n_jets = offsets.shape[0] - 1
    taus = np.zeros((n_jets, n_max))
    done = np.zeros(n_jets, np.bool_)
    for j in range(n_jets):
        lo, hi = offsets[j], offsets[j + 1]
        done[j] = _one_jet(px[lo:hi], py[lo:hi], pz[lo:hi], e[lo:hi], n_max, beta, r0, taus[j])
    return taus, done
