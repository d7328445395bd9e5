"""The packing map-reduce and its safety: conservation, global shuffle, reruns, kills, locks, bad input, verification."""
import json
import os
import signal
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import uproot
from jetclass2.ntuplizer.schema import BRANCH_NAMES
from jetclass2.ntuplizer.writer import JetWriter
from packing_helpers import jets_of, popen_cli, reference_dir, res2p_inputs, run_cli

from jetclass2.packing.fileio import PackingError
from jetclass2.packing.pack import pack_category
from jetclass2.packing.plan import load_plan, make_plan, save_plan, split_ranges
from jetclass2.packing.store import verify_dataset

OPTS = dict(jets_per_file=25, seed=3, files_per_tarball=3, ntuples_per_scatter=2)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return res2p_inputs(tmp_path_factory.mktemp("ntuples"))


@pytest.fixture(scope="module")
def packed(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset")
    return out, pack_category("Res2P", inputs, out, **OPTS)


def files_of(out: Path, m: dict) -> list[Path]:
    return [out / f["file"] for f in m["files"]]


def test_split_ranges():
    assert [len(r) for r in split_ranges(12).values()] == [8, 2, 2]
    assert [len(r) for r in split_ranges(3).values()] == [1, 1, 1]
    # the published release: 300, 1290, 420 files
    assert [len(r) for r in split_ranges(300).values()] == [200, 50, 50]
    assert [len(r) for r in split_ranges(1290).values()] == [860, 215, 215]
    assert [len(r) for r in split_ranges(420).values()] == [280, 70, 70]
    assert [len(r) for r in split_ranges(5, (1, 0, 0)).values()] == [5, 0, 0]
    r = split_ranges(8)
    assert r["train"].stop == r["val"].start and r["val"].stop == r["test"].start and r["test"].stop == 8
    for bad in ([0, 0, 0], [4, -1, 1]):
        with pytest.raises(PackingError):
            split_ranges(10, bad)


def test_pack_conserves_jets_per_label_and_writes_tarballs(inputs, packed):
    out, m = packed
    n_in = sum(uproot.open(p)["tree"].num_entries for p in inputs)
    assert m["jets"] == n_in == 195
    # splits of whole inputs (jobs): the four H->bb parts are one "sample" (2 train, 1 val, 1 test: 43, 44 | 44 | 44
    # jets), the 10-event file another (train, 20 jets); files fill per split
    assert [f["jets"] for f in m["files"]] == [25] * 4 + [7] + [25, 19] + [25, 19]
    assert [f["split"] for f in m["files"]] == ["train"] * 5 + ["val"] * 2 + ["test"] * 2
    # every input jet exactly once in the output (jets as rows of pT, eta, phi, label)
    a, b = jets_of(inputs), jets_of(files_of(out, m))
    assert np.array_equal(a[np.lexsort(a.T)], b[np.lexsort(b.T)])
    labels_in = dict(zip(*np.unique(a[:, 3].astype(int), return_counts=True)))
    assert {int(k): v for k, v in m["labels"].items()} == {int(k): int(v) for k, v in labels_in.items()}
    for f in m["files"]:
        lab = uproot.open(out / f["file"])["tree"]["jet_label"].array(library="np")
        assert {str(k): int(v) for k, v in zip(*np.unique(lab, return_counts=True))} == f["labels"]
    assert [t["file"] for t in m["tarballs"]] == ["Res2P_0000-0002.tar", "Res2P_0003-0005.tar", "Res2P_0006-0008.tar"]
    with tarfile.open(out / "Res2P_0003-0005.tar") as tar:
        assert tar.getnames() == ["Res2P_0003.root", "Res2P_0004.root", "Res2P_0005.root"]
        assert tar.extractfile("Res2P_0004.root").read() == (out / "Res2P_0004.root").read_bytes()
    assert json.loads((out / "Res2P.manifest.json").read_text()) == json.loads(json.dumps(m))
    assert verify_dataset(out, content=True)[0] == []


def test_shuffle_mixes_input_files(inputs, packed):
    """Each 25-jet train file draws from the three train ntuples (every input has >= 20 jets, so a
    shuffle within each input followed by concatenation would fill file 0 from the first ntuple alone)."""
    out, m = packed
    origin = {}
    for i, p in enumerate(inputs):
        for row in jets_of([p]):
            origin[tuple(row)] = i
    sources = [[origin[tuple(row)] for row in jets_of([f])] for f in files_of(out, m)]
    assert all(len(set(s)) >= 3 for s in sources[:4])
    # and within a file the inputs are interleaved, not in blocks
    assert all(sum(a != b for a, b in zip(s, s[1:])) >= len(set(s)) for s in sources[:4])


def test_identical_runs_give_identical_manifests_and_bytes(inputs, packed, tmp_path):
    out, m = packed
    m2 = pack_category("Res2P", inputs, tmp_path / "again", **OPTS)
    assert (tmp_path / "again" / "Res2P.manifest.json").read_bytes() == (out / "Res2P.manifest.json").read_bytes()
    for f in m2["files"] + m2["tarballs"]:
        assert (tmp_path / "again" / f["file"]).read_bytes() == (out / f["file"]).read_bytes()
    # another seed shuffles differently; the content hash does not depend on the file format
    m3 = pack_category("Res2P", inputs, tmp_path / "seed4", **{**OPTS, "seed": 4})
    assert [f["sha256"] for f in m3["files"]] != [f["sha256"] for f in m2["files"]]
    mp = pack_category("Res2P", inputs, tmp_path / "parquet", **OPTS, fmt="parquet")
    assert [f["file"] for f in mp["files"]][:2] == ["Res2P_0000.parquet", "Res2P_0001.parquet"]
    assert [f["content_hash"] for f in mp["files"]] == [f["content_hash"] for f in m2["files"]]
    assert verify_dataset(tmp_path / "parquet", content=True)[0] == []


def test_parquet_release_format(inputs, tmp_path):
    """`pack --format parquet`: the published release's record (names, types, order), the same jets."""
    import pyarrow.parquet as pq

    r = run_cli("pack", "--category", "Res2P", "--inputs", *inputs, "--outdir", tmp_path, "--jets-per-file", 100,
                "--format", "parquet", "-q")
    assert r.returncode == 0, r.stderr
    published = pq.read_schema(reference_dir() / "jetclass2" / "jetclass2_sample_100jets.parquet")
    ours = pq.read_schema(tmp_path / "Res2P_0000.parquet")
    assert ours.names == published.names
    assert [(str(f.type), f.nullable) for f in ours] == [(str(f.type), f.nullable) for f in published]
    t = pq.read_table(tmp_path / "Res2P_0000.parquet")
    assert t.num_rows == 100 and set(t.column("jet_pt").to_numpy().tolist()) <= set(jets_of(inputs)[:, 0].tolist())


def _wait_for(predicate, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    return False


def test_killed_gather_job_reruns_alone(inputs, tmp_path):
    """SIGKILL a gather job while it writes: nothing under the final name; the rerun of that job alone
    removes the leftovers and gives the bytes of an uninterrupted run."""
    work = tmp_path / "work"
    plan = make_plan("Res2P", inputs, jets_per_file=200, seed=3, ntuples_per_scatter=2, split=(1, 0, 0))
    save_plan(plan, work / "plan.json")
    for g in range(len(plan["groups"])):
        assert run_cli("scatter", work / "plan.json", "--group", g, "-o", work / "scatter" / f"{g:05d}.arrow").returncode == 0
    name = plan["files"][0]
    target = work / "files" / name
    args = ("gather", work / "plan.json", "--index", 0, "--shard-dir", work / "scatter", "-o", target)
    proc = popen_cli(*args)
    caught = _wait_for(lambda: any(p.is_dir() for p in (work / "files").glob(f".{name}.*")), proc)
    assert caught, "the gather job finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not target.exists() and list((work / "files").glob(f".{name}.*"))  # a kill leaves its staging folder
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (work / "files").iterdir()) == [name, name + ".json"]
    assert run_cli("tarball", work / "plan.json", "--number", 0, "--files-dir", work / "files", "-o",
                   work / "tar" / plan["tarballs"][0]["file"]).returncode == 0
    r = run_cli("finalize", work / "plan.json", "--work", work, "--outdir", tmp_path / "dataset")
    assert r.returncode == 0, r.stderr
    ref = pack_category("Res2P", inputs, tmp_path / "uninterrupted", jets_per_file=200, seed=3, ntuples_per_scatter=2,
                         split=(1, 0, 0))
    assert (tmp_path / "dataset" / name).read_bytes() == (tmp_path / "uninterrupted" / name).read_bytes()
    assert json.loads((tmp_path / "dataset" / "Res2P.manifest.json").read_text())["files"] == ref["files"]


def test_kill_during_swap_keeps_the_old_dataset(inputs, tmp_path):
    out = tmp_path / "dataset"
    old = pack_category("Res2P", inputs, out, **OPTS)
    old_text = (out / "Res2P.manifest.json").read_text()
    proc = popen_cli("pack", "-q", "--category", "Res2P", "--inputs", *inputs, "--outdir", out, "--jets-per-file", 30, "--seed", 9)
    live = os.readlink(out / "Res2P")
    # the new version folder appears when the commit starts: kill there
    caught = _wait_for(lambda: any(p.name != live for p in out.glob(".Res2P.v*")), proc)
    assert caught, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the live dataset is complete and checks out: the old one (killed before the one rename that swaps)
    # or, had the kill come after it, the new one; never a mix
    assert verify_dataset(out)[0] == []
    now = json.loads((out / "Res2P.manifest.json").read_text())
    assert (out / "Res2P.manifest.json").read_text() == old_text or now["jets_per_file"] == 30
    assert [f["sha256"] for f in json.loads(old_text)["files"]] == [f["sha256"] for f in old["files"]]
    # the next pack cleans up and swaps its version in; the old version goes
    r = run_cli("pack", "--category", "Res2P", "--inputs", *inputs, "--outdir", out, "--jets-per-file", 30, "--seed", 9)
    assert r.returncode == 0, r.stderr
    new = json.loads((out / "Res2P.manifest.json").read_text())
    assert new["jets_per_file"] == 30 and verify_dataset(out)[0] == []
    assert [p.name for p in out.glob(".Res2P.v*")] == [os.readlink(out / "Res2P")]
    assert not list(out.glob(".pack-*")) and not (out / "Res2P_0008.root").exists()  # 8 files of <= 30 jets now (9 before)


def test_sigterm_removes_temporary_files(inputs, tmp_path):
    out = tmp_path / "dataset"
    proc = popen_cli("pack", "-q", "--category", "Res2P", "--inputs", *inputs, "--outdir", out, "--jets-per-file", 25)
    assert _wait_for(lambda: any(out.glob(".pack-Res2P.*/files/*.root")), proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "terminated" in err
    assert sorted(p.name for p in out.iterdir()) == [".Res2P.lock"]


@pytest.mark.parametrize("category", ["Res*", "../x", "Foo", "Res2P/../QCD", ""])
def test_category_must_be_configured(inputs, tmp_path, category):
    """`--category 'Res*'` once deleted Res2P and Res34P; `../x` a file outside the output directory."""
    out = tmp_path / "dataset"
    pack_category("Res2P", inputs[:1], out, jets_per_file=100, split=(1, 0, 0))
    (tmp_path / "x").write_text("keep")
    before = sorted(p.name for p in out.iterdir())
    r = run_cli("pack", "--category", category, "--inputs", *inputs, "--outdir", out)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown category" in r.stderr, r.stderr
    assert sorted(p.name for p in out.iterdir()) == before and (tmp_path / "x").read_text() == "keep"
    assert verify_dataset(out)[0] == []


def test_bad_inputs_and_options_rejected_before_anything_changes(inputs, tmp_path):
    out = tmp_path / "dataset"
    m = pack_category("Res2P", inputs, out, jets_per_file=100)
    text = (out / "Res2P.manifest.json").read_text()
    ref = reference_dir() / "ntuples"
    (tmp_path / "copy.root").write_bytes(inputs[1].read_bytes())
    (tmp_path / "truncated.root").write_bytes(inputs[0].read_bytes()[:5000])
    cases = [
        (["--inputs", ref / "res2p_higgs2p_10events.qcdlabels.ntuple.root"], "labels outside category Res2P"),  # QCD jets
        (["--inputs", inputs[0], inputs[0]], "listed twice"),
        (["--inputs", inputs[1], tmp_path / "copy.root"], "same jets as"),
        (["--inputs", tmp_path / "truncated.root"], "truncated.root"),
        (["--inputs", tmp_path / "missing.root"], "missing.root: ntuple not found"),
        (["--inputs", *inputs, "--split", "0", "0", "0"], "sum to 0"),
        (["--inputs", *inputs, "--split", "4", "-1", "1"], "must be at least 0, got -1"),
        (["--inputs", *inputs, "--files-per-tarball", "0"], "must be at least 1"),
        (["--inputs", *inputs, "--jets-per-file", "0"], "must be at least 1"),
    ]
    for args, message in cases:
        r = run_cli("pack", "--category", "Res2P", "--outdir", out, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert (out / "Res2P.manifest.json").read_text() == text
    assert verify_dataset(out)[0] == [] and m["jets"] == 195
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [".Res2P.lock", os.readlink(out / "Res2P")]


def test_concurrent_packs_are_serialised(inputs, tmp_path):
    out = tmp_path / "dataset"
    procs = [popen_cli("pack", "-q", "--category", "Res2P", "--inputs", *inputs, "--outdir", out, "--jets-per-file", 25,
                       "--seed", seed) for seed in (1, 2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert any("waiting for" in err for _, err in results)
    assert verify_dataset(out, content=True)[0] == []
    m = json.loads((out / "Res2P.manifest.json").read_text())
    assert m["seed"] in (1, 2) and len(list(out.glob(".Res2P.v*"))) == 1


def test_verify_names_the_corrupted_file(inputs, tmp_path):
    out = tmp_path / "dataset"
    pack_category("Res2P", inputs, out, **OPTS)
    r = run_cli("verify", out, "--stamp", tmp_path / "ok.json")
    assert r.returncode == 0, r.stderr
    victim = (out / "Res2P_0002.root").resolve()
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit in the middle of the baskets
    victim.write_bytes(bytes(data))
    (out / "Res2P_0005.root").resolve().write_bytes(b"")
    r = run_cli("verify", out, "--since", tmp_path / "ok.json")  # the stamp does not hide changed files
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and "Res2P_0002.root: SHA-256" in lines[0] and "Res2P_0005.root: 0 bytes" in lines[1], r.stderr
    assert run_cli("verify", out).returncode == 2


def test_gather_refuses_a_shard_of_another_plan(inputs, tmp_path):
    plan = make_plan("Res2P", inputs, jets_per_file=50, seed=3)
    other = make_plan("Res2P", inputs, jets_per_file=50, seed=4)
    save_plan(plan, tmp_path / "plan.json")
    save_plan(other, tmp_path / "other.json")
    for g in range(len(plan["groups"])):
        run_cli("scatter", tmp_path / "other.json", "--group", g, "-o", tmp_path / "scatter" / f"{g:05d}.arrow")
    r = run_cli("gather", tmp_path / "plan.json", "--index", 0, "--shard-dir", tmp_path / "scatter", "-o",
                tmp_path / "files" / plan["files"][0])
    assert r.returncode == 2 and "shard of another plan" in r.stderr
    assert load_plan(tmp_path / "plan.json")["plan_id"] == plan["plan_id"]


def test_flat_dataset_of_the_earlier_layout_is_replaced_after_the_swap(inputs, packed, tmp_path):
    """A dataset of the earlier layout (regular files and manifest in the directory) stays until the
    new version is live; then its names become links and files the new version lacks go."""
    out, m = packed
    flat = tmp_path / "dataset"
    flat.mkdir()
    for f in m["files"] + m["tarballs"]:
        (flat / f["file"]).write_bytes((out / f["file"]).read_bytes())
    (flat / "Res2P.manifest.json").write_text((out / "Res2P.manifest.json").read_text())
    (flat / "QCD_0000.root").write_text("another category: untouched")
    assert verify_dataset(flat, ["Res2P"])[0] == []
    # without --categories every category is checked: a QCD file without its manifest is named
    assert [p.split(": ")[1] for p in verify_dataset(flat)[0]] == ["missing, while 1 of its files exist (QCD_0000.root)"]
    new = pack_category("Res2P", inputs, flat, jets_per_file=50, seed=3)
    assert verify_dataset(flat, ["Res2P"])[0] == [] and len(new["files"]) == 5  # train 107 jets: 3 files, val 1, test 1
    for f in new["files"] + new["tarballs"]:
        assert os.readlink(flat / f["file"]) == f"Res2P/{f['file']}"
    assert not (flat / "Res2P_0005.root").exists() and not (flat / "Res2P_0000-0002.tar").exists()
    assert (flat / "QCD_0000.root").read_text() == "another category: untouched"


def test_packed_files_have_baskets_of_the_configured_size(inputs, tmp_path):
    """`jets_per_basket` jets per ROOT basket of every branch (a reader fetches a part of a file), the
    codec asked for, and the jets of the inputs."""
    from jetclass2.packing.rootwriter import CODECS

    m = pack_category("Res2P", inputs, tmp_path, **{**OPTS, "basket": 10}, compression="zstd")
    for f in m["files"]:
        tree = uproot.open(tmp_path / f["file"])["tree"]
        n = tree.num_entries
        expected = [(lo, min(lo + 10, n)) for lo in range(0, n, 10)]
        assert len(expected) == -(-n // 10)  # 25, 19 or 7 jets
        for branch in tree.branches:
            assert [tuple(map(int, branch.basket_entry_start_stop(i))) for i in range(branch.num_baskets)] == expected, branch.name
        compressed = [b for b in tree.branches if b.compressed_bytes < b.uncompressed_bytes]
        assert compressed and all(b.compression == CODECS["zstd"] or b.compression is None for b in tree.branches)
        assert uproot.open(tmp_path / f["file"]).file.compression == CODECS["zstd"]
    a, b = jets_of(inputs), jets_of(files_of(tmp_path, m))
    assert np.array_equal(a[np.lexsort(a.T)], b[np.lexsort(b.T)])


@pytest.mark.parametrize("compression", ["lz4", "none"])
def test_fast_basket_writer_gives_uproots_bytes(tmp_path, compression):
    """The one-copy basket writer writes byte for byte what uproot's own writers write (whole files, with
    baskets of real jets of every branch kind), and uproot reads the jets back."""
    import awkward as ak
    from jetclass2.ntuplizer.schema import BRANCH_NAMES

    from jetclass2.packing import columns
    from jetclass2.packing.rootwriter import PackedTreeWriter

    jets = uproot.open(reference_dir() / "ntuples" / "hbb_m125_pt500_200events.ntuple.root")["tree"].arrays(BRANCH_NAMES)
    cols = columns.from_awkward(jets)
    n = columns.n_jets(cols)
    for fast in (True, False):
        with PackedTreeWriter(tmp_path / f"{fast}.root", name="x.root", compression=compression, baskets=4, fast=fast,
                              skip_incompressible=False) as w:
            for lo in range(0, n, 50):
                w.write(columns.slice_jets(cols, lo, min(lo + 50, n)))
    assert (tmp_path / "True.root").read_bytes() == (tmp_path / "False.root").read_bytes()
    back = uproot.open(tmp_path / "True.root")["tree"]
    assert back["part_px"].num_baskets == -(-n // 50)
    back = back.arrays(BRANCH_NAMES)
    for name in BRANCH_NAMES:
        assert ak.array_equal(back[name], jets[name]), name


def test_packing_jobs_do_not_import_numba():
    """A packing job's start-up: it needs the label names, not the labelling kernels (numba, ~0.2 s)."""
    import subprocess
    import sys

    import jetclass2.ntuplizer.label_names
    import jetclass2.ntuplizer.labels

    probe = ("import sys, jetclass2.packing.cli, jetclass2.packing.mapreduce, jetclass2.packing.pack, jetclass2.packing.store; "
             "print(sorted(m for m in sys.modules if m == 'numba' or m.startswith('numba.')))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.stdout.strip() == "[]"
    assert jetclass2.ntuplizer.labels.LABEL_NAMES is jetclass2.ntuplizer.label_names.LABEL_NAMES  # one list of names


def test_splits_are_made_of_whole_generation_jobs(tmp_path):
    """Inputs in the workflow's layout `<sample>/<job>.root`: each sample's jobs go train:val:test 4:1:1
    (test = the last jobs); every jet of a job (so every event) lands in files of that job's split only,
    and the manifest names the jobs behind each file."""
    from jetclass2.packing.plan import job_splits

    ref = reference_dir() / "ntuples"
    jets = uproot.open(ref / "hbb_m125_pt500_200events.ntuple.root")["tree"].arrays(BRANCH_NAMES)
    extra = uproot.open(ref / "res2p_higgs2p_10events.ntuple.root")["tree"].arrays(BRANCH_NAMES)
    inputs, sizes = [], {"Res2P_neutral": 6, "Res2P_charged": 2}
    bounds = np.linspace(0, len(jets), sizes["Res2P_neutral"] + 1).astype(int)
    for job, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        inputs.append(tmp_path / "ntuples" / "Res2P_neutral" / f"{job:05d}.root")
        inputs[-1].parent.mkdir(parents=True, exist_ok=True)
        with JetWriter(inputs[-1]) as w:
            w.write(jets[lo:hi])
    for job, (lo, hi) in enumerate([(0, 10), (10, len(extra))]):
        inputs.append(tmp_path / "ntuples" / "Res2P_charged" / f"{job:05d}.root")
        inputs[-1].parent.mkdir(parents=True, exist_ok=True)
        with JetWriter(inputs[-1]) as w:
            w.write(extra[lo:hi])
    out = tmp_path / "dataset"
    m = pack_category("Res2P", inputs[::-1], out, jets_per_file=20, seed=5, ntuples_per_scatter=2,
                      sample_split={"Res2P_charged": [1, 0, 1]})
    expect = {f"{s}/{j}": name for s, n in sizes.items()
              for j, name in enumerate(job_splits(n, [1, 0, 1] if s == "Res2P_charged" else [4, 1, 1]))}
    assert expect["Res2P_neutral/5"] == "test" and expect["Res2P_neutral/4"] == "val" and expect["Res2P_charged/1"] == "test"
    assert {f"{i['sample']}/{i['job']}": i["split"] for i in m["inputs"]} == expect
    # every jet of every job, found again by content, sits in a file of the job's split
    origin = {}
    for p in inputs:
        for row in jets_of([p]):
            origin[tuple(row)] = f"{p.parent.name}/{int(p.stem)}"
    seen = {}
    for f in m["files"]:
        found = {origin[tuple(row)] for row in jets_of([out / f["file"]])}
        assert {expect[s] for s in found} == {f["split"]}, f["file"]
        assert found == set(f["sources"])  # provenance: the jobs that fed the file
        for s in found:
            seen.setdefault(s, set()).add(f["split"])
    assert set(seen) == set(expect) and all(len(v) == 1 for v in seen.values())
    by_split = {name: {s for f in m["files"] if f["split"] == name for s in f["sources"]} for name in ("train", "val", "test")}
    assert all(by_split.values())
    assert not (by_split["train"] & by_split["val"] or by_split["train"] & by_split["test"] or by_split["val"] & by_split["test"])
    assert verify_dataset(out, content=True)[0] == []
    # a split of positive weight without any job: one line naming the split and the jobs, nothing written
    r = run_cli("pack", "--category", "Res2P", "--inputs", *inputs[:2], inputs[-1], "--outdir", tmp_path / "other")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "no generation job goes to the" in r.stderr and "Res2P_neutral: 2" in r.stderr
    assert not (tmp_path / "other").exists()
