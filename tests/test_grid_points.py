"""A new grid point every `events_per_grid_point` events: the batches of a job, their listing, provenance,
coverage of the full configuration's grids, and bad input."""
import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml
from scipy.stats import chisquare

from jetclass2.fastsim import job as generate_cli
from jetclass2.generation import samples
from jetclass2.resources import resource

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cfg():
    return samples.load_config()


def run_generate(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "jetclass2.fastsim.job", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def list_points(argv):
    """`generate ... --list-grid-points` in process: the printed JSON objects."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert generate_cli.main([*map(str, argv), "--list-grid-points", "-q"]) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_three_batch_job_has_three_grid_points_in_record_and_provenance(tmp_path):
    out = tmp_path / "job.root"
    r = run_generate("--sample", "Res2P_neutral", "--job", 4, "--events", 30, "--events-per-grid-point", 10,
                     "--seed", 3, "--detector", "none", "-o", out)
    assert r.returncode == 0, r.stderr
    prov = json.loads((tmp_path / "job.root.gridpoints.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.root", "job.root.gridpoints.json"]
    assert (prov["sample"], prov["job"], prov["seed"], prov["events"], prov["events_per_grid_point"]) == ("Res2P_neutral", 4, 3, 30, 10)
    batches = prov["batches"]
    assert [b["batch"] for b in batches] == [0, 1, 2] and [b["events"] for b in batches] == [10, 10, 10]
    assert len({b["pythia_seed"] for b in batches}) == 3
    assert len({(b["mass_x"], b["pt_min"]) for b in batches}) == 3
    # the generator record: events 10k..10k+9 carry batch k's X, with its mass and above its pT_min
    tree = uproot.open(out)["Delphes"]
    pid, mass, pt, status = (tree[f"Particle.{f}"].array() for f in ("PID", "Mass", "PT", "Status"))
    assert len(pid) == 30
    x_hard = (pid == 25) & (status == 22)
    for k, b in enumerate(batches):
        sl = slice(10 * k, 10 * k + 10)
        assert ak.all(ak.sum(x_hard[sl], axis=1) == 2)  # X pairs, as the reference
        m = ak.to_numpy(ak.flatten(mass[sl][x_hard[sl]]))
        assert np.allclose(m, b["mass_x"], rtol=0.01), (k, m, b)
        assert np.all(ak.to_numpy(ak.flatten(pt[sl][x_hard[sl]])) > 0.9 * b["pt_min"])
    x_masses = np.round(ak.to_numpy(ak.flatten(mass[x_hard])) / 5) * 5
    assert len(np.unique(x_masses)) == len({b["mass_x"] for b in batches})
    # the listing is the provenance without seeds
    listed = list_points(["--sample", "Res2P_neutral", "--job", 4, "--events", 30, "--events-per-grid-point", 10, "--seed", 3])
    assert listed == [{k: v for k, v in b.items() if not k.endswith("_seed")} for b in batches]


def test_same_inputs_same_list(cfg):
    a = list_points(["--sample", "Res34P", "--job", 7, "--events", 1000, "--seed", 1])
    assert a == list_points(["--sample", "Res34P", "--job", 7, "--events", 1000, "--seed", 1])
    assert a != list_points(["--sample", "Res34P", "--job", 7, "--events", 1000, "--seed", 2])
    assert a != list_points(["--sample", "Res34P", "--job", 8, "--events", 1000, "--seed", 1])
    assert [set(b) for b in a] == [{"batch", "events", "mass_x", "pt_min", "mass_y", "width_y"}] * 10
    for b in a:
        samples.validate_point(cfg, samples.GridPoint("Res34P", b["mass_x"], b["pt_min"], b["mass_y"], b["width_y"]))
    # a batch's point depends on (seed, sample, job, batch index) only, not on the job's length
    longer = list_points(["--sample", "Res34P", "--job", 7, "--events", 5000, "--seed", 1])
    assert longer[:10] == a
    qcd = list_points(["--sample", "QCD", "--job", 0, "--events", 250, "--seed", 1])
    assert [set(b) for b in qcd] == [{"batch", "events", "pthat_min"}] * 3


def test_remainder_goes_into_a_last_smaller_batch(cfg):
    assert samples.batch_sizes(250, 100) == [100, 100, 50]
    assert samples.batch_sizes(300, 100) == [100, 100, 100]
    assert samples.batch_sizes(7, 100) == [7]
    assert samples.batch_sizes(0, 100) == []
    pts = list_points(["--sample", "QCD", "--job", 1, "--events", 250, "--events-per-grid-point", 120])
    assert [p["events"] for p in pts] == [120, 120, 10]
    # the default comes from config/samples.yaml
    assert [p["events"] for p in list_points(["--sample", "QCD", "--job", 1, "--events", 250])] == [100, 100, 50]
    assert cfg["events_per_grid_point"] == 100


def test_full_config_covers_the_grids(cfg):
    """All jobs of config/jetclass2_full.yaml: >= 99.5% of the 4900 (m, pT_min) points of each Res2P
    sample and all 200 QCD pTHat values; the draws are uniform."""
    full = yaml.safe_load(resource("config/jetclass2_full.yaml").read_text())
    assert full["generation"].get("min_pt") is None
    n_points = len(samples.mass_grid(cfg)) * len(samples.pt_grid(cfg))
    assert n_points == 4900
    for sample in ("Res2P_neutral", "Res2P_charged", "QCD"):
        jobs, events = full["samples"][sample]["jobs"], full["samples"][sample]["events_per_job"]
        seen = []
        for j in range(jobs):
            pts = list_points(["--sample", sample, "--job", j, "--events", events, "--seed", full["seed"],
                               "--samples-config", full["generation"]["samples_config"]])
            assert len(pts) == events // 100
            seen += [(p["pthat_min"],) if sample == "QCD" else (p["mass_x"], p["pt_min"]) for p in pts]
        covered = set(seen)
        if sample == "QCD":
            assert covered == {(v,) for v in samples.qcd_pthat_grid(cfg)}
            _, counts = np.unique(np.array(seen)[:, 0], return_counts=True)
        else:
            assert len(covered) >= 0.995 * n_points, (sample, len(covered))
            assert {m for m, _ in covered} == set(samples.mass_grid(cfg))
            _, counts = np.unique(np.array(seen)[:, 0], return_counts=True)  # per mass
        assert chisquare(counts).pvalue > 0.001, sample


def test_min_pt_restricts_the_draw(cfg):
    pts = list_points(["--sample", "Res2P_charged", "--job", 0, "--events", 2000, "--min-pt", 400])
    assert min(p["pt_min"] for p in pts) >= 400 and len({p["pt_min"] for p in pts}) > 5


# ---- bad input: a one-line error naming the problem, exit 2, nothing written -----------------

@pytest.mark.parametrize("args,message", [
    (["--sample", "Res5P", "--events", "1"], "unknown sample 'Res5P'"),
    (["--sample", "QCD", "--events", "-3"], "argument --events: must be at least 0, got -3"),
    (["--sample", "QCD", "--events", "10", "--events-per-grid-point", "0"], "argument --events-per-grid-point: must be at least 1"),
    (["--sample", "QCD", "--events", "10", "--events-per-grid-point", "-5"], "argument --events-per-grid-point: must be at least 1"),
    (["--sample", "Res2P_neutral", "--events", "10", "--min-pt", "3000"], "no Res2P_neutral grid point with pT_min >= 3000"),
    (["--sample", "QCD", "--events", "10", "--job", "-1"], "argument --job: must be at least 0, got -1"),
])
def test_cli_rejects_bad_input_before_generating(tmp_path, args, message):
    out = tmp_path / "x.root"
    r = run_generate(*args, *(["--job", "0"] if "--job" not in args else []), "-o", out)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len([ln for ln in r.stderr.splitlines() if "error" in ln]) == 1
    assert list(tmp_path.iterdir()) == []


def test_render_cards_rejects_bad_input(tmp_path):
    from jetclass2.generation.cli import render_cards_main

    for argv, message in ((["--sample", "QCD", "--events", "0"], "argument --events: must be at least 1"),
                          (["--sample", "QCD", "--events", "10", "--events-per-grid-point", "0"], "--events-per-grid-point"),
                          (["--sample", "Res9P", "--events", "10"], "unknown sample")):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_status:
            sys.exit(render_cards_main([*argv, "--job", "0", "-o", str(tmp_path / "cards")]))
        assert exit_status.value.code == 2
        assert message in err.getvalue()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("edit,message", [
    (lambda c: c["samples"]["QCD"].update(kind="resonant_5prong"), "samples/QCD/kind"),
    (lambda c: c.update(events_per_grid_point=0), "events_per_grid_point"),
    (lambda c: c["samples"]["Res2P_charged"].pop("decay_card"), "decay_card"),
    (lambda c: c["grids"]["mass_y"].update(min=30.0), "no nominal Y mass for m_X = 30"),
    (lambda c: c["grids"]["mass_y"].update(ratio_stop=1.5), "grids/mass_y/ratio_stop: 1.5 is greater than the maximum of 1"),
])
def test_bad_samples_config_is_rejected(tmp_path, edit, message):
    c = yaml.safe_load(resource("config/samples.yaml").read_text())
    edit(c)
    path = tmp_path / "samples.yaml"
    path.write_text(yaml.safe_dump(c))
    sample = "Res34P" if "Y mass" in message else "QCD"
    r = run_generate("--sample", sample, "--job", 0, "--events", 500, "--samples-config", path, "--list-grid-points", cwd=REPO)
    assert r.returncode == 2 and str(path) in r.stderr and message in r.stderr, r.stderr


def test_no_sample_names_in_generation_code():
    """What a sample is lives in config/samples.yaml: no code compares sample names."""
    names = yaml.safe_load(resource("config/samples.yaml").read_text())["samples"]
    files = sorted((REPO / "jetclass2" / "generation").glob("*.py")) + [REPO / "jetclass2" / "fastsim" / "job.py"]
    pattern = re.compile("|".join(rf"['\"]{re.escape(n)}['\"]|['\"]{re.escape(n.split('_')[0])}['\"]" for n in names))
    offending = [f"{f.name}:{i}" for f in files for i, line in enumerate(f.read_text().splitlines(), 1) if pattern.search(line)]
    assert offending == []
