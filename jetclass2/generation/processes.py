"""Hard processes of X pairs that Pythia 8 lacks, as Python ``Sigma2Process`` objects (embedded path).

The reference production makes two X per event with MadGraph (docs/generation.md):

* Res2P neutral: ``p p > h h`` in MG5's ``heft-no_b_mass``, where only ``g g > h* > h h`` survives
  (the model has no g g h h contact vertex, its HIG order is at most 1 and the b has no Yukawa);
* Res34P: ``p p > h1 h1`` in MG5's ``2HDM`` (default param card): q qbar -> h1 h1 by t/u-channel
  quark exchange and s-channel h1/h2/h3, 97 % c cbar.

:class:`GluonFusionHH` and :class:`QQbarToScalarPair` give Pythia the same tree-level |M|^2
(constants from ``cards/processes/*.yaml``). Both X come from the 2 -> 2, so
``PhaseSpace:pTHatMin`` cuts each X at pT_min like MG5's ``pt_min_pdg``. Scales are Pythia's
default for 2 -> 2 (mu^2 = m_T^2 of the X, MG5's default dynamical scale for this topology);
alpha_s at mu_R is Pythia's ``SigmaProcess:alphaSvalue`` (set in the sample card to the
hard-process PDF's value). The masses of the final and s-channel scalars are read from Pythia's
particle data at every initialisation, so each grid point (``25:m0``, ``35:m0``...) is honoured.

Pythia calls ``sigmaKin`` once per phase-space point and ``sigmaHat`` once per incoming flavour
pair; both are plain-float Python (no numpy) to keep the callback cost small
(``benchmarks/validate_pair_production.py`` measures ms/event).
"""
from __future__ import annotations

import math
from pathlib import Path

import yaml

from jetclass2.resources import resolve

#: Python processes by the name a sample's ``pair_process`` gives
PROCESSES: dict[str, type] = {}


class ProcessCardError(ValueError):
    """A process card is missing, unreadable or lacks a key."""


def load_card(path: str | Path) -> dict:
    """Read a process card (YAML) from ``cards/processes``."""
    p = resolve(path)
    try:
        with open(p) as f:
            card = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise ProcessCardError(f"{p}: cannot read the process card ({exc})") from exc
    _classes()
    if not isinstance(card, dict) or card.get("process") not in PROCESSES:
        raise ProcessCardError(f"{p}: process: must be one of {', '.join(PROCESSES)}")
    return card


def make_process(card: dict):
    """The ``Sigma2Process`` a process card describes."""
    _classes()
    return PROCESSES[card["process"]](card)


def _classes():
    """Define the process classes (they subclass ``pythia8mc.Sigma2Process``: defined on first use)."""
    if not PROCESSES:
        _define()


def _sigma2process():
    import pythia8mc

    return pythia8mc.Sigma2Process


def _complex(value) -> complex:
    """A coupling from the card: a number or ``[re, im]``."""
    if isinstance(value, (list, tuple)):
        return complex(float(value[0]), float(value[1]))
    return complex(value)


# ---- |M|^2, plain functions (also used by the tests' independent checks) ---------------------------

def gg_hh_heft_me2(s: float, m_h: float, width: float, alpha_s: float, v: float, m_top: float) -> float:
    """Spin- and colour-averaged |M|^2 of g g -> h* -> h h in the heavy-top effective theory.

    Vertices as MG5's heft UFO: g g h = -i G_H (p1.p2 g^{mu nu} - p2^mu p1^nu) with
    G_H = -alpha_s/(3 pi v) (1 + 7 r/120 + r^2/168 + 13 r^3/16800), r = m_h^2/m_t^2; h h h = -i 3 m_h^2/v.
    Sum over gluon polarisations of the tensor: s^2/2; colour delta^ab delta^ab = 8; average 1/256:
    |M|^2 = s^2/64 G_H^2 (3 m_h^2/v)^2 / ((s - m_h^2)^2 + m_h^2 Gamma^2), independent of t.
    """
    r = m_h * m_h / (m_top * m_top)
    g_h = alpha_s / (3.0 * math.pi * v) * (1.0 + 7.0 * r / 120.0 + r * r / 168.0 + 13.0 * r ** 3 / 16800.0)
    lam = 3.0 * m_h * m_h / v
    m2 = m_h * m_h
    return s * s / 64.0 * g_h * g_h * lam * lam / ((s - m2) ** 2 + m2 * width * width)


def qqbar_ss_me2(s: float, t: float, u: float, m3sq: float, m4sq: float, exchanges, s_channels) -> float:
    """Spin- and colour-averaged |M|^2 of q(p1) qbar(p2) -> S(k1) S(k2) for massless quarks.

    ``exchanges``: (m_k, (A, B), (C, D)) per t/u-channel quark k, the vertices as MG5 writes them:
    A P_L + B P_R where the incoming quark turns into k, C P_L + D P_R where k meets the antiquark.
    ``s_channels``: (M, Gamma, (E, F), lambda): the q qbar vertex E P_L + F P_R and the S S scalar
    coupling lambda of an s-channel scalar. UFO couplings carry their factor i, so every diagram has
    the same overall phase (three i's).
    With Gamma_2 (qslash + m) Gamma_1 = qslash (CB P_R + DA P_L) + m (CA P_L + DB P_R), the amplitude
    splits into chirality-conserving pieces vbar Kslash P_{R,L} u, K = a q_t + b q_u
    (q_t = p1 - k1, q_u = p1 - k2), and chirality-flipping ones sigma vbar P_{L,R} u, which do not
    interfere for massless quarks:
    sum |vbar Kslash P u|^2 = 2 [2 Re((p2.K)(p1.K*)) - (p1.p2) K.K*],  sum |sigma vbar P u|^2 = |sigma|^2 s.
    Average 1/4 (spins) x 3/9 (colour singlet).
    """
    aR = bR = aL = bL = 0j
    sigL = sigR = 0j
    for m, (a, b), (c, d) in exchanges:
        m2 = m * m
        it, iu = 1.0 / (t - m2), 1.0 / (u - m2)
        cr, cl = c * b, d * a
        aR += cr * it
        bR += cr * iu
        aL += cl * it
        bL += cl * iu
        if m:
            fl, fr = m * c * a, m * d * b
            sigL += fl * (it + iu)
            sigR += fr * (it + iu)
    for mass, width, (e, f), lam in s_channels:
        prop = lam / complex(s - mass * mass, mass * width)
        sigL += e * prop
        sigR += f * prop
    # dot products of q_t, q_u with p1, p2 and each other
    p1qt, p1qu = 0.5 * (t - m3sq), 0.5 * (u - m4sq)
    p2qt, p2qu = 0.5 * (s - m3sq + u), 0.5 * (s - m4sq + t)
    qtqu = 0.5 * (u - m4sq + t - m3sq + s - m3sq - m4sq)
    total = (abs(sigL) ** 2 + abs(sigR) ** 2) * s
    for a, b in ((aR, bR), (aL, bL)):
        if a == 0 and b == 0:
            continue
        p2k = a * p2qt + b * p2qu
        p1k = a * p1qt + b * p1qu
        kk = abs(a) ** 2 * t + abs(b) ** 2 * u + 2.0 * (a * b.conjugate()).real * qtqu
        total += 2.0 * (2.0 * (p2k * p1k.conjugate()).real - 0.5 * s * kk)
    return total / 12.0


# ---- Pythia processes --------------------------------------------------------------------------------

class _PairBase:
    """Shared parts: two ``pdg`` scalars, identical-particle factor 1/2, dsigma/dt = |M|^2/(16 pi s^2)."""

    process_name = ""

    def _common(self, card: dict):
        self.card = card
        try:
            self.pdg = int(card["final_pdg"])
            self._code = int(card["code"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ProcessCardError(f"process card: missing or bad key {exc}") from exc

    def name(self):
        return self.card.get("name", self.process_name)

    def code(self):
        return self._code

    def id3Mass(self):  # noqa: N802 - Pythia's method names
        return self.pdg

    def id4Mass(self):  # noqa: N802
        return self.pdg

    def _dsigma_dt(self, me2: float) -> float:
        return 0.5 * me2 / (16.0 * math.pi * self.sH2)


def _define():
    base = _sigma2process()

    class GluonFusionHH(_PairBase, base):
        """g g -> h* -> h h in MG5's heft (heavy-top limit), both h = ``final_pdg`` (card ``gg2hh_heft.yaml``)."""

        process_name = "gg2hh_heft"

        def __init__(self, card: dict):
            base.__init__(self)
            self._common(card)
            try:
                self.v = float(card["vev"])
                self.m_top = float(card["top_mass"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ProcessCardError(f"process card: missing or bad key {exc}") from exc
            self._sigma = 0.0

        def inFlux(self):  # noqa: N802
            return "gg"

        def sigmaKin(self):  # noqa: N802
            me2 = gg_hh_heft_me2(self.sH, self._m0, self._width, self.alpS, self.v, self.m_top)
            self._sigma = self._dsigma_dt(me2)

        def sigmaHat(self):  # noqa: N802
            return self._sigma

        def setIdColAcol(self):  # noqa: N802
            self.setId(self.id1, self.id2, self.pdg, self.pdg)
            self.setColAcol(1, 2, 2, 1, 0, 0, 0, 0)

    class QQbarToScalarPair(_PairBase, base):
        """q qbar -> S S by t/u-channel quark exchange and s-channel scalars (card ``qqbar2h1h1_2hdm.yaml``)."""

        process_name = "qqbar2ss"

        def __init__(self, card: dict):
            base.__init__(self)
            self._common(card)
            try:
                self.flavours = {}
                for q, spec in card["flavours"].items():
                    exch = [(float(e["mass"]), tuple(_complex(x) for x in e["vertex_in"]),
                             tuple(_complex(x) for x in e["vertex_out"])) for e in spec.get("exchange", [])]
                    sch = [(e.get("mass"), e.get("width"), int(e.get("pdg", 0)),
                            tuple(_complex(x) for x in e["vertex_qq"]), _complex(e["coupling_ss"]))
                           for e in spec.get("s_channel", [])]
                    self.flavours[int(q)] = (exch, sch)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ProcessCardError(f"process card: flavours: missing or bad key {exc}") from exc
            self._sigma = {}

        def inFlux(self):  # noqa: N802
            return "qqbarSame"

        def sigmaKin(self):  # noqa: N802
            s, t, u = self.sH, self.tH, self.uH
            m3sq, m4sq = self.s3, self.s4
            out = {}
            for q, (exch, sch) in self._resolved.items():
                out[q] = self._dsigma_dt(qqbar_ss_me2(s, t, u, m3sq, m4sq, exch, sch))
            self._sigma = out

        def sigmaHat(self):  # noqa: N802
            return self._sigma.get(abs(self.id1), 0.0)

        def setIdColAcol(self):  # noqa: N802
            self.setId(self.id1, self.id2, self.pdg, self.pdg)
            if self.id1 > 0:
                self.setColAcol(1, 0, 0, 1, 0, 0, 0, 0)
            else:
                self.setColAcol(0, 1, 1, 0, 0, 0, 0, 0)

    for cls in (GluonFusionHH, QQbarToScalarPair):
        PROCESSES[cls.process_name] = cls


def configure(process, particle_data) -> None:
    """Read the grid point's masses and widths from Pythia's particle data before (re-)initialisation.

    Called by the generator after the batch's settings are read and before ``Pythia.init``.
    """
    pdg = process.pdg
    process._m0 = particle_data.m0(pdg)
    process._width = particle_data.mWidth(pdg)
    if hasattr(process, "flavours"):
        resolved = {}
        for q, (exch, sch) in process.flavours.items():
            s_list = []
            for mass, width, spdg, vqq, lam in sch:
                m = particle_data.m0(spdg) if mass is None else float(mass)
                w = particle_data.mWidth(spdg) if width is None else float(width)
                s_list.append((m, w, vqq, lam))
            resolved[q] = (exch, s_list)
        process._resolved = resolved
