"""``generate``: one embedded production job, Pythia 8 generation and the fast detector simulation
in one process, written as a Delphes-format file (the generator record alone with ``--detector none``).

The job's events are split into batches of ``events_per_grid_point`` (config/samples.yaml, or
``--events-per-grid-point``), each with its own grid point and Pythia seed; a remainder forms a
last, smaller batch. The list of batches goes beside the output as ``<output>.gridpoints.json``;
``--list-grid-points`` prints it (one JSON object per batch) without generating.
"""
from __future__ import annotations

import json
import logging
import sys
import time

from jetclass2.atomic import check_output_path
from jetclass2.cliargs import ArgumentParser, UsageError, check_paths, integer, number, report
from jetclass2.delphes_tree import DelphesWriter
from jetclass2.generation import samples
from jetclass2.generation.pileup_library import PileupLibraryError, default_pileup_library
from jetclass2.generation.pythia_driver import GenerationError, PythiaGenerator
from jetclass2.logs import setup_cli_logging
from jetclass2.numba_cache import announce, ensure_cache

log = logging.getLogger("generate")


def main(argv=None) -> int:
    """generate: one job of a sample -> a Delphes-format file (Pythia 8 + fast detector simulation)."""
    ap = ArgumentParser(prog="generate", description=main.__doc__.split(":", 1)[1].strip())
    ap.add_argument("--sample", required=True, help="a sample of the samples config (Res2P_neutral, Res2P_charged, Res34P, QCD)")
    ap.add_argument("--job", type=integer(minimum=0), required=True, help="job index (selects the grid points and seeds)")
    ap.add_argument("--events", type=integer(minimum=0), required=True, help="number of events")
    ap.add_argument("--seed", type=integer(minimum=0), default=1, help="production seed (config)")
    ap.add_argument("-o", "--output", help="output Delphes-format ROOT file (grid points: OUTPUT.gridpoints.json)")
    ap.add_argument("--samples-config", default=None, help=f"default {samples.DEFAULT_SAMPLES_CONFIG}")
    ap.add_argument("--events-per-grid-point", type=integer(minimum=1), default=None, help="events per grid point (default from the samples config)")
    ap.add_argument("--list-grid-points", action="store_true", help="print the job's batches as JSON lines and exit")
    ap.add_argument("--detector", choices=["fastsim", "none"], default="fastsim")
    ap.add_argument("--detector-card", default=None, help="fast-simulation card (YAML)")
    ap.add_argument("--pileup-library", default=None, help="minimum-bias library (default: built once, cached in $JETCLASS2_CACHE or ~/.cache/jetclass2)")
    ap.add_argument("--pileup-mean", type=number(minimum=0), default=None, help="mean pile-up (default from the card)")
    ap.add_argument("--min-pt", type=number(minimum=0), default=None, help="draw only grid points with pT_min >= this [GeV]")
    ap.add_argument("--batch", type=integer(minimum=1), default=100, help="events per simulation/write chunk")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    setup_cli_logging(args.quiet)
    if not args.list_grid_points and not args.output:
        ap.error("the following arguments are required: -o/--output")

    try:
        if args.output:
            provenance = samples.provenance_path(args.output)
            check_paths(inputs=[("--samples-config", args.samples_config), ("--detector-card", args.detector_card),
                                ("--pileup-library", args.pileup_library)],
                        outputs=[("-o", args.output), ("-o (grid points)", provenance)])
            if not args.list_grid_points:
                check_output_path(args.output)
                check_output_path(provenance)
        cfg = samples.load_config(args.samples_config)
        batches = samples.job_batches(cfg, args.sample, args.job, args.events, args.seed, args.events_per_grid_point, args.min_pt)
        kind = samples.kind_of(cfg, args.sample)
        if args.list_grid_points:
            sys.stdout.write("".join(json.dumps(b.as_dict(kind)) + "\n" for b in batches))
            return 0
        if args.detector == "fastsim":
            ensure_cache()  # before the kernels' modules are imported: where numba can cache nowhere, it fails there
        simulator = _simulator(args) if args.detector == "fastsim" else None
        if simulator is not None:  # after the card and pile-up checks: a bad input still gives one line alone
            announce(log)  # a job that compiles the kernels says so (a cluster node without the shared cache)
        log.info("job %d of %s: %d events in %d grid points", args.job, args.sample, args.events, len(batches))
        t0 = time.perf_counter()
        gen = None
        with DelphesWriter(args.output) as writer:
            for b in batches:
                commands = samples.pythia_commands(cfg, b.point, b.pythia_seed)
                if gen is None:
                    gen = PythiaGenerator(commands, **samples.generator_options(cfg, args.sample))
                else:
                    gen.configure(commands)
                log.debug("batch %d: %d events of %s, Pythia seed %d", b.index, b.events, b.point.describe(), b.pythia_seed)
                for chunk in gen.generate(b.events, batch_size=args.batch, progress_every=0):
                    writer.extend(simulator.process(chunk) if simulator else {"Particle": chunk})
                if (b.index + 1) % 10 == 0:
                    log.info("%d/%d grid points done (%.1f events/s)", b.index + 1, len(batches),
                             sum(x.events for x in batches[:b.index + 1]) / (time.perf_counter() - t0))
        dt = time.perf_counter() - t0
        extra = {"events_per_grid_point": args.events_per_grid_point or cfg["events_per_grid_point"], "min_pt": args.min_pt}
        samples.write_provenance(samples.provenance_path(args.output),
                                 samples.provenance(cfg, args.sample, args.job, args.seed, batches, **extra))
    except (samples.GenerationConfigError, GenerationError, PileupLibraryError, UsageError, OSError, ValueError) as exc:
        return report("generate", exc)  # OSError: an output that cannot be written (full disk, no permission)
    init = f", Pythia initialisation {gen.time_init:.1f} CPU s" if gen else ""
    print(f"generate: {args.events} events of {args.sample} in {len(batches)} grid points -> {args.output} ({dt:.1f} s{init})",
          file=sys.stderr)
    return 0


def _simulator(args):
    from jetclass2.fastsim.detector import Simulator, load_card

    card = load_card(args.detector_card)
    lib = args.pileup_library
    mean = card["pileup"]["mean"] if args.pileup_mean is None else args.pileup_mean
    if lib is None and mean > 0:
        lib = default_pileup_library(card["pileup"]["library_events"])
    return Simulator(card, lib, mean_pileup=mean, seed=samples.job_seed(args.seed, args.sample, args.job, "detector"))


if __name__ == "__main__":
    sys.exit(main())
