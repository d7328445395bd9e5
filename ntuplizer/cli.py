"""``ntuplize``: Delphes-format files -> one JetClass-II jet ntuple."""
from __future__ import annotations

import logging
import sys

from jetclass2 import delphes_tree
from jetclass2.atomic import OutputError, Terminated, raise_on_sigterm
from jetclass2.cliargs import ArgumentParser, UsageError, check_paths, integer, number, report
from jetclass2.logs import setup_cli_logging
from jetclass2.numba_cache import ensure_cache
from jetclass2.resources import resource

log = logging.getLogger("ntuplize")


def main(argv=None) -> int:
    ap = ArgumentParser(prog="ntuplize", description=__doc__.split(":", 1)[1].strip())
    ap.add_argument("inputs", nargs="+", help="Delphes-format ROOT files (tree 'Delphes')")
    ap.add_argument("-o", "--output", required=True, help="output file (.root TTree 'tree', or .parquet)")
    ap.add_argument("--jet-radius", type=number(above=0), default=None,
                    help="anti-kT radius, one with clustering settings in the config (0.8 or 1.5; default from config: 0.8)")
    ap.add_argument("--qcd-labels", action="store_true", help="assign QCD labels to jets without a resonance label")
    ap.add_argument("--format", choices=["root", "parquet"], default=None, help="output format (default: from the file suffix)")
    ap.add_argument("--min-jet-pt", type=number(minimum=0), default=None, help="jet pT threshold [GeV] (default from config)")
    ap.add_argument("--max-jet-abs-eta", type=number(above=0), default=None, help="jet |eta| limit (default from config)")
    ap.add_argument("--config", default=None, help=f"ntuplizer settings YAML (default {resource('config/ntuplizer.yaml')})")
    ap.add_argument("--chunk", type=integer(minimum=1), default=1000, help="events per processing chunk (memory bound)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    setup_cli_logging(args.quiet)
    ensure_cache()  # before the kernels' modules are imported: where numba can cache nowhere, it fails there
    from . import core

    fmt = args.format or ("parquet" if args.output.endswith(".parquet") else "root")
    try:
        with raise_on_sigterm():  # temporary files are removed on SIGTERM too
            check_paths(inputs=[("input", i) for i in args.inputs] + [("--config", args.config)],
                        outputs=[("-o", args.output)])
            settings = core.Settings.from_config(args.config, jet_radius=args.jet_radius, qcd_labels=args.qcd_labels,
                                                 min_jet_pt=args.min_jet_pt, max_jet_abs_eta=args.max_jet_abs_eta)
            summary = core.ntuplize(args.inputs, args.output, settings=settings, fmt=fmt, step=args.chunk)
    except (delphes_tree.DelphesInputError, core.SettingsError, OutputError, UsageError) as exc:
        return report("ntuplize", exc)
    except Terminated as exc:
        print(f"ntuplize: error: terminated by SIGTERM; {args.output} not written", file=sys.stderr)
        return exc.code
    print(f"ntuplize: {summary.jets} jets from {summary.events} events -> {args.output} "
          f"({summary.seconds:.1f} s, {summary.jets / max(summary.seconds, 1e-9):.0f} jets/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
