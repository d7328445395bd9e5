"""Command lines of the generation stage: ``pileup-library``, ``render-cards``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jetclass2.logs import setup_cli_logging

from . import samples
from .pileup_library import DEFAULT_LIBRARY_EVENTS, PileupLibraryError, build_pileup_library
from .pythia_driver import GenerationError


def pileup_main(argv=None) -> int:
    """pileup-library: generate the minimum-bias library used for pile-up."""
    ap = argparse.ArgumentParser(prog="pileup-library", description=pileup_main.__doc__.split(":", 1)[1].strip())
    ap.add_argument("--events", type=int, default=DEFAULT_LIBRARY_EVENTS)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--samples-config", default=None)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    setup_cli_logging(args.quiet)
    try:
        build_pileup_library(args.output, args.events, args.seed, args.samples_config)
    except (PileupLibraryError, GenerationError) as exc:
        print(f"pileup-library: error: {exc}", file=sys.stderr)
        return 2
    return 0


def render_cards_main(argv=None) -> int:
    """render-cards: MadGraph and Pythia cards of one job, one set per grid point, for the container path."""
    from .madgraph import render_job_cards

    ap = argparse.ArgumentParser(prog="render-cards", description=render_cards_main.__doc__.split(":", 1)[1].strip())
    ap.add_argument("--sample", required=True)
    ap.add_argument("--job", type=int, required=True)
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--outdir", required=True)
    ap.add_argument("--samples-config", default=None)
    ap.add_argument("--events-per-grid-point", type=int, default=None, help="events per grid point (default from the samples config)")
    ap.add_argument("--pdf", choices=["lhapdf", "builtin"], default=None, help="PDF sets (default from the samples config)")
    args = ap.parse_args(argv)
    try:
        files = render_job_cards(args.sample, args.job, args.events, args.seed, Path(args.outdir), args.samples_config,
                                 args.events_per_grid_point, args.pdf)
    except samples.GenerationConfigError as exc:
        print(f"render-cards: error: {exc}", file=sys.stderr)
        return 2
    for f in files:
        print(f)
    return 0
