"""Command lines of the generation stage: ``pileup-library``, ``render-cards``."""
from __future__ import annotations

from pathlib import Path

from jetclass2.atomic import check_output_path
from jetclass2.cliargs import ArgumentParser, UsageError, check_paths, integer, report
from jetclass2.logs import setup_cli_logging

from . import samples
from .pileup_library import DEFAULT_LIBRARY_EVENTS, PileupLibraryError, build_pileup_library
from .pythia_driver import GenerationError


def pileup_main(argv=None) -> int:
    """pileup-library: generate the minimum-bias library used for pile-up."""
    ap = ArgumentParser(prog="pileup-library", description=pileup_main.__doc__.split(":", 1)[1].strip())
    ap.add_argument("--events", type=integer(minimum=1), default=DEFAULT_LIBRARY_EVENTS)
    ap.add_argument("--seed", type=integer(minimum=0), default=1)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--samples-config", default=None)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    setup_cli_logging(args.quiet)
    try:
        check_paths(inputs=[("--samples-config", args.samples_config)], outputs=[("-o", args.output)])
        check_output_path(args.output)  # before the generation, not after it
        build_pileup_library(args.output, args.events, args.seed, args.samples_config)
    except (PileupLibraryError, GenerationError, samples.GenerationConfigError, UsageError, OSError) as exc:
        return report("pileup-library", exc)
    return 0


def render_cards_main(argv=None) -> int:
    """render-cards: MadGraph and Pythia cards of one job, one set per grid point, for the container path."""
    from .madgraph import render_job_cards

    ap = ArgumentParser(prog="render-cards", description=render_cards_main.__doc__.split(":", 1)[1].strip())
    ap.add_argument("--sample", required=True)
    ap.add_argument("--job", type=integer(minimum=0), required=True)
    ap.add_argument("--events", type=integer(minimum=1), required=True)
    ap.add_argument("--seed", type=integer(minimum=0), default=1)
    ap.add_argument("-o", "--outdir", required=True)
    ap.add_argument("--samples-config", default=None)
    ap.add_argument("--events-per-grid-point", type=integer(minimum=1), default=None, help="events per grid point (default from the samples config)")
    ap.add_argument("--pdf", choices=["lhapdf", "builtin"], default=None, help="PDF sets (default from the samples config)")
    args = ap.parse_args(argv)
    try:
        check_paths(inputs=[("--samples-config", args.samples_config)], outputs=[("-o", args.outdir)])
        if Path(args.outdir).exists() and not Path(args.outdir).is_dir():
            raise UsageError(f"{args.outdir}: output directory -o is a file")
        files = render_job_cards(args.sample, args.job, args.events, args.seed, Path(args.outdir), args.samples_config,
                                 args.events_per_grid_point, args.pdf)
    except (samples.GenerationConfigError, UsageError, OSError) as exc:
        return report("render-cards", exc)
    for f in files:
        print(f)
    return 0
