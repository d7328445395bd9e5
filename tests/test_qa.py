"""The dataset QA report: PASS/WARN/FAIL checks on packed real jets, plots, provenance, the summary page."""
import base64
import json
import os
import re

import awkward as ak
import numpy as np
import pytest
import uproot
from jetclass2.ntuplizer.label_names import LABEL_NAMES
from jetclass2.ntuplizer.schema import BRANCH_NAMES
from jetclass2.ntuplizer.writer import write_jets
from packing_helpers import reference_dir, relabelled_inputs, res2p_inputs

from jetclass2.jetdata import qa, qa_plots
from jetclass2.packing.fileio import PackingError, read_ntuple, write_packed
from jetclass2.packing.pack import pack_category
from jetclass2.packing.store import commit


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("qa")
    pack_category("Res2P", res2p_inputs(tmp), tmp / "dataset", jets_per_file=40, seed=2)
    return tmp / "dataset"


@pytest.fixture(scope="module")
def two_categories(tmp_path_factory):
    """Res2P (real jets) and QCD (the real H->bb jets relabelled with the QCD labels) in one dataset."""
    tmp = tmp_path_factory.mktemp("qa2")
    pack_category("Res2P", res2p_inputs(tmp), tmp / "dataset", jets_per_file=40, seed=2)
    (tmp / "qcd").mkdir()
    pack_category("QCD", relabelled_inputs(tmp / "qcd", "QCD"), tmp / "dataset", jets_per_file=40, seed=2)
    return tmp / "dataset"


def sections(page):
    """Category -> its section of the page."""
    return dict(re.findall(r"<section id='([^']+)'>(.*?)</section>", page, flags=re.S))


def status(summary, check):
    return next(c["status"] for c in summary["checks"] if c["check"] == check)


def test_report_of_a_good_small_dataset(dataset, tmp_path):
    ref = reference_dir() / "jetclass2" / "jetclass2_sample_100jets.parquet"
    s = qa.category_report(dataset, "Res2P", tmp_path / "Res2P", reference=ref, provenance_dir=tmp_path / "none")
    assert [status(s, c) for c in ("conservation", "empty files", "finite values", "schema")] == ["PASS"] * 4
    # 8 of the 15 Res2P labels in 195 jets: expected at this size, a WARN, not a FAIL
    assert status(s, "labels") == "WARN" and "8 of 15 Res2P labels present" in json.dumps(s["checks"])
    assert status(s, "grid coverage") == "WARN" and s["status"] == "WARN"
    assert s["jets"] == s["jets_read"] == 195 and 0.9 < s["gen_match_rate"]["X_QQ"] <= 1
    for plot in qa.PLOTS:
        assert (tmp_path / "Res2P" / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "Res2P" / "summary.json").read_text()) == json.loads(json.dumps(s))
    # the same dataset is a FAIL where every label is expected (the full production's size)
    s = qa.category_report(dataset, "Res2P", tmp_path / "strict", reference=ref, min_jets_all_labels=100)
    assert status(s, "labels") == "FAIL" and s["status"] == "FAIL"


def test_grid_coverage_from_provenance(dataset, tmp_path):
    delphes = tmp_path / "delphes" / "Res2P_neutral"
    delphes.mkdir(parents=True)
    record = {"sample": "Res2P_neutral", "job": 0, "seed": 1,
              "batches": [{"batch": 0, "events": 10, "mass_x": 125.0, "pt_min": 500},
                          {"batch": 1, "events": 10, "mass_x": 300.0, "pt_min": 997}]}
    (delphes / "00000.root.gridpoints.json").write_text(json.dumps(record))
    s = qa.category_report(dataset, "Res2P", tmp_path / "out", provenance_dir=tmp_path / "delphes")
    assert status(s, "grid coverage") == "INFO"
    assert s["grid_coverage"]["Res2P_neutral"]["(mass_x, pt_min)"] == [2, 98 * 50]
    (delphes / "00001.root.gridpoints.json").write_text("{not json")
    s = qa.category_report(dataset, "Res2P", tmp_path / "out", provenance_dir=tmp_path / "delphes")
    assert status(s, "grid coverage") == "WARN" and "00001.root.gridpoints.json" in json.dumps(s["checks"])


def test_nan_jets_fail_the_report(tmp_path):
    ntuple = reference_dir() / "ntuples" / "res2p_higgs2p_10events.ntuple.root"
    jets = uproot.open(ntuple)["tree"].arrays(BRANCH_NAMES)
    sd = ak.to_numpy(jets.jet_sdmass).copy()
    sd[3] = np.nan
    write_jets(tmp_path / "nan.root", ak.with_field(jets, sd, "jet_sdmass"))
    with pytest.raises(PackingError, match="nan.root: 1 non-finite values"):  # pack refuses them now
        pack_category("Res2P", [tmp_path / "nan.root"], tmp_path / "dataset", jets_per_file=7, split=(1, 0, 0))
    # a dataset packed before pack refused them: its manifest counts them, and QA fails it
    packed = tmp_path / "old" / "Res2P_0000.root"
    f = write_packed(packed, read_ntuple(tmp_path / "nan.root", 100))
    f.update(split="train", labels={str(k): v for k, v in f["labels"].items()})
    m = {"category": "Res2P", "format": "root", "jets": f["jets"], "labels": f["labels"], "split": {"train": [0, 0]},
         "inputs": [{"path": str(tmp_path / "nan.root"), "jets": f["jets"], "fingerprint": ""}], "files": [f], "tarballs": []}
    commit(tmp_path / "dataset", m, {f["file"]: packed})
    assert sum(f["nonfinite"].get("jet_sdmass", 0) for f in m["files"]) == 1
    s = qa.category_report(tmp_path / "dataset", "Res2P", tmp_path / "qa")
    assert status(s, "finite values") == "FAIL" and s["status"] == "FAIL"
    page = qa.html_summary([s])
    assert "Dataset QA: <span style='color:#c62828'>FAIL</span>" in page and "jet_sdmass" in page


def test_cli_writes_the_summary_page(dataset, tmp_path):
    assert qa.main([str(dataset), "--outdir", str(tmp_path), "-q"]) == 0
    assert (tmp_path / "Res2P" / "summary.json").exists() and "Res2P" in (tmp_path / "summary.html").read_text()
    assert qa.main([str(dataset), "--outdir", str(tmp_path), "--strict", "--min-jets-all-labels", "10", "-q"]) == 1


def test_page_embeds_the_plots_of_every_category_and_keeps_them_after_a_one_category_rerun(two_categories, tmp_path):
    ref = reference_dir() / "jetclass2" / "jetclass2_sample_100jets.parquet"
    out = tmp_path / "qa"
    assert qa.main([str(two_categories), "--outdir", str(out), "--reference", str(ref), "-q"]) == 0
    page = (out / "summary.html").read_text()
    secs = sections(page)
    assert sorted(secs) == ["QCD", "Res2P"]
    for cat, sec in secs.items():
        uris = re.findall(r"<img src='data:image/png;base64,([^']+)'", sec)
        assert len(uris) == sec.count("<img") == len(qa.PLOTS) == 6  # every plot, inline: the page alone is enough
        assert [base64.b64decode(u) for u in uris] == [(out / cat / p).read_bytes() for p in qa.PLOTS]
    # the workflow reruns QA of QCD only (`--config categories=[QCD]`): the page still shows Res2P
    res2p_before = (out / "Res2P" / "summary.json").read_bytes()
    assert qa.main([str(two_categories), "--outdir", str(out), "--categories", "QCD", "--reference", str(ref), "-q"]) == 0
    assert qa.main([str(two_categories), "--outdir", str(out), "--categories", "QCD", "--summary-only", "-q"]) == 0
    secs = sections((out / "summary.html").read_text())
    assert sorted(secs) == ["QCD", "Res2P"] and all(sec.count("<img") == 6 for sec in secs.values())
    assert (out / "Res2P" / "summary.json").read_bytes() == res2p_before and "up to date" not in secs["Res2P"]
    # a QA older than its category's manifest is kept, with a WARN
    manifest_time = (two_categories / "Res2P.manifest.json").stat().st_mtime
    os.utime(out / "Res2P" / "summary.json", (manifest_time - 60, manifest_time - 60))
    assert qa.main([str(two_categories), "--outdir", str(out), "--categories", "QCD", "--summary-only", "-q"]) == 0
    secs = sections((out / "summary.html").read_text())
    assert "up to date</td><td style='color:#ef6c00;font-weight:bold'>WARN" in secs["Res2P"]
    # a folder of QA outputs for a category that is not in the dataset is not on the page
    (out / "Res34P").mkdir()
    (out / "Res34P" / "summary.json").write_text((out / "QCD" / "summary.json").read_text())
    assert qa.main([str(two_categories), "--outdir", str(out), "--categories", "QCD", "--summary-only", "-q"]) == 0
    assert sorted(sections((out / "summary.html").read_text())) == ["QCD", "Res2P"]


def test_ratio_to_the_published_jets_and_its_uncertainty(dataset):
    ref_path = reference_dir() / "jetclass2" / "jetclass2_sample_100jets.parquet"
    import pyarrow.parquet as pq

    ref = pq.read_table(ref_path).column("jet_pt").to_numpy()
    ours = qa.read_sample(dataset, "Res2P", 1000)["jet_pt"]
    edges = qa_plots.comparison_edges(ref, ours)
    a, _ = np.histogram(ours, edges)
    b, _ = np.histogram(ref, edges)
    assert a.sum() == len(ours) == 195 and b.sum() == len(ref) == 100  # every jet in a bin
    assert 8 <= len(edges) - 1 <= 10 and b.min() >= 3  # about 5 published jets per bin
    r, err = qa_plots.ratio_with_uncertainty(a, b)
    fa, fb = a / a.sum(), b / b.sum()
    both = (a > 0) & (b > 0)
    np.testing.assert_allclose(r[b > 0], fa[b > 0] / fb[b > 0])
    np.testing.assert_allclose(err[both], (fa / fb * np.hypot(np.sqrt(a) / np.maximum(a, 1), np.sqrt(b) / b))[both])
    np.testing.assert_allclose(err[(a == 0) & (b > 0)], (1 / a.sum()) / fb[(a == 0) & (b > 0)])
    # the uncertainty is the spread of the ratio over pseudo-experiments (Poisson counts; 20 bins, so the
    # totals' fluctuation, neglected, is small)
    rng = np.random.default_rng(7)
    mu_a, mu_b = np.full(20, 400.0), np.full(20, 100.0)
    mu_a[0], mu_b[0] = 200.0, 100.0  # the tested bin: true ratio 0.5 * (8000 / 7800) / (2000 / 2000)
    toys = np.array([qa_plots.ratio_with_uncertainty(rng.poisson(mu_a), rng.poisson(mu_b)) for _ in range(4000)])
    assert abs(toys[:, 0, 0].mean() / (0.5 * 8000 / 7800) - 1) < 0.02  # a ratio of counts: biased by ~1/b = 1%
    assert abs(toys[:, 0, 0].std() / toys[:, 1, 0].mean() - 1) < 0.06
    assert np.isnan(qa_plots.ratio_with_uncertainty([3, 4], [0, 5])[0][0])  # no published jet: no ratio


def test_label_axis_names_the_labels_and_counts_read_as_integers():
    plt = qa_plots._pyplot()
    fig = qa_plots.plot_labels(plt, "Res34P", {15: 3, 16: 2000, 160: 40})
    ax = fig.axes[0]
    fig.canvas.draw()
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert len(names) == 146 and names[0] == f"{LABEL_NAMES[15]} (15)" and names[-1] == f"{LABEL_NAMES[160]} (160)"
    assert ax.get_yscale() == "log"  # counts over three decades
    lo, hi = ax.get_ylim()
    ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text() and lo <= t.get_position()[1] <= hi]
    assert ticks and all(re.fullmatch(r"\d+", t) for t in ticks), ticks  # 1, 10, 100, 1000: no "6x10^-1"
    plt.close(fig)
    fig = qa_plots.plot_labels(plt, "Res2P", {0: 5, 1: 7})
    fig.canvas.draw()
    assert fig.axes[0].get_yscale() == "linear"
    assert all(float(t.get_text().replace("\u2212", "-")).is_integer() for t in fig.axes[0].get_yticklabels() if t.get_text())
    plt.close(fig)
