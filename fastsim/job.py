"""``generate``: one embedded production job, Pythia 8 generation and the fast detector simulation
in one process, written as a Delphes-format file (the generator record alone with ``--detector none``)."""
from __future__ import annotations

import argparse
import logging
import sys
import time

from generation import samples
from generation.pileup_library import PileupLibraryError, default_pileup_library
from generation.pythia_driver import GenerationError, PythiaGenerator
from jetclass2.delphes_tree import DelphesWriter
from jetclass2.logs import setup_cli_logging

log = logging.getLogger("generate")


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
    setup_cli_logging(args.quiet)
    from fastsim.detector import Simulator, load_card

    try:
        cfg = samples.load_config(args.samples_config)
        if args.events < 0:
            raise samples.GenerationConfigError(f"number of events must be >= 0, got {args.events}")
        point = samples.validate_point(cfg, samples.grid_point_for_job(cfg, args.sample, args.job, args.seed, args.min_pt))
        seed = samples.job_seed(args.seed, args.sample, args.job, "pythia")
        simulator = None
        if args.detector == "fastsim":
            card = load_card(args.detector_card)
            lib = args.pileup_library
            mean = card["pileup"]["mean"] if args.pileup_mean is None else args.pileup_mean
            if lib is None and mean > 0:
                lib = default_pileup_library(card["pileup"]["library_events"])
            simulator = Simulator(card, lib, mean_pileup=mean, seed=samples.job_seed(args.seed, args.sample, args.job, "detector"))
        log.info("job %d: %s, %d events, Pythia seed %d", args.job, point.describe(), args.events, seed)
        gen = PythiaGenerator(samples.pythia_commands(cfg, point, seed), relabel=samples.RELABEL.get(args.sample))
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


if __name__ == "__main__":
    sys.exit(main())
