"""Where the compiled numba kernels live, and a line in the log saying whether a job will compile them.

The fast simulation and the ntuplizer compile ~30 numba kernels on first use: ~25 s CPU for a 200-event
``ntuplize`` with an empty cache, ~1 s with a warm one (measured on this project's 2-core machine). numba
caches them in ``$NUMBA_CACHE_DIR`` when it is set, else beside the package (``__pycache__``), falling
back to the home directory where the package is read-only. The workflow sets ``NUMBA_CACHE_DIR`` to one
directory per production (``numba_cache`` in the configuration; default ``RESULTS/.numba_cache``), so
every job, local or on a cluster node with the results on a shared file system, finds the kernels that
the ``warm_kernels`` rule compiled once (``ntuplizer/warm.py``).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

PACKAGES = ("jetclass2", "ntuplizer")  # where numba caches beside the code (jetclass2/fastsim, ntuplizer/)


def cache_dir() -> Path | None:
    """``$NUMBA_CACHE_DIR``, or ``None`` when numba caches beside the package."""
    d = os.environ.get("NUMBA_CACHE_DIR")
    return Path(d) if d else None


def cached_kernels(directory: Path | None = None) -> int:
    """Number of kernels with a cache index (``.nbi``) in ``directory`` (default: where numba caches now)."""
    d = directory if directory is not None else cache_dir()
    if d is not None:
        return sum(1 for _ in d.rglob("*.nbi")) if d.is_dir() else 0
    root = Path(__file__).resolve().parents[1]
    return sum(1 for p in PACKAGES for _ in (root / p).rglob("__pycache__/*.nbi"))


def announce(log: logging.Logger) -> None:
    """Log where the kernels are cached and, when none are, that this job compiles them first."""
    d = cache_dir()
    where = str(d) if d is not None else "beside the package (set NUMBA_CACHE_DIR to share them)"
    n = cached_kernels(d)
    if n:
        log.info("numba kernels: %d cached in %s", n, where)
    else:
        log.info("numba kernels: none cached in %s: compiling them first (~25-40 s CPU, once per cache)", where)
