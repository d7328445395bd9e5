"""Minimum-bias pile-up library: Pythia ``SoftQCD:inelastic`` final-state particles, stored once.

The detector simulation overlays events drawn from it (``jetclass2.fastsim.detector``).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import awkward as ak

from jetclass2.atomic import atomic_output

from .pythia_driver import PythiaGenerator
from .samples import job_seed, load_config, render_card

log = logging.getLogger(__name__)

DEFAULT_LIBRARY_EVENTS = 2000


class PileupLibraryError(RuntimeError):
    """A pile-up library that is missing, unreadable or too small."""


def build_pileup_library(path: str | os.PathLike, n_events: int, seed: int, samples_config=None) -> Path:
    """Generate ``n_events`` minimum-bias events and write them (final-state particles) to ``path``."""
    if n_events <= 0:
        raise PileupLibraryError(f"{path}: the pile-up library needs a positive number of events, got {n_events}")
    cfg = load_config(samples_config)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    values = {"sqrt_s": cfg["sqrt_s_gev"], "seed": job_seed(seed, "pileup", 0)}
    commands = render_card("cards/pythia/common.cmnd", values) + render_card(cfg["pileup"]["pythia_card"], values)
    gen = PythiaGenerator(commands, final_only=True)
    log.info("building pile-up library %s: %d minimum-bias events (seed %d)", path, n_events, seed)
    events = ak.concatenate(list(gen.generate(n_events, batch_size=500, progress_every=1000)))
    with atomic_output(path) as tmp:
        ak.to_parquet(events, tmp)
    return path


def load_pileup_library(path: str | os.PathLike, min_events: int = 1) -> ak.Array:
    """Read a pile-up library; fail clearly if it is missing, unreadable or has fewer than ``min_events``."""
    path = Path(path)
    if not path.exists():
        raise PileupLibraryError(f"{path}: pile-up library not found (build one with `pileup-library -o {path}`)")
    try:
        events = ak.from_parquet(path)
    except Exception as exc:
        raise PileupLibraryError(f"{path}: cannot read pile-up library ({type(exc).__name__}: {exc})") from exc
    if len(events) < min_events:
        raise PileupLibraryError(f"{path}: pile-up library has {len(events)} events, at least {min_events} needed")
    return events


def cache_dir() -> Path:
    """Where default libraries are cached: ``$JETCLASS2_CACHE`` or ``~/.cache/jetclass2``."""
    return Path(os.environ.get("JETCLASS2_CACHE", Path.home() / ".cache" / "jetclass2"))


def default_pileup_library(n_events: int = DEFAULT_LIBRARY_EVENTS, seed: int = 1) -> Path:
    """Path of the cached default library, built on first use."""
    path = cache_dir() / f"minbias_{n_events}_seed{seed}.parquet"
    if not path.exists():
        log.info("no cached pile-up library: building %s once", path)
        build_pileup_library(path, n_events, seed)
    return path
