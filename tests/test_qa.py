"""The dataset QA report: PASS/WARN/FAIL checks on packed real jets, plots, provenance, the summary page."""
import json

import awkward as ak
import numpy as np
import pytest
import uproot
from packing_helpers import reference_dir, res2p_inputs

from jetdata import qa
from ntuplizer.schema import BRANCH_NAMES
from ntuplizer.writer import write_jets
from packing.fileio import PackingError, read_ntuple, write_packed
from packing.pack import pack_category
from packing.store import commit


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("qa")
    pack_category("Res2P", res2p_inputs(tmp), tmp / "dataset", jets_per_file=40, seed=2)
    return tmp / "dataset"


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
        pack_category("Res2P", [tmp_path / "nan.root"], tmp_path / "dataset", jets_per_file=7)
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
