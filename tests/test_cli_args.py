"""Every console script on bad arguments: each numeric option out of range or not finite, an output
that is an input, an input given twice, outputs that cannot be written, unreadable configuration
files. Each is one line ``TOOL: error: ...``, exit status 2, and nothing written (issue 22)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from jetclass2.ntuplizer.cli import main as ntuplize_main
from jetclass2.ntuplizer.warm import main as warm_main

from jetclass2.fastsim.cli import main as fastsim_main
from jetclass2.fastsim.job import main as generate_main
from jetclass2.generation.cli import pileup_main, render_cards_main
from jetclass2.generation.container_job import main as container_main
from jetclass2.jetdata.qa import main as qa_main
from jetclass2.packing import cli as pcli
from jetclass2.packing.release import main as release_main

SMALL = "delphes/res2p_higgs2p_10events.root"
NTUPLE = "ntuples/res2p_higgs2p_10events.ntuple.root"
MAINS = {"ntuplize": ntuplize_main, "fastsim": fastsim_main, "generate": generate_main, "pileup-library": pileup_main,
         "render-cards": render_cards_main, "run-container-job": container_main, "pack": pcli.main,
         "pack-plan": pcli.plan_main, "pack-scatter": pcli.scatter_main, "pack-gather": pcli.gather_main,
         "pack-tarball": pcli.tarball_main, "pack-finalize": pcli.finalize_main, "verify-dataset": pcli.verify_main,
         "qa-report": qa_main, "release-dataset": release_main, "warm-kernels": warm_main}


def run(capsys, tool, *args):
    """``main(args)`` in process: (exit status, stderr lines); argparse's exits included."""
    try:
        code = MAINS[tool]([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err.strip().splitlines()


def one_line(capsys, tool, *args, expect=()):
    code, err = run(capsys, tool, *args)
    assert code == 2 and len(err) == 1 and err[0].startswith(f"{tool}: error: "), (code, err)
    for piece in expect:
        assert str(piece) in err[0], (piece, err[0])
    return err[0]


# ---- numeric options: every bad value of every option ------------------------------------------

def _base(tool, tmp):
    """Arguments that parse, for each tool (the files need not exist: the option fails first)."""
    plan = ["--category", "Res2P", "--inputs", tmp / "a.root"]
    return {
        "ntuplize": [tmp / "in.root", "-o", tmp / "out.root"],
        "fastsim": [tmp / "in.root", "-o", tmp / "out.root"],
        "generate": ["--sample", "QCD", "--job", "0", "--events", "10", "-o", tmp / "out.root"],
        "pileup-library": ["-o", tmp / "lib.parquet"],
        "render-cards": ["--sample", "QCD", "--job", "0", "--events", "10", "-o", tmp / "cards"],
        "run-container-job": ["generate", "--sample", "QCD", "--job", "0", "--events", "10", "--delphes-card", tmp / "c.tcl",
                              "--workdir", tmp / "w", "-o", tmp / "out.root"],
        "pack": [*plan, "--outdir", tmp / "dataset"],
        "pack-plan": [*plan, "-o", tmp / "plan.json"],
        "pack-scatter": [tmp / "plan.json", "--group", "0", "-o", tmp / "s.arrow"],
        "pack-gather": [tmp / "plan.json", "--index", "0", "--shard-dir", tmp, "-o", tmp / "f.root"],
        "pack-tarball": [tmp / "plan.json", "--number", "0", "--files-dir", tmp, "-o", tmp / "t.tar"],
        "pack-finalize": [tmp / "plan.json", "--work", tmp / "work", "--outdir", tmp / "dataset"],
        "verify-dataset": [tmp / "dataset"],
        "qa-report": [tmp / "dataset", "--outdir", tmp / "qa"],
        "release-dataset": [tmp / "dataset", "-o", tmp / "release"],
    }[tool]


NOT_INT = ["1.5", "x", "nan", ""]
NEGATIVE, ZERO = ["-1", "-1000000"], ["0"]
BAD_FLOAT = ["nan", "inf", "-inf", "x", ""]
NUMERIC = {  # tool -> option -> bad values
    "ntuplize": {"--jet-radius": BAD_FLOAT + ZERO + NEGATIVE, "--min-jet-pt": BAD_FLOAT + NEGATIVE,
                 "--max-jet-abs-eta": BAD_FLOAT + ZERO + NEGATIVE, "--chunk": NOT_INT + ZERO + NEGATIVE},
    "fastsim": {"--pileup": BAD_FLOAT + NEGATIVE, "--seed": NOT_INT + NEGATIVE, "--batch": NOT_INT + ZERO + NEGATIVE},
    "generate": {"--job": NOT_INT + NEGATIVE, "--events": NOT_INT + NEGATIVE, "--seed": NOT_INT + NEGATIVE,
                 "--events-per-grid-point": NOT_INT + ZERO + NEGATIVE, "--pileup-mean": BAD_FLOAT + NEGATIVE,
                 "--min-pt": BAD_FLOAT + NEGATIVE, "--batch": NOT_INT + ZERO + NEGATIVE},
    "pileup-library": {"--events": NOT_INT + ZERO + NEGATIVE, "--seed": NOT_INT + NEGATIVE},
    "render-cards": {"--job": NOT_INT + NEGATIVE, "--events": NOT_INT + ZERO + NEGATIVE, "--seed": NOT_INT + NEGATIVE,
                     "--events-per-grid-point": NOT_INT + ZERO + NEGATIVE},
    "run-container-job": {"--job": NOT_INT + NEGATIVE, "--events": NOT_INT + ZERO + NEGATIVE, "--seed": NOT_INT + NEGATIVE,
                          "--events-per-grid-point": NOT_INT + ZERO + NEGATIVE, "--pileup-mean": BAD_FLOAT + NEGATIVE,
                          "--cores": NOT_INT + ZERO + NEGATIVE},
    **{tool: {"--jets-per-file": NOT_INT + ZERO + NEGATIVE, "--seed": NOT_INT + NEGATIVE,
              "--files-per-tarball": NOT_INT + ZERO + NEGATIVE, "--ntuples-per-scatter": NOT_INT + ZERO + NEGATIVE,
              "--chunk": NOT_INT + ZERO + NEGATIVE, "--jets-per-basket": NOT_INT + ZERO + NEGATIVE,
              **({"--jobs": NOT_INT + ZERO + NEGATIVE} if tool == "pack-plan" else {})}
       for tool in ("pack", "pack-plan")},
    "pack-scatter": {"--group": NOT_INT + NEGATIVE},
    "pack-gather": {"--index": NOT_INT + NEGATIVE},
    "pack-tarball": {"--number": NOT_INT + NEGATIVE},
    "pack-finalize": {"--jobs": NOT_INT + ZERO + NEGATIVE},
    "verify-dataset": {"--jobs": NOT_INT + ZERO + NEGATIVE},
    "qa-report": {"--max-jets": NOT_INT + ZERO + NEGATIVE, "--min-jets-all-labels": NOT_INT + NEGATIVE},
    "release-dataset": {"--row-group-jets": NOT_INT + ZERO + NEGATIVE},
    "warm-kernels": {},  # no numeric option
}
CASES = [(tool, opt, v) for tool, opts in NUMERIC.items() for opt, values in opts.items() for v in values]


def test_every_console_script_is_covered(repo_dir):
    import tomllib

    scripts = tomllib.loads((repo_dir / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) == set(MAINS) == set(NUMERIC)


@pytest.mark.parametrize("tool,option,value", CASES, ids=[f"{t}{o}={v}" for t, o, v in CASES])
def test_bad_numeric_option(capsys, tmp_path, tool, option, value):
    args = _base(tool, tmp_path)
    # the option replaces the base's value, or is added (a subcommand's options follow it)
    args = (args[:args.index(option)] + args[args.index(option) + 2:]) if option in args else args
    line = one_line(capsys, tool, *args, f"{option}={value}", expect=[f"argument {option}"])
    assert line.startswith(f"{tool}: error: argument {option}")
    assert list(tmp_path.iterdir()) == []


def test_split_weights_are_not_negative(capsys, tmp_path):
    one_line(capsys, "pack-plan", *_base("pack-plan", tmp_path), "--split", "4", "-1", "1", expect=["--split"])


# ---- outputs that are inputs, inputs given twice ---------------------------------------------

@pytest.fixture
def small(shared_dir, tmp_path):
    """A writable copy of the 10-event Delphes file (an overwrite would show on it)."""
    path = tmp_path / "a.root"
    shutil.copyfile(shared_dir / SMALL, path)
    return path


def _unchanged(path, shared_dir):
    return path.read_bytes() == (shared_dir / SMALL).read_bytes()


@pytest.mark.parametrize("tool", ["ntuplize", "fastsim"])
def test_output_equal_to_the_input_is_refused(capsys, shared_dir, small, tool):
    """`ntuplize a.root -o a.root` overwrote its input."""
    extra = ["--pileup", "0"] if tool == "fastsim" else []
    for out in (small, small.parent / "." / small.name, small.parent / "link.root"):
        if out.name == "link.root":
            out.symlink_to(small)
        one_line(capsys, tool, small, "-o", out, *extra, "-q", expect=[out, "(it would be overwritten)"])
        assert _unchanged(small, shared_dir)


def test_output_equal_to_the_card_or_config_is_refused(capsys, shared_dir, small, tmp_path, repo_dir):
    card = tmp_path / "card.yaml"
    shutil.copyfile(repo_dir / "cards/delphes/fastsim_CMS_JetClassII.yaml", card)
    one_line(capsys, "fastsim", small, "-o", card, "--card", card, "--pileup", "0", expect=[card, "--card"])
    config = tmp_path / "ntuplizer.yaml"
    shutil.copyfile(repo_dir / "config/ntuplizer.yaml", config)
    one_line(capsys, "ntuplize", small, "-o", config, "--config", config, expect=[config, "--config"])
    samples_config = tmp_path / "samples.yaml"
    shutil.copyfile(repo_dir / "config/samples.yaml", samples_config)
    one_line(capsys, "pileup-library", "-o", samples_config, "--samples-config", samples_config, "--events", 5,
             expect=[samples_config])
    one_line(capsys, "generate", "--sample", "QCD", "--job", 0, "--events", 5, "-o", samples_config,
             "--samples-config", samples_config, expect=[samples_config])
    assert samples_config.read_bytes() == (repo_dir / "config/samples.yaml").read_bytes()


def test_the_same_input_twice_is_refused(capsys, shared_dir, small, tmp_path):
    """Given twice, every jet was written twice."""
    one_line(capsys, "ntuplize", small, small, "-o", tmp_path / "jets.root", expect=[small, "listed twice"])
    one_line(capsys, "ntuplize", small, tmp_path / "." / "a.root", "-o", tmp_path / "jets.root", expect=["listed twice"])
    ntuple = shared_dir / NTUPLE
    one_line(capsys, "pack-plan", "--category", "Res2P", "--inputs", ntuple, ntuple, "-o", tmp_path / "plan.json",
             expect=[ntuple, "listed twice"])
    one_line(capsys, "pack", "--category", "Res2P", "--inputs", ntuple, ntuple, "--outdir", tmp_path / "d",
             expect=["listed twice"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.root"]


@pytest.fixture(scope="module")
def plan_file(shared_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plan")
    ntuple = tmp / "a.root"
    shutil.copyfile(shared_dir / NTUPLE, ntuple)
    assert pcli.plan_main(["--category", "Res2P", "--inputs", str(ntuple), "-o", str(tmp / "plan.json"), "--split", "1", "0", "0", "-q"]) == 0
    return tmp / "plan.json"


def test_pack_outputs_equal_to_inputs_are_refused(capsys, plan_file, tmp_path):
    """`pack-plan -o INPUT` and `pack-scatter PLAN -o PLAN` overwrote their input."""
    text = plan_file.read_text()
    ntuple = plan_file.parent / "a.root"
    one_line(capsys, "pack-plan", "--category", "Res2P", "--inputs", ntuple, "-o", ntuple, expect=[ntuple, "overwritten"])
    one_line(capsys, "pack-scatter", plan_file, "--group", 0, "-o", plan_file, expect=[plan_file, "overwritten"])
    one_line(capsys, "pack-gather", plan_file, "--index", 0, "--shard-dir", tmp_path, "-o", plan_file, expect=[plan_file])
    one_line(capsys, "pack", "--category", "Res2P", "--inputs", ntuple, "--outdir", plan_file.parent,
             expect=[ntuple, "output directory"])
    one_line(capsys, "pack-finalize", plan_file, "--work", tmp_path, "--outdir", tmp_path / "dataset", expect=["overlap"])
    assert plan_file.read_text() == text
    assert ntuple.stat().st_size > 0


def test_container_job_workdir_must_hold_no_input(capsys, tmp_path, repo_dir, monkeypatch):
    """The work directory is removed after the job: it may not hold the card, the output or the working directory."""
    card = tmp_path / "card.tcl"
    card.write_text("# card\n")
    base = ["generate", "--sample", "QCD", "--job", 0, "--events", 5, "--delphes-card", card]
    one_line(capsys, "run-container-job", *base, "--workdir", tmp_path, "-o", tmp_path / "w" / "out.root",
             expect=[card, "--workdir"])
    one_line(capsys, "run-container-job", *base, "--workdir", tmp_path / "w", "-o", tmp_path / "w" / "out.root",
             expect=["--workdir holds -o"])
    monkeypatch.chdir(tmp_path / ".")
    one_line(capsys, "run-container-job", *base, "--workdir", tmp_path.parent, "-o", "/nonexistent/out.root",
             expect=["--workdir"])
    assert card.exists()


# ---- outputs that cannot be written, unreadable configuration files ---------------------------

def test_output_directories(capsys, tmp_path):
    """Tracebacks before: `generate -o DIR`, `render-cards -o notadir/x`, `pileup-library -o` under a file."""
    (tmp_path / "dir").mkdir()
    blocker = tmp_path / "notadir"
    blocker.write_text("x")
    one_line(capsys, "generate", "--sample", "QCD", "--job", 0, "--events", 5, "-o", tmp_path / "dir",
             expect=[tmp_path / "dir", "is a directory"])
    one_line(capsys, "render-cards", "--sample", "QCD", "--job", 0, "--events", 5, "-o", blocker / "x",
             expect=[blocker])
    one_line(capsys, "render-cards", "--sample", "QCD", "--job", 0, "--events", 5, "-o", blocker, expect=[blocker])
    one_line(capsys, "pileup-library", "--events", 5, "-o", blocker / "lib.parquet", expect=[blocker])
    one_line(capsys, "pileup-library", "--events", 5, "-o", tmp_path / "dir", expect=["is a directory"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "notadir"] and blocker.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_output_directory(capsys, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        one_line(capsys, "pileup-library", "--events", 5, "-o", ro / "x" / "lib.parquet", expect=["not writable"])
        one_line(capsys, "generate", "--sample", "QCD", "--job", 0, "--events", 5, "-o", ro / "out.root",
                 expect=["not writable"])
    finally:
        ro.chmod(0o755)


@pytest.fixture
def garbage(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\nb: {")
    return {"binary": binary, "broken": broken, "missing": tmp_path / "missing.yaml", "directory": tmp_path}


@pytest.mark.parametrize("kind", ["binary", "broken", "missing", "directory"])
def test_unreadable_configuration_files(capsys, small, tmp_path, garbage, kind):
    """A binary file as --config/--card, `pack --samples-config missing.yaml`: tracebacks before."""
    bad = garbage[kind]
    out = tmp_path / "out.root"
    one_line(capsys, "ntuplize", small, "-o", out, "--config", bad, expect=[bad])
    one_line(capsys, "fastsim", small, "-o", out, "--card", bad, "--pileup", "0", expect=[bad])
    one_line(capsys, "generate", "--sample", "QCD", "--job", 0, "--events", 5, "-o", out, "--samples-config", bad,
             expect=[bad])
    one_line(capsys, "pack", "--category", "Res2P", "--inputs", small, "--outdir", tmp_path / "d", "--samples-config", bad,
             expect=[bad])
    one_line(capsys, "pack-plan", "--category", "Res2P", "--inputs", small, "-o", tmp_path / "p.json",
             "--samples-config", bad, expect=[bad])
    one_line(capsys, "pack-scatter", bad, "--group", 0, "-o", tmp_path / "s.arrow", expect=[bad])
    assert not out.exists() and not (tmp_path / "d").exists()


# ---- qa-report ---------------------------------------------------------------------------------

def test_qa_report_arguments(capsys, plan_file, tmp_path):
    """A missing or empty dataset gave exit 0 and an empty page; `--categories ../x` a folder outside
    the output directory; `--outdir` equal to the dataset wrote into it."""
    empty = tmp_path / "empty"
    empty.mkdir()
    qa = tmp_path / "qa"
    one_line(capsys, "qa-report", tmp_path / "missing", "--outdir", qa, expect=["missing", "not found"])
    one_line(capsys, "qa-report", empty, "--outdir", qa, expect=[empty, "no manifest"])
    for cat in ("../x", "Res2P/../QCD", "/tmp/x", "", ".."):
        one_line(capsys, "qa-report", empty, "--outdir", qa, "--categories", cat, expect=["--categories"])
    one_line(capsys, "qa-report", empty, "--outdir", empty, expect=["--outdir"])
    one_line(capsys, "qa-report", empty, "--outdir", empty / "Res2P" / "qa", expect=["--outdir"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"] and list(empty.iterdir()) == []


def test_release_and_warm_kernels_outputs(capsys, tmp_path, repo_dir):
    """A release directory equal to the dataset, or holding it, would replace it."""
    (tmp_path / "dataset").mkdir()
    for out in (tmp_path / "dataset", tmp_path, tmp_path / "dataset" / "release"):
        one_line(capsys, "release-dataset", tmp_path / "dataset", "-o", out, expect=["overlap"])
    card = tmp_path / "card.yaml"
    shutil.copyfile(repo_dir / "cards/delphes/fastsim_CMS_JetClassII.yaml", card)
    one_line(capsys, "warm-kernels", "-o", card, "--detector-card", card, expect=[card, "overwritten"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.yaml", "dataset"]


# ---- subprocesses: exit status and no traceback as the workflow sees them -----------------------

def test_no_traceback_from_the_console_scripts(tmp_path):
    """A sample of the former tracebacks, as separate processes (what Snakemake's log shows)."""
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(256)))
    (tmp_path / "dir").mkdir()
    cases = [["jetclass2.ntuplizer.cli", "x.root", "-o", "y.root", "--chunk", "0"],
             ["jetclass2.fastsim.cli", "x.root", "-o", "y.root", "--batch", "0"],
             ["jetclass2.fastsim.job", "--sample", "QCD", "--job", "0", "--events", "5", "-o", str(tmp_path / "dir")],
             ["jetclass2.packing", "pack", "--category", "Res2P", "--inputs", "x.root", "--outdir", str(tmp_path / "d"),
              "--samples-config", str(tmp_path / "missing.yaml")]]
    for args in cases:
        r = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and ": error: " in lines[0], (args, r.stderr[-1500:])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["binary.yaml", "dir"]


# ---- a full disk (a real one: $JETCLASS2_FULL_DISK names a directory on a small, full file system) --

def test_full_disk(capsys, shared_dir):
    """Set JETCLASS2_FULL_DISK to a directory on a nearly full file system (e.g. a 2 MB tmpfs mounted
    by hand); every writer names its output and leaves nothing there."""
    full = os.environ.get("JETCLASS2_FULL_DISK")
    if not full or not Path(full).is_dir():
        pytest.skip("JETCLASS2_FULL_DISK names no directory (a small file system to fill)")
    full = Path(full)
    filler = full / "filler"  # leave 64 kB: less than any of the outputs below
    free = shutil.disk_usage(full).free - 64 * 1024
    if free > 4 << 30:
        pytest.skip(f"{full}: {free >> 20} MB free is too much to fill")
    with open(filler, "wb") as f:
        f.write(b"\0" * max(free, 0))
    try:
        _fill_them(capsys, shared_dir, full)
    finally:
        filler.unlink()


def _fill_them(capsys, shared_dir, full):
    before = sorted(p.name for p in full.iterdir())
    ntuple = shared_dir / "ntuples" / "hbb_m125_pt500_200events.ntuple.root"
    runs = [("fastsim", [shared_dir / "delphes/hbb_m125_pt500_200events.root", "-o", full / "sim.root", "--pileup", "0"]),
            ("ntuplize", [shared_dir / "delphes/hbb_m125_pt500_200events.root", "-o", full / "jets.parquet"]),
            ("pack", ["--category", "Res2P", "--inputs", ntuple, "--outdir", full / "dataset", "--format", "parquet"]),
            ("pack", ["--category", "Res2P", "--inputs", ntuple, "--outdir", full / "dataset2"])]
    for tool, args in runs:
        line = one_line(capsys, tool, *args, "-q")
        assert str(full) in line and ("No space left on device" in line or "no space left" in line), line
    leftover = [p for p in full.rglob("*") if p.is_file() and not p.name.endswith(".lock")
                and p.relative_to(full).parts[0] not in before]
    assert leftover == []


def test_manifest_json_is_not_a_category(capsys, tmp_path):
    """qa-report with --summary-only and no summary: one line, not a traceback."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "Res2P.manifest.json").write_text(json.dumps({"category": "Res2P"}))
    one_line(capsys, "qa-report", tmp_path / "d", "--outdir", tmp_path / "qa", "--summary-only", expect=["summary.json"])
