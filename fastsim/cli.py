"""``fastsim``: re-simulate the generator record of a Delphes-format file with the fast detector simulation."""
from __future__ import annotations

import argparse
import logging
import sys

import awkward as ak

from jetclass2.logs import setup_cli_logging


def resimulate(input_path, output_path, simulator, batch: int = 100, entry_stop: int | None = None) -> None:
    """Re-simulate the ``Particle`` record of a Delphes-format file into a new Delphes-format file.

    The stored record sits at its old primary vertex (``Vertex[0]``); it is moved back to the
    origin before the simulation draws a new one. Raises ``DelphesInputError`` for unreadable
    input or missing branches.
    """
    from fastsim.detector import recentre
    from jetclass2.delphes_tree import COLLECTIONS, DelphesInputError, DelphesWriter, open_tree

    tree = open_tree(input_path)
    fields = list(COLLECTIONS["Particle"])
    missing = [f"Particle.{f}" for f in fields if f"Particle.{f}" not in tree]
    if missing:
        raise DelphesInputError(f"{input_path}: missing branch(es) {', '.join(missing)}")
    has_vertex = "Vertex.Z" in tree and "Vertex.T" in tree
    branches = [f"Particle.{f}" for f in fields] + (["Vertex.Z", "Vertex.T"] if has_vertex else [])
    with DelphesWriter(output_path) as w:
        for chunk in tree.iterate(branches, step_size=batch, entry_stop=entry_stop):
            particles = ak.zip({f: chunk[f"Particle.{f}"] for f in fields})
            if has_vertex:
                particles = recentre(particles, ak.fill_none(ak.firsts(chunk["Vertex.Z"]), 0),
                                     ak.fill_none(ak.firsts(chunk["Vertex.T"]), 0))
            w.extend(simulator.process(particles))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="fastsim", description=__doc__.split(":", 1)[1].strip())
    ap.add_argument("input", help="Delphes-format file with a Particle branch")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--pileup-library", default=None, help="minimum-bias library (default: built once, cached in $JETCLASS2_CACHE or ~/.cache/jetclass2)")
    ap.add_argument("--pileup", type=float, default=None, help="mean pile-up (default from the card: 50)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--card", default=None, help="fast-simulation card (YAML)")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    setup_cli_logging(args.quiet)
    from fastsim.detector import SimulationInputError, Simulator, load_card
    from generation.pileup_library import PileupLibraryError, default_pileup_library
    from jetclass2.delphes_tree import DelphesInputError

    try:
        card = load_card(args.card)
        mean = card["pileup"]["mean"] if args.pileup is None else args.pileup
        lib = args.pileup_library
        if lib is None and mean > 0:
            lib = default_pileup_library(card["pileup"]["library_events"])
            logging.getLogger("fastsim").info("using cached pile-up library %s", lib)
        sim = Simulator(card, lib, mean_pileup=mean, seed=args.seed)
        resimulate(args.input, args.output, sim, batch=args.batch)
    except (DelphesInputError, SimulationInputError, PileupLibraryError) as exc:
        print(f"fastsim: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
