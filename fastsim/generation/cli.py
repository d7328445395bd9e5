"""Command lines of the embedded generation: ``generate``, ``pileup-library``, ``render-cards``."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from . import samples
from .pileup import DEFAULT_LIBRARY_EVENTS, PileupLibraryError, build_pileup_library, default_pileup_library
from .pythia_driver import GenerationError, PythiaGenerator

log = logging.getLogger("generate")

RELABEL = {"Res2P_charged": {24: 37}}  # see cards/pythia/res2p_charged.cmnd


def _logging(quiet: bool) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")


def main(argv=None) -> int:
    """generate: one job of a sample -> a Delphes-format file (Pythia 8 + fast detector simulation)."""
    ap = argparse.ArgumentParser(prog="generate", description=main.__doc__.split(":", 1)[1].strip())
    ap.add_argument("--sample", required=True, help="Res2P_neutral, Res2P_charged, Res34P or QCD")
    ap.add_argument("--job", type=int, required=True, help="job index (selects the grid point and seeds)")
    ap.add_argument("--events", type=int, required=True, help="number of events")
    ap.add_argument("--seed", type=int, default=1, help="production seed (config)")
    ap.add_argument("-o", "--output", required=True, help="output Delphes-format ROOT file")
    ap.add_argument("--samples-config", default=None, help=f"default {samples.DEFAULT_SAMPLES_CONFIG}")
    ap.add_argument("--detector", choices=["fastsim", "none"], default="fastsim")
    ap.add_argument("--detector-card", default=None, help="fast-simulation card (YAML)")
    ap.add_argument("--pileup-library", default=None, help="minimum-bias library (default: built once, cached in $JETCLASS2_CACHE or ~/.cache/jetclass2)")
    ap.add_argument("--pileup-mean", type=float, default=None, help="mean pile-up (default from the card)")
    ap.add_argument("--min-pt", type=float, default=None, help="draw only grid points with pT_min >= this [GeV]")
    ap.add_argument("--batch", type=int, default=100, help="events per simulation/write batch")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    _logging(args.quiet)
    try:
        cfg = samples.load_config(args.samples_config)
        if args.events < 0:
            raise samples.GenerationConfigError(f"number of events must be >= 0, got {args.events}")
        point = samples.validate_point(cfg, samples.grid_point_for_job(cfg, args.sample, args.job, args.seed, args.min_pt))
        seed = samples.job_seed(args.seed, args.sample, args.job, "pythia")
        simulator = None
        if args.detector == "fastsim":
            from fastsim.detector import Simulator, load_card

            card = load_card(args.detector_card)
            lib = args.pileup_library
            mean = card["pileup"]["mean"] if args.pileup_mean is None else args.pileup_mean
            if lib is None and mean > 0:
                lib = default_pileup_library(card["pileup"]["library_events"])
            simulator = Simulator(card, lib, mean_pileup=mean, seed=samples.job_seed(args.seed, args.sample, args.job, "detector"))
        log.info("job %d: %s, %d events, Pythia seed %d", args.job, point.describe(), args.events, seed)
        gen = PythiaGenerator(samples.pythia_commands(cfg, point, seed), relabel=RELABEL.get(args.sample))
        from fastsim.delphes_format import DelphesWriter

        t0 = time.perf_counter()
        with DelphesWriter(args.output) as writer:
            for batch in gen.generate(args.events, batch_size=args.batch):
                writer.extend(simulator.process(batch) if simulator else {"Particle": batch})
        dt = time.perf_counter() - t0
    except (samples.GenerationConfigError, GenerationError, PileupLibraryError, ValueError) as exc:
        print(f"generate: error: {exc}", file=sys.stderr)
        return 2
    print(f"generate: {args.events} events of {point.describe()} -> {args.output} ({dt:.1f} s)", file=sys.stderr)
    return 0


def pileup_main(argv=None) -> int:
    """pileup-library: generate the minimum-bias library used for pile-up."""
    ap = argparse.ArgumentParser(prog="pileup-library", description=pileup_main.__doc__.split(":", 1)[1].strip())
    ap.add_argument("--events", type=int, default=DEFAULT_LIBRARY_EVENTS)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--samples-config", default=None)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    _logging(args.quiet)
    try:
        build_pileup_library(args.output, args.events, args.seed, args.samples_config)
    except (PileupLibraryError, GenerationError) as exc:
        print(f"pileup-library: error: {exc}", file=sys.stderr)
        return 2
    return 0


def render_cards_main(argv=None) -> int:
    """render-cards: MadGraph and Pythia cards of one job, for the container path."""
    from .madgraph import render_job_cards

    ap = argparse.ArgumentParser(prog="render-cards", description=render_cards_main.__doc__.split(":", 1)[1].strip())
    ap.add_argument("--sample", required=True)
    ap.add_argument("--job", type=int, required=True)
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--outdir", required=True)
    ap.add_argument("--samples-config", default=None)
    args = ap.parse_args(argv)
    try:
        files = render_job_cards(args.sample, args.job, args.events, args.seed, Path(args.outdir), args.samples_config)
    except samples.GenerationConfigError as exc:
        print(f"render-cards: error: {exc}", file=sys.stderr)
        return 2
    for f in files:
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
