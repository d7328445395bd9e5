"""A dataset that proves itself where it is used, and packing that commits nothing damaged (issue 22).

Each test reproduces one failure of the fault-injection run: a flipped byte after verification, a
deleted file or tarball, a manifest removed by a killed pack-finalize, ntuples with an empty tree or
non-finite values, a gathered file changed before finalize. Each is now refused with one line
naming the file."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import uproot
from jetclass2.ntuplizer.schema import BRANCH_NAMES
from jetclass2.ntuplizer.writer import write_jets
from packing_helpers import REPO, reference_dir, res2p_inputs, run_cli

from jetclass2 import jetdata
from jetclass2.jetdata.loader import DatasetError
from jetclass2.packing.mapreduce import gather, scatter, shard_name, tarball
from jetclass2.packing.pack import pack_category
from jetclass2.packing.plan import make_plan, save_plan
from jetclass2.packing.store import stamp_path, verify_dataset

OPTS = dict(jets_per_file=25, seed=3, files_per_tarball=3, ntuples_per_scatter=2)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return res2p_inputs(tmp_path_factory.mktemp("ntuples"))


@pytest.fixture(scope="module")
def packed(inputs, tmp_path_factory):
    """Res2P (8 files, 3 tarballs) and QCD (one jet) packed once; tests work on copies."""
    tmp = tmp_path_factory.mktemp("packed")
    out = tmp / "dataset"
    pack_category("Res2P", inputs, out, **OPTS)
    jets = uproot.open(reference_dir() / "ntuples" / "res2p_higgs2p_10events.qcdlabels.ntuple.root")["tree"].arrays(BRANCH_NAMES)
    write_jets(tmp / "qcd.root", jets[jets.jet_label >= 161])
    pack_category("QCD", [tmp / "qcd.root"], out, jets_per_file=10, seed=5, split=(1, 0, 0))
    return out


@pytest.fixture
def dataset(packed, tmp_path):
    out = tmp_path / "dataset"
    shutil.copytree(packed, out, symlinks=True)  # relative links: the copy is a dataset of its own
    return out


def flip_byte(path):
    path = path.resolve()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def one_error_line(r, *needles):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert all(n in lines[0] for n in needles), r.stderr
    return lines[0]


def python_m(*args):
    return subprocess.run([sys.executable, "-m", *map(str, args)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_flipped_byte_after_verification_is_refused_by_every_reader(dataset, tmp_path):
    """After a verification (the workflow's verified.ok), a flipped byte in a data file: training,
    the evaluation's file list and the loader refuse the dataset, naming the file; no full re-hash
    is needed for the files that did not change (their stamp)."""
    manifests = [dataset / "Res2P.manifest.json", dataset / "QCD.manifest.json"]
    assert run_cli("verify", dataset, "--stamp", tmp_path / "verified.ok").returncode == 0
    assert stamp_path(manifests[0]).is_file()  # the stamp readers compare sizes, times and inodes with
    assert python_m("jetclass2.training.file_lists", "--split", "test", *manifests).returncode == 0
    assert len(jetdata.load(dataset, split="all", branches=["jet_pt"])) == 196
    flip_byte(dataset / "Res2P_0001.root")
    r = python_m("jetclass2.training.launch", "--options", "{}", "--data-config", tmp_path / "dc.yaml", "--model-prefix",
                 tmp_path / "net", "--weaver-log", tmp_path / "w.log", "-o", tmp_path / "best.pt", *manifests)
    one_error_line(r, "Res2P_0001.root: SHA-256")
    one_error_line(python_m("jetclass2.training.file_lists", "--split", "test", *manifests), "Res2P_0001.root: SHA-256")
    with pytest.raises(DatasetError, match=r"Res2P_0001.root: SHA-256"):
        jetdata.load(dataset, split="test", branches=["jet_pt"])
    r = run_cli("verify", dataset, "--since", tmp_path / "verified.ok")
    assert r.returncode == 2 and "Res2P_0001.root: SHA-256" in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_deleted_file_and_tarball_are_named(dataset, tmp_path):
    assert run_cli("verify", dataset, "--stamp", tmp_path / "ok.json").returncode == 0
    (dataset / "Res2P_0004.root").unlink()
    (dataset / "Res2P_0003-0005.tar").unlink()
    (dataset / "Res2P_0002.root").resolve().write_bytes((dataset / "Res2P_0002.root").read_bytes()[:1000])  # truncated
    shutil.copyfile(dataset / "Res2P_0000.root", dataset / "Res2P_0099.root")
    for since in ([], ["--since", tmp_path / "ok.json"]):  # a stamp once hid missing files (None == None)
        r = run_cli("verify", dataset, *since)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 4, r.stderr
        assert "Res2P_0002.root: 1000 bytes, the manifest says" in lines[0]
        assert "Res2P_0004.root: missing" in lines[1] and "Res2P_0003-0005.tar: missing" in lines[2]
        assert "Res2P_0099.root: extra file of Res2P, not in its manifest" in lines[3]
    with pytest.raises(DatasetError, match="Res2P_0002.root: 1000 bytes"):
        jetdata.load(dataset, categories=["Res2P"])
    assert verify_dataset(dataset, ["QCD"])[0] == []  # the other category is intact


def test_manifest_removed_by_a_killed_finalize_is_named(dataset):
    """Snakemake removes the output link QCD.manifest.json before pack_finalize: after a kill there,
    the category's files are still in the directory and the dataset must not pass without it."""
    (dataset / "QCD.manifest.json").unlink()
    one_error_line(run_cli("verify", dataset), "QCD.manifest.json: missing, while 3 of its files exist (QCD, QCD_0000-0000.tar, QCD_0000.root)")
    one_error_line(run_cli("verify", dataset, "--categories", "Res2P", "QCD"), "QCD.manifest.json: missing")
    assert run_cli("verify", dataset, "--categories", "Res2P").returncode == 0
    with pytest.raises(DatasetError, match="QCD.manifest.json: missing"):
        jetdata.load(dataset, split="all")
    (dataset / "Res2P.manifest.json").unlink()  # no manifest at all: not taken for a published release
    with pytest.raises(DatasetError, match="manifest.json: missing"):
        jetdata.load(dataset, split="all")


def _bad_ntuple(source, path, what):
    jets = uproot.open(source)["tree"].arrays(BRANCH_NAMES)
    if what == "empty tree":
        jets = jets[:0]
    else:
        import awkward as ak

        branch, value = {"nan jet_pt": ("jet_pt", np.nan), "nan part_px": ("part_px", np.nan),
                         "inf genpart_energy": ("genpart_energy", np.inf)}[what]
        col = jets[branch]
        if col.ndim == 1:
            new = ak.to_numpy(col).copy()
            new[3] = value
        else:
            flat = ak.to_numpy(ak.flatten(col)).copy()
            flat[7] = value
            new = ak.unflatten(flat, ak.num(col))
        jets = ak.with_field(jets, new, branch)
    write_jets(path, jets)
    return path


@pytest.mark.parametrize("what,message", [
    ("empty tree", "no jets (empty tree): category Res2P would be empty"),
    ("nan jet_pt", "1 non-finite values (NaN or inf) in jet_pt: not packed"),
    ("nan part_px", "1 non-finite values (NaN or inf) in part_px: not packed"),
    ("inf genpart_energy", "1 non-finite values (NaN or inf) in genpart_energy: not packed"),
])
def test_pack_refuses_empty_or_nonfinite_ntuples(dataset, inputs, tmp_path, what, message):
    """`pack` once replaced a valid category with a 0-jet one or with NaN/inf values (exit 0)."""
    bad = _bad_ntuple(inputs[0], tmp_path / "bad.root", what)
    before = (dataset / "Res2P.manifest.json").read_text()
    r = run_cli("pack", "--category", "Res2P", "--inputs", bad, *([] if what == "empty tree" else inputs[1:]),
                "--outdir", dataset, "--jets-per-file", 25)
    one_error_line(r, f"{bad}: {message}")
    assert (dataset / "Res2P.manifest.json").read_text() == before and verify_dataset(dataset)[0] == []
    assert not list(dataset.glob(".pack-*"))


def test_gathered_file_changed_before_finalize_is_refused(inputs, tmp_path):
    """The gather job records the SHA-256 of its file; finalize hashes it again before committing."""
    work, out = tmp_path / "work", tmp_path / "dataset"
    plan = make_plan("Res2P", inputs, jets_per_file=100, seed=3, ntuples_per_scatter=5)
    save_plan(plan, work / "plan.json")
    for g in range(len(plan["groups"])):  # one scatter group per split at least (splits by job)
        scatter(plan, g, work / "scatter" / shard_name(g))
    for index, name in enumerate(plan["files"]):
        assert gather(plan, index, work / "scatter", work / "files" / name)["sha256"]
    tarball(plan, 0, work / "files", work / "tar" / plan["tarballs"][0]["file"])
    flip_byte(work / "files" / "Res2P_0001.root")
    r = run_cli("finalize", work / "plan.json", "--work", work, "--outdir", out)
    one_error_line(r, f"{work / 'files' / 'Res2P_0001.root'}: SHA-256", "its gather job recorded")
    assert not (out / "Res2P.manifest.json").exists() and not list(out.glob(".Res2P.v*"))
