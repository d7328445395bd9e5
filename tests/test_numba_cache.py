"""Numba kernels compiled once per production into a shared cache (jetclass2/numba_cache.py, ntuplizer/warm.py)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jetclass2.numba_cache import cached_kernels

REPO = Path(__file__).resolve().parents[1]


def _kernel_files(cache: Path) -> dict[str, int]:
    return {str(p.relative_to(cache)): p.stat().st_mtime_ns for p in cache.rglob("*.nb[ic]")}


@pytest.mark.slow
def test_warm_kernels_fill_an_empty_cache_that_later_jobs_only_read(tmp_path, shared_dir):
    cache = tmp_path / "cache"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "JETCLASS2_CACHE": str(tmp_path / "jc2")}
    stamp = cache / "warm.ok"
    r = subprocess.run(["warm-kernels", "-o", str(stamp)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "none cached" in r.stderr and stamp.is_file()
    n = cached_kernels(cache)
    assert n >= 30 and stamp.read_text().startswith(f"{n} numba kernels cached in {cache}")
    before = _kernel_files(cache)
    # a job on a real Delphes file of the production compiles nothing new
    delphes = shared_dir / "delphes" / "hbb_m125_pt500_200events.root"
    r = subprocess.run(["ntuplize", str(delphes), "-o", str(tmp_path / "jets.root")], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"numba kernels: {n} cached in {cache}" in r.stderr  # the job's log says it compiles nothing
    assert _kernel_files(cache) == before


def test_workflow_warms_once_into_the_production_cache(tmp_path):
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "1", "--config", f"results={tmp_path}/res"],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
    assert r.stdout.count("rule warm_kernels:") == 1
    assert f"warm-kernels --samples-config config/samples.yaml -o {tmp_path}/res/.numba_cache/warm.ok" in r.stdout


def _generate_announces(code: Path, home: Path, tmp_path: Path, read_only: list[Path], cache: Path | None = None,
                        tool: str = "generate") -> str:
    """``generate`` (0 events: it sets up the fast simulation, compiles nothing), or ``ntuplize`` of its output,
    from the checkout copy ``code`` with ``read_only`` bind-mounted read-only in a private mount namespace; its stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_CACHE"))}
    env.update(HOME=str(home), PYTHONPATH=str(code))
    if cache is not None:
        env["NUMBA_CACHE_DIR"] = str(cache)
    mounts = " && ".join(f"mount --bind -o ro '{p}' '{p}'" for p in read_only) or "true"
    job = [sys.executable, "-c", "import sys; from jetclass2.fastsim.job import main; sys.exit(main())", "--sample",
           "Res2P_neutral", "--job", "0", "--events", "0", "--pileup-mean", "0", "-o", str(tmp_path / "out.root")]
    if tool == "ntuplize":
        job = [sys.executable, "-c", "import sys; from jetclass2.ntuplizer.cli import main; sys.exit(main())",
               str(tmp_path / "out.root"), "-o", str(tmp_path / "jets.root")]
    else:
        (tmp_path / "out.root").unlink(missing_ok=True)
    unshare = ["unshare", "-m", "--propagation", "private"] if os.geteuid() == 0 else ["unshare", "-rm", "--propagation", "private"]
    r = subprocess.run([*unshare, "sh", "-c", f'{mounts} && exec "$@"', "sh", *job], env=env, capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stderr


def test_a_job_on_a_fresh_node_says_where_the_kernels_are_compiled(tmp_path):
    """A cluster node without the production's cache: read-only package, empty home, NUMBA_CACHE_DIR unset."""
    probe = ["unshare", "-m" if os.geteuid() == 0 else "-rm", "--propagation", "private", "mount", "--bind", "-o", "ro", str(tmp_path),
             str(tmp_path)]
    if shutil.which("unshare") is None or subprocess.run(probe, capture_output=True).returncode != 0:
        pytest.skip("needs a private mount namespace (unshare -m: root or user namespaces)")
    code = tmp_path / "checkout"
    for name in ("jetclass2", "ntuplizer", "config", "cards"):
        shutil.copytree(REPO / name, code / name, ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    home = tmp_path / "home"
    home.mkdir()
    # the package is read-only: numba falls back to the home directory, lost with the node
    err = _generate_announces(code, home, tmp_path, [code])
    assert (f"INFO: numba kernels: none cached in {home}/.cache/numba (the home directory): compiling them first" in err
            and "NUMBA_CACHE_DIR is unset" in err), err
    # home read-only too: numba has nowhere to cache (it would fail to load the kernels); the job compiles
    # them into a temporary cache of its own and says that every job will
    err = _generate_announces(code, home, tmp_path, [code, home])
    assert "WARNING: numba kernels: nowhere to cache them" in err and "for this job only" in err, err
    err = _generate_announces(code, home, tmp_path, [code, home], tool="ntuplize")  # numba failed at its import before
    assert "WARNING: numba kernels: nowhere to cache them" in err and "ntuplize: 0 jets from 0 events" in err, err
    # the production's cache (here an empty one): named, and nothing is written beside the package
    err = _generate_announces(code, home, tmp_path, [code], cache=tmp_path / "cache")
    assert f"numba kernels: none cached in {tmp_path / 'cache'}: compiling" in err, err
    assert not list(code.rglob("*.nbi"))
