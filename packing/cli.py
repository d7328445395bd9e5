"""``pack``: jet ntuples of one category -> shuffled dataset files, tarballs and a manifest."""
from __future__ import annotations

import argparse
import sys

from jetclass2.logs import setup_cli_logging

from .pack import PackingError, pack_category


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="pack", description=__doc__.split(":", 1)[1].strip())
    ap.add_argument("--category", required=True, help="Res2P, Res34P or QCD (file name prefix)")
    ap.add_argument("--inputs", nargs="+", required=True, help="jet ntuples (ROOT, tree 'tree')")
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--jets-per-file", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--split", type=int, nargs=3, default=[4, 1, 1], metavar=("TRAIN", "VAL", "TEST"))
    ap.add_argument("--files-per-tarball", type=int, default=10)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    setup_cli_logging(args.quiet)
    try:
        m = pack_category(args.category, args.inputs, args.outdir, args.jets_per_file, args.seed,
                          tuple(args.split), args.files_per_tarball)
    except PackingError as exc:
        print(f"pack: error: {exc}", file=sys.stderr)
        return 2
    print(f"pack: {m['jets']} {args.category} jets -> {len(m['files'])} files, {len(m['tarballs'])} tarballs in {args.outdir}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
