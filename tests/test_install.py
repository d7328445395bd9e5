"""`pip install .` (not editable): the wheel carries config/ and cards/, its console scripts work anywhere."""
import importlib.util
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import awkward as ak
import pytest
import uproot
from jetclass2.ntuplizer import process_file
from jetclass2.ntuplizer.writer import read_jets

REPO = Path(__file__).resolve().parents[1]


def _sources() -> list[str]:
    """What a source distribution holds: pyproject, README and every directory pyproject packages."""
    setup = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = {setup.get("package-dir", {}).get(p, p.split(".")[0]) for p in setup["packages"]}
    return ["pyproject.toml", "README.md", *sorted(dirs)]


SOURCES = _sources()


def _see_dependencies_of_this_interpreter(py: Path) -> None:
    """Let the venv of ``py`` import the dependencies installed for the interpreter running the tests.

    ``venv --system-site-packages`` would give the base Python's site-packages, which lack them when the
    tests themselves run in a virtual environment. A .pth file listing this interpreter's site-packages
    adds them after the venv's own (so the installed wheel comes first); as plain path lines, the
    ``.pth`` files there (an editable install of the checkout) are not executed.
    """
    dirs = [sysconfig.get_paths()[k] for k in ("purelib", "platlib")] + site.getsitepackages()
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        dirs.append(site.getusersitepackages())
    r = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       capture_output=True, text=True, check=True)
    target = Path(r.stdout.strip())
    (target / "_jetclass2_test_parent_site.pth").write_text("".join(f"{d}\n" for d in dict.fromkeys(dirs)))


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A virtual environment (seeing this interpreter's packages for the dependencies) with the project's wheel installed."""
    if importlib.util.find_spec("setuptools") is None:  # the build backend (it builds wheels itself since 70.1)
        pytest.skip("building the wheel offline needs setuptools in this environment")
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, src / name)
    run = lambda *a, **kw: subprocess.run(a, capture_output=True, text=True, timeout=600, **kw)  # noqa: E731
    r = run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src), "-w", str(tmp / "dist"))
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("jetclass2_production-*.whl")
    r = run(sys.executable, "-m", "venv", str(tmp / "venv"))
    assert r.returncode == 0, r.stderr[-2000:]
    py = tmp / "venv" / "bin" / "python"
    _see_dependencies_of_this_interpreter(py)
    r = run(str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--force-reinstall", str(wheel))
    assert r.returncode == 0, r.stderr[-2000:]
    shutil.rmtree(src)  # nothing of the checkout is left to fall back on
    work = tmp / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{tmp / 'venv' / 'bin'}{os.pathsep}{env['PATH']}"

    def call(*args):
        return subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=900)

    return call, work, tmp / "venv"


def test_wheel_resources_come_from_the_wheel(venv):
    call, _, prefix = venv
    r = call("python", "-c", "import jetclass2.resources as r, jetclass2.ntuplizer.core as c, jetclass2.fastsim.detector.card as k, "
                             "jetclass2.generation.samples as s, jetclass2.generation.delphes_batches as d; "
                             "print(r.data_root()); print(c.DEFAULT_CONFIG); "
                             "print(k.DEFAULT_CARD); print(s.DEFAULT_SAMPLES_CONFIG); print(d.SOURCE)")
    assert r.returncode == 0, r.stderr[-2000:]
    paths = [Path(p) for p in r.stdout.split()]
    site = prefix.resolve()
    assert all(site in p.resolve().parents and p.exists() for p in paths), paths


def test_installed_ntuplize_runs_from_another_directory(venv, shared_dir):
    call, work, _ = venv
    source = shared_dir / "delphes" / "res2p_higgs2p_10events.root"
    r = call("ntuplize", str(source), "-o", "jets.root", "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    ours = read_jets(work / "jets.root")
    expected = process_file(source)  # the checkout's ntuplizer, in this process
    assert len(expected) == len(ours) == 20
    for name in expected.fields:
        assert ak.to_list(ours[name]) == ak.to_list(expected[name]), name


def test_installed_generation_scripts_find_their_cards(venv, shared_dir):
    call, work, _ = venv
    # samples.yaml and the Pythia cards from the wheel
    r = call("generate", "--sample", "QCD", "--job", "0", "--events", "2", "--detector", "none", "-o", "gen.root", "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    assert uproot.open(work / "gen.root")["Delphes"].num_entries == 2
    # the fast-simulation card from the wheel
    r = call("fastsim", str(shared_dir / "delphes" / "res2p_higgs2p_10events.root"), "-o", "sim.root", "--pileup", "0", "-q")
    assert r.returncode == 0, r.stderr[-2000:]
    assert uproot.open(work / "sim.root")["Delphes"].num_entries == 10
    # the MadGraph cards from the wheel
    r = call("render-cards", "--sample", "Res2P_neutral", "--job", "0", "--events", "10", "-o", "cards")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "import model" in (work / "cards" / "proc_card.dat").read_text()
