"""Where the compiled numba kernels live, and a line in the log saying whether a job will compile them.

The fast simulation and the ntuplizer compile ~30 numba kernels on first use: ~25 s CPU for a 200-event
``ntuplize`` with an empty cache, ~1 s with a warm one (measured on this project's 2-core machine). numba
caches them in ``$NUMBA_CACHE_DIR`` when it is set, else beside the package (``__pycache__``), falling
back to the home directory (``~/.cache/numba``) where the package is read-only; where that is not
writable either, numba fails to import them ("no locator available"), so :func:`ensure_cache` gives the job a
temporary cache of its own (every job then compiles them again). The workflow sets ``NUMBA_CACHE_DIR`` to one
directory per production (``numba_cache`` in the configuration; default ``RESULTS/.numba_cache``), so
every job, local or on a cluster node with the results on a shared file system, finds the kernels that
the ``warm_kernels`` rule compiled once (``ntuplizer/warm.py``). ``generate`` and ``ntuplize`` say in
their log which of these applies (:func:`announce`): a job on a node without the shared cache costs
~25-40 s CPU more, and the log line is the only trace of it.
"""
from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

PACKAGES = ("jetclass2", "ntuplizer")  # where numba caches beside the code (jetclass2/fastsim, ntuplizer/)
_ROOT = Path(__file__).resolve().parents[1]
_FALLBACK: str | None = None  # this process's temporary cache, where numba can cache nowhere else
_CACHED_KERNEL = re.compile(r"^@\S*jit\(.*cache\s*=\s*True", re.MULTILINE)


def cache_dir() -> Path | None:
    """``$NUMBA_CACHE_DIR``, or ``None`` when numba caches beside the package."""
    d = os.environ.get("NUMBA_CACHE_DIR")
    return Path(d) if d else None


def kernel_sources() -> list[Path]:
    """The modules that define cached numba kernels (a ``cache=True`` decorator)."""
    return sorted(p for pkg in PACKAGES for p in (_ROOT / pkg).rglob("*.py")
                  if "__pycache__" not in p.parts and _CACHED_KERNEL.search(p.read_text(errors="replace")))


def locate(source: Path) -> tuple[str, Path] | None:
    """(kind, directory) where numba caches the kernels of ``source``, asking numba's own locators in
    numba's order: ``NUMBA_CACHE_DIR``, beside the package, the home directory; ``None``: nowhere
    writable (numba then compiles in every process)."""
    from numba.core.caching import CacheImpl

    kinds = {"UserProvidedCacheLocator": "NUMBA_CACHE_DIR", "InTreeCacheLocator": "beside the package",
             "UserWideCacheLocator": "the home directory"}
    for cls in CacheImpl._locator_classes:
        loc = cls.from_function(locate, str(source))  # only the function's line number is read
        if loc is not None:
            return kinds.get(cls.__name__, cls.__name__), Path(loc.get_cache_path())
    return None


def cached_kernels(directory: Path | None = None) -> int:
    """Number of kernels with a cache index (``.nbi``) in ``directory`` (default: where numba caches now)."""
    d = directory if directory is not None else cache_dir()
    if d is not None:
        return sum(1 for _ in d.rglob("*.nbi")) if d.is_dir() else 0
    dirs = {found[1] for found in map(locate, kernel_sources()) if found is not None}
    return sum(1 for p in dirs for _ in p.glob("*.nbi"))


def ensure_cache() -> None:
    """Where numba can cache nowhere (``NUMBA_CACHE_DIR`` unset, package directory and home read-only), give
    this process a temporary cache, removed at exit: numba would otherwise refuse to import the kernels
    ("cannot cache function ...: no locator available"). Call it before importing them."""
    global _FALLBACK
    if _FALLBACK is not None or cache_dir() is not None:
        return
    sources = kernel_sources()
    if sources and locate(sources[0]) is None:
        import numba

        tmp = tempfile.mkdtemp(prefix="numba-cache-")
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        os.environ["NUMBA_CACHE_DIR"] = numba.config.CACHE_DIR = _FALLBACK = tmp


def announce(log: logging.Logger) -> None:
    """Log where the kernels are cached and, when none are, that this job compiles them first (on a cluster
    node without the production's cache every job pays it; a warning where they can be cached nowhere, not
    even for the next job); :func:`ensure_cache` first."""
    ensure_cache()
    if _FALLBACK is not None:
        log.warning("numba kernels: nowhere to cache them (NUMBA_CACHE_DIR unset, package directory and home not "
                    "writable): compiling them into %s for this job only (~25-40 s CPU), as every job will; set "
                    "NUMBA_CACHE_DIR to a cache warmed by warm-kernels (docs/cluster.md)", _FALLBACK)
        return
    if cache_dir() is not None:
        kind, where, n = "NUMBA_CACHE_DIR", str(cache_dir()), cached_kernels()
    else:
        found = locate(kernel_sources()[0])
        kind, n = found[0], cached_kernels()
        where = f"{_ROOT}/*/__pycache__ ({kind})" if kind == "beside the package" else f"{found[1].parent} ({kind})"
    if n:
        log.info("numba kernels: %d cached in %s", n, where)
        return
    hint = ("" if kind == "NUMBA_CACHE_DIR" else
            "; NUMBA_CACHE_DIR is unset: set it to a cache warmed by warm-kernels to share them (docs/cluster.md)")
    log.info("numba kernels: none cached in %s: compiling them first (~25-40 s CPU), into that cache%s", where, hint)
