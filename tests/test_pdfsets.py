"""The container path's LHAPDF sets are checked at the dry run, where the jobs run (jetclass2/generation/pdfsets.py).

LHAPDF itself is not installed on this machine; its role is played by a stand-in ``lhapdf-config``
(an external program: it only prints a data directory) over real LHAPDF6 grid files, Pythia's copies
of NNPDF3.1/2.3 member 0. What is tested is the project's look-up and the workflow's stop.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jetclass2.generation import pdfsets, samples

REPO = Path(__file__).resolve().parents[1]
SETS = ["NNPDF31_lo_as_0118", "NNPDF31_nnlo_as_0118_mc_hessian_pdfas", "NNPDF23_lo_as_0130_qed"]
PYTHIA_PDFDATA = Path(sys.prefix) / "share" / "Pythia8" / "pdfdata"


def _lhapdf(tmp_path: Path, sets: list[str]) -> dict:
    """A PATH with a stand-in lhapdf-config whose data directory holds ``sets`` (info + member 0)."""
    data = tmp_path / "share" / "LHAPDF"
    for s in sets:
        (data / s).mkdir(parents=True)
        grid = PYTHIA_PDFDATA / f"{s}_0000.dat"
        (data / s / f"{s}_0000.dat").write_bytes(grid.read_bytes() if grid.is_file() else b"PdfType: central\n---\n")
        (data / s / f"{s}.info").write_text(f"SetDesc: {s}\nNumMembers: 1\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "lhapdf-config"
    tool.write_text(f"#!/bin/sh\n[ \"$1\" = --datadir ] && echo {data}\n")
    tool.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("LHAPDF_DATA_PATH", "LHAPATH")}
    env["PATH"] = f"{bindir}{os.pathsep}{env['PATH']}"
    return env


def _dry_run(env: dict, pdf: str = "lhapdf"):
    return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile",
                           "config/container_smoke.yaml", "--config", f"container={{pdf: {pdf}}}"],
                          cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_the_reference_choice_names_its_sets():
    cfg = samples.load_config()
    assert pdfsets.required_sets(cfg, "lhapdf") == SETS
    assert pdfsets.required_sets(cfg, "builtin") == []
    with pytest.raises(pdfsets.PDFSetError, match="unknown PDF choice 'cteq'"):
        pdfsets.required_sets(cfg, "cteq")
    # the names agree with the cards' own: MadGraph's lhaid 315000 is the first, Pythia's LHAPDF6 set the second
    lh = cfg["container"]["pdf_sets"]["lhapdf"]
    assert lh["pythia"] == f"LHAPDF6:{SETS[1]}" and lh["madgraph"]["lhaid"] == 315000


@pytest.mark.skipif(shutil.which("lhapdf-config") is not None, reason="LHAPDF is installed here: the no-LHAPDF stop cannot be seen")
def test_dry_run_stops_without_lhapdf_and_passes_with_builtin():
    r = _dry_run(dict(os.environ))
    assert r.returncode != 0
    lines = [ln for ln in r.stdout.splitlines() if "container.pdf" in ln]
    assert len(lines) == 1, r.stdout[-2000:]
    assert "LHAPDF is not installed on this machine" in lines[0] and "container.pdf: builtin" in lines[0]
    assert all(s in lines[0] for s in SETS)
    assert _dry_run(dict(os.environ), "builtin").returncode == 0


def test_dry_run_passes_only_with_every_set(tmp_path):
    env = _lhapdf(tmp_path / "all", SETS)
    r = _dry_run(env)
    assert r.returncode == 0, r.stdout[-2000:]
    env = _lhapdf(tmp_path / "some", SETS[:1])
    r = _dry_run(env)
    assert r.returncode != 0
    line = next(ln for ln in r.stdout.splitlines() if "container.pdf" in ln)
    assert f"LHAPDF set(s) {SETS[1]}, {SETS[2]} not installed on this machine" in line


def test_lookup_follows_lhapdf_search_path(tmp_path, monkeypatch):
    env = _lhapdf(tmp_path, SETS[:2])
    monkeypatch.setenv("PATH", env["PATH"])
    assert pdfsets.missing_sets(SETS) == [SETS[2]]
    extra = tmp_path / "extra" / SETS[2]
    extra.mkdir(parents=True)
    (extra / f"{SETS[2]}.info").write_text("NumMembers: 1\n")
    monkeypatch.setenv("LHAPDF_DATA_PATH", str(extra.parent))
    assert pdfsets.missing_sets(SETS) == [SETS[2]]  # no central member: not usable
    (extra / f"{SETS[2]}_0000.dat").write_bytes((PYTHIA_PDFDATA / f"{SETS[2]}_0000.dat").read_bytes())
    assert pdfsets.missing_sets(SETS) == []


def test_job_started_by_hand_stops_before_any_work(tmp_path):
    """run-container-job with LHAPDF PDFs and no LHAPDF: one line, exit 2, no work directory, no output."""
    if shutil.which("lhapdf-config"):
        pytest.skip("LHAPDF is installed here")
    out, work, card = tmp_path / "out.root", tmp_path / "work", tmp_path / "no_pileup.tcl"
    card.write_text("set ExecutionPath {}\n")  # a detector card without a pile-up file: nothing else is missing
    r = subprocess.run(["run-container-job", "generate", "--sample", "Res2P_neutral", "--job", "0", "--events", "10",
                        "--pdf", "lhapdf", "--delphes-card", str(card), "--delphes-outputs", "full",
                        "--workdir", str(work), "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("run-container-job: error: Res2P_neutral job 0: PDFs: --pdf: lhapdf:"), err
    assert not out.exists() and not work.exists()


def test_full_configuration_names_the_reference_sets():
    full = yaml.safe_load((REPO / "config" / "jetclass2_full.yaml").read_text())
    assert full["generation"]["backend"] == "container" and full["container"]["pdf"] == "lhapdf"
