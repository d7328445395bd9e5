"""Labelling rules on hand-built generator records, and on the real Delphes files."""
import awkward as ak
import numpy as np
import pytest
import uproot
from jetclass2.ntuplizer.labels import LABEL_NAMES, label_jets

JET = {"eta": 0.0, "phi": 0.0}
NEAR = (0.1, 0.1)  # (eta, phi) inside an R=0.8 jet at (0, 0)
FAR = (2.0, 2.0)


class Record:
    """A generator record built particle by particle with consistent mother/daughter indices."""

    def __init__(self):
        self.rows = []

    def add(self, pid, status=1, at=NEAR, pt=50.0, mother=-1):
        i = len(self.rows)
        self.rows.append(dict(PID=pid, Status=status, M1=mother, M2=-1, D1=-1, D2=-1, PT=pt,
                              Eta=at[0], Phi=at[1], Mass=0.0, E=pt, Px=0.0, Py=0.0, Pz=0.0, Charge=0))
        if mother >= 0:
            m = self.rows[mother]
            m["D1"] = i if m["D1"] < 0 else m["D1"]
            m["D2"] = i
        return i

    def decay(self, parent, *children):
        """children: (pid, at) pairs; returns their indices."""
        return [self.add(pid, status=23, at=at, mother=parent) for pid, at in children]

    def array(self):
        return ak.Array([self.rows])


def label_of(rec, qcd=False, jet=JET, radius=0.8):
    labels, aux = label_jets(rec.array(), ak.Array([[jet]]), radius, qcd)
    lab = int(labels[0][0])
    return (LABEL_NAMES[lab] if lab >= 0 else None), aux[0][0]


def higgs(rec, pid=25, copies=1):
    """X with ``copies`` carbon copies (as the shower writes them); returns the last copy."""
    x = rec.add(pid, status=22)
    for _ in range(copies):
        x = rec.add(pid, status=44, mother=x)
    return x


def test_label_names_are_the_jetclass2_list(shared_dir):
    assert LABEL_NAMES == (shared_dir / "jetclass2/labels.txt").read_text().split()


@pytest.mark.parametrize("p1,p2,name", [
    (5, -5, "X_bb"), (4, -4, "X_cc"), (3, -3, "X_ss"), (2, -1, "X_qq"), (1, -1, "X_qq"),
    (5, -4, "X_bc"), (4, -3, "X_cs"), (-2, 5, "X_bq"), (4, -1, "X_cq"), (3, -2, "X_sq"),
    (21, 21, "X_gg"), (11, -11, "X_ee"), (13, -13, "X_mm")])
def test_two_prong_flavours(p1, p2, name):
    rec = Record()
    x = higgs(rec, copies=2)
    rec.decay(x, (p1, NEAR), (p2, (-0.2, 0.1)))
    label, aux = label_of(rec)
    assert label == name
    assert aux.isResX.tolist() == [True, False, False]
    assert sorted(map(abs, aux.pid.tolist()[1:])) == sorted([abs(p1), abs(p2)])


def test_two_prong_needs_both_prongs_inside_and_bs_is_not_a_class():
    rec = Record()
    x = higgs(rec)
    rec.decay(x, (5, NEAR), (-5, FAR))
    assert label_of(rec)[0] is None
    rec = Record()
    x = higgs(rec)
    rec.decay(x, (5, NEAR), (-3, NEAR))
    assert label_of(rec)[0] is None


def test_second_resonance_is_tried_when_first_fails():
    rec = Record()
    x1 = higgs(rec)
    x2 = higgs(rec)
    rec.decay(x1, (5, FAR), (-5, FAR))
    rec.decay(x2, (4, NEAR), (-4, NEAR))
    assert label_of(rec)[0] == "X_cc"


def add_tau_decay(rec, t, mode, at):
    if mode == "e":
        rec.decay(t, (11, at), (-12, at), (16, at))
    elif mode == "m":
        rec.decay(t, (-14, at), (13, at), (16, at))  # neutrino listed first: the mode is still tau_mu
    else:
        rec.decay(t, (-211, at), (111, at), (16, at))


@pytest.mark.parametrize("modes,name", [(("h", "e"), "X_tauhtaue"), (("e", "h"), "X_tauhtaue"),
                                        (("h", "m"), "X_tauhtaum"), (("h", "h"), "X_tauhtauh"),
                                        (("e", "m"), None), (("e", "e"), None)])
def test_ditau_modes_hadronic_tau_first(modes, name):
    rec = Record()
    x = higgs(rec)
    t1 = rec.add(15, status=23, at=NEAR, mother=x)
    t2 = rec.add(-15, status=23, at=(-0.1, -0.1), mother=x)
    add_tau_decay(rec, t1, modes[0], NEAR)
    add_tau_decay(rec, t2, modes[1], (-0.1, -0.1))
    label, aux = label_of(rec)
    assert label == name
    if name:
        assert aux.isTauDecayProd.tolist().count(True) == 6
        assert aux.isResDecayProd.tolist().count(True) == 2


def build_yy(y_pid, y1, y2):
    """X(25) -> Y Y, each Y -> two (pid, at) daughters."""
    rec = Record()
    x = higgs(rec)
    ys = rec.decay(x, (y_pid, NEAR), (-y_pid if y_pid == 37 else y_pid, NEAR))
    for y, daus in zip(ys, (y1, y2)):
        ylast = rec.add(rec.rows[y]["PID"], status=44, mother=y)  # a copy to follow
        for pid, at in daus:
            rec.add(pid, status=23, at=at, mother=ylast)
    return rec


@pytest.mark.parametrize("y1,y2,name", [
    ([(5, NEAR), (-5, NEAR)], [(4, NEAR), (-4, NEAR)], "X_YY_bbcc"),
    ([(4, NEAR), (-4, NEAR)], [(5, NEAR), (-5, NEAR)], "X_YY_bbcc"),
    ([(5, NEAR), (-5, NEAR)], [(4, NEAR), (-4, FAR)], "X_YY_bbc"),
    ([(5, NEAR), (-5, FAR)], [(4, NEAR), (-4, FAR)], None),            # only 2 matched prongs
    ([(21, NEAR), (21, NEAR)], [(11, NEAR), (-11, NEAR)], "X_YY_ggee"),
    ([(13, NEAR), (-13, NEAR)], [(3, NEAR), (-3, NEAR)], "X_YY_ssmm"),  # leptonic Y listed first
    ([(13, NEAR), (-13, FAR)], [(3, NEAR), (-3, NEAR)], "X_YY_ssm"),
    ([(11, NEAR), (-11, NEAR)], [(13, NEAR), (-13, NEAR)], None),       # both Ys leptonic
])
def test_neutral_yy(y1, y2, name):
    assert label_of(build_yy(35, y1, y2))[0] == name


@pytest.mark.parametrize("y1,y2,name", [
    ([(2, NEAR), (-1, NEAR)], [(-2, NEAR), (5, NEAR)], "X_YY_qqqb"),
    ([(4, NEAR), (-3, NEAR)], [(-4, NEAR), (3, NEAR)], "X_YY_ccss"),
    ([(4, NEAR), (-5, NEAR)], [(-2, NEAR), (1, NEAR)], "X_YY_qqbc"),
    ([(4, NEAR), (-3, NEAR)], [(11, NEAR), (-12, NEAR)], "X_YY_csev"),
    ([(4, NEAR), (-3, NEAR)], [(-12, NEAR), (11, NEAR)], "X_YY_csev"),  # neutrino listed first
    ([(-14, NEAR), (13, NEAR)], [(4, NEAR), (-5, NEAR)], "X_YY_bcmv"),   # leptonic Y first, nu first
    ([(4, NEAR), (-3, NEAR)], [(11, FAR), (-12, NEAR)], None),          # e outside: 2 matched + nu
    ([(4, NEAR), (-3, FAR)], [(13, NEAR), (-14, NEAR)], None),
])
def test_charged_yy(y1, y2, name):
    assert label_of(build_yy(37, y1, y2))[0] == name


def _yy_with_taus(y2_modes, y_pid=35, tau_at=(NEAR, NEAR)):
    rec = Record()
    x = higgs(rec)
    ya, yb = rec.decay(x, (y_pid, NEAR), (y_pid if y_pid == 35 else -y_pid, NEAR))
    rec.decay(ya, (5, NEAR), (-5, NEAR))
    if len(y2_modes) == 2:
        t1 = rec.add(15, status=23, at=tau_at[0], mother=yb)
        t2 = rec.add(-15, status=23, at=tau_at[1], mother=yb)
        add_tau_decay(rec, t1, y2_modes[0], tau_at[0])
        add_tau_decay(rec, t2, y2_modes[1], tau_at[1])
    else:
        t = rec.add(15, status=23, at=tau_at[0], mother=yb)
        rec.add(-16, status=23, at=NEAR, mother=yb)
        add_tau_decay(rec, t, y2_modes[0], tau_at[0])
    return rec


@pytest.mark.parametrize("modes,name", [(("h", "h"), "X_YY_bbtauhtauh"), (("e", "h"), "X_YY_bbtauhtaue"),
                                        (("h", "m"), "X_YY_bbtauhtaum")])
def test_yy_ditau(modes, name):
    assert label_of(_yy_with_taus(modes))[0] == name


def test_yy_ditau_requires_both_taus_matched():
    assert label_of(_yy_with_taus(("h", "h"), tau_at=(NEAR, FAR)))[0] is None


@pytest.mark.parametrize("mode,name", [("h", "X_YY_bbtauhv"), ("e", "X_YY_bbtauev"), ("m", "X_YY_bbtaumv")])
def test_yy_tau_neutrino_is_not_a_class_for_bb_but_bc_is(mode, name):
    # H+ -> b b does not exist; the X_YY_bb*tau*v combinations are therefore rejected...
    assert label_of(_yy_with_taus((mode,), y_pid=37))[0] is None
    # ...while H+ -> c b with H- -> tau nu is a class
    rec = Record()
    x = higgs(rec)
    ya, yb = rec.decay(x, (37, NEAR), (-37, NEAR))
    rec.decay(ya, (4, NEAR), (-5, NEAR))
    t = rec.add(15, status=23, at=NEAR, mother=yb)
    rec.add(-16, status=23, at=NEAR, mother=yb)
    add_tau_decay(rec, t, mode, NEAR)
    assert label_of(rec)[0] == name.replace("bb", "bc")


@pytest.mark.parametrize("quarks,name", [([], "QCD_light"), ([5], "QCD_b"), ([5, -5], "QCD_bb"),
                                         ([5, 5, 5, 4], "QCD_bbc"), ([4, -4, 3], "QCD_ccs"),
                                         ([3, 3, -3], "QCD_ss"), ([5, 4, 3], "QCD_bcs")])
def test_qcd_labels(quarks, name):
    rec = Record()
    for q in quarks:
        rec.add(q, status=71, at=NEAR, pt=30)
    rec.add(5, status=71, at=FAR, pt=30)   # outside the jet
    rec.add(4, status=71, at=NEAR, pt=5)   # too soft
    rec.add(4, status=62, at=NEAR, pt=50)  # not right before hadronization
    assert label_of(rec)[0] is None
    label, aux = label_of(rec, qcd=True)
    assert label == name
    assert aux.isQcdParton.tolist() == [True] * len(quarks)


def test_qcd_label_only_when_no_resonance_matches():
    rec = Record()
    x = higgs(rec)
    rec.decay(x, (5, FAR), (-5, FAR))
    rec.add(5, status=71, at=NEAR, pt=30)
    assert label_of(rec, qcd=True)[0] == "QCD_b"
    rec = Record()
    x = higgs(rec)
    rec.decay(x, (5, NEAR), (-5, NEAR))
    rec.add(4, status=71, at=NEAR, pt=30)
    assert label_of(rec, qcd=True)[0] == "X_bb"


@pytest.mark.parametrize("delphes,ntuple,qcd", [
    ("res2p_higgs2p_10events", "res2p_higgs2p_10events.ntuple.root", False),
    ("res2p_higgs2p_10events", "res2p_higgs2p_10events.qcdlabels.ntuple.root", True),
    ("hbb_m125_pt500_200events", "hbb_m125_pt500_200events.ntuple.root", False)])
def test_labels_of_delphes_jets_match_reference(shared_dir, delphes, ntuple, qcd):
    """Label Delphes' own JetPUPPIAK8 jets: labels and aux_genpart_* equal the reference macro's."""
    t = uproot.open(shared_dir / "delphes" / f"{delphes}.root")["Delphes"]
    fields = ["PID", "Status", "M1", "M2", "D1", "D2", "PT", "Eta", "Phi", "Mass"]
    p = t.arrays([f"Particle.{f}" for f in fields])
    particles = ak.zip({f: p[f"Particle.{f}"] for f in fields})
    j = t.arrays(["JetPUPPIAK8.PT", "JetPUPPIAK8.Eta", "JetPUPPIAK8.Phi"])
    jets = ak.zip({"pt": j["JetPUPPIAK8.PT"], "eta": j["JetPUPPIAK8.Eta"], "phi": j["JetPUPPIAK8.Phi"]})
    jets = jets[(jets.pt >= 120) & (abs(jets.eta) <= 2.5)]
    labels, aux = label_jets(particles, jets, 0.8, qcd)
    keep = labels >= 0
    ref = uproot.open(shared_dir / "ntuples" / ntuple)["tree"].arrays()
    assert ak.flatten(labels[keep]).tolist() == ref.jet_label.tolist()
    aux = ak.flatten(aux[keep], axis=1)
    for f in ("pid", "isResX", "isResY", "isResDecayProd", "isTauDecayProd", "isQcdParton"):
        assert aux[f].tolist() == ref[f"aux_genpart_{f}"].tolist(), f
    for f in ("pt", "eta", "phi", "mass"):
        np.testing.assert_allclose(ak.flatten(aux[f]), ak.flatten(ref[f"aux_genpart_{f}"]), rtol=1e-6)
