"""Numba kernels compiled once per production into a shared cache (jetclass2/numba_cache.py, ntuplizer/warm.py)."""
import os
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
    assert _kernel_files(cache) == before


def test_workflow_warms_once_into_the_production_cache(tmp_path):
    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "1", "--config", f"results={tmp_path}/res"],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
    assert r.stdout.count("rule warm_kernels:") == 1
    assert f"warm-kernels --samples-config config/samples.yaml -o {tmp_path}/res/.numba_cache/warm.ok" in r.stdout
