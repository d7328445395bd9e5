"""``fastsim``: re-simulate the generator record of a Delphes-format file with the fast detector simulation."""
from __future__ import annotations

import logging
import sys

from jetclass2.atomic import OutputError, Terminated, raise_on_sigterm
from jetclass2.cliargs import ArgumentParser, UsageError, check_paths, integer, number, report
from jetclass2.logs import setup_cli_logging


def resimulate(input_path, output_path, simulator, batch: int = 100, entry_stop: int | None = None,
               on_batch=None) -> None:
    """Re-simulate the ``Particle`` record of a Delphes-format file into a new Delphes-format file.

    The stored record sits at its old primary vertex (``Vertex[0]``); it is moved back to the
    origin before the simulation draws a new one. ``on_batch(n_events)`` is called after each
    batch is written (benchmarks time the steady state with it). Raises ``DelphesInputError`` for
    unreadable input, missing branches or non-finite values, ``OutputError`` for an output that
    cannot be written.
    """
    from jetclass2.delphes_tree import DelphesWriter, iterate_particles, open_tree
    from jetclass2.fastsim.detector import recentre

    tree = open_tree(input_path)
    with DelphesWriter(output_path) as w:
        for particles, pv_z, pv_t in iterate_particles(input_path, step=batch, entry_stop=entry_stop, tree=tree):
            if pv_z is not None:
                particles = recentre(particles, pv_z, pv_t)
            w.extend(simulator.process(particles))
            if on_batch is not None:
                on_batch(len(particles))


def main(argv=None) -> int:
    ap = ArgumentParser(prog="fastsim", description=__doc__.split(":", 1)[1].strip())
    ap.add_argument("input", help="Delphes-format file with a Particle branch")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--pileup-library", default=None, help="minimum-bias library (default: built once, cached in $JETCLASS2_CACHE or ~/.cache/jetclass2)")
    ap.add_argument("--pileup", type=number(minimum=0), default=None, help="mean pile-up (default from the card: 50)")
    ap.add_argument("--seed", type=integer(minimum=0), default=1)
    ap.add_argument("--card", default=None, help="fast-simulation card (YAML)")
    ap.add_argument("--batch", type=integer(minimum=1), default=100)
    ap.add_argument("--charged-eta", choices=["calorimeter_hit", "momentum"], default=None,
                    help="what ParticleFlowCandidate.Eta of charged candidates holds: the calorimeter-hit eta "
                         "(Delphes 3.5.0, the JetClass-II reference) or the momentum eta (later Delphes); "
                         "default from the card (calorimeter_hit). CtgTheta always holds the momentum direction")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    setup_cli_logging(args.quiet)
    from jetclass2.delphes_tree import DelphesInputError
    from jetclass2.fastsim.detector import SimulationInputError, Simulator, load_card
    from jetclass2.generation.pileup_library import PileupLibraryError, default_pileup_library

    try:
        with raise_on_sigterm():  # temporary files are removed on SIGTERM too
            check_paths(inputs=[("input", args.input), ("--card", args.card), ("--pileup-library", args.pileup_library)],
                        outputs=[("-o", args.output)])
            card = load_card(args.card)
            mean = card["pileup"]["mean"] if args.pileup is None else args.pileup
            lib = args.pileup_library
            if lib is None and mean > 0:
                lib = default_pileup_library(card["pileup"]["library_events"])
                logging.getLogger("fastsim").info("using cached pile-up library %s", lib)
            sim = Simulator(card, lib, mean_pileup=mean, seed=args.seed, charged_eta=args.charged_eta)
            resimulate(args.input, args.output, sim, batch=args.batch)
    except (DelphesInputError, SimulationInputError, PileupLibraryError, OutputError, UsageError) as exc:
        return report("fastsim", exc)
    except Terminated as exc:
        print(f"fastsim: error: terminated by SIGTERM; {args.output} not written", file=sys.stderr)
        return exc.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
