"""warm-kernels: compile every numba kernel of the fast simulation and the ntuplizer into the cache once.

Runs the real code on a few events (a small minimum-bias library, ``generate`` with pile-up, then
``ntuplize``), so the kernels are compiled with exactly the argument types the production's jobs use
and land in ``$NUMBA_CACHE_DIR``; the workflow's ``warm_kernels`` rule runs it before any generation or
ntuplizer job (docs/architecture.md). The stamp written last records how many kernels are cached.
"""
from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jetclass2.atomic import atomic_output
from jetclass2.cliargs import ArgumentParser, UsageError, check_paths, report
from jetclass2.logs import setup_cli_logging
from jetclass2.numba_cache import announce, cache_dir, cached_kernels

log = logging.getLogger("warm-kernels")


def warm(workdir: Path, samples_config: str | None = None, detector_card: str | None = None) -> float:
    """Run pile-up library -> generate -> ntuplize on a few events in ``workdir``; return the CPU seconds."""
    t0 = time.process_time()
    common = [*(["--samples-config", samples_config] if samples_config else [])]
    steps = [
        ["pileup-library", "--events", "20", "--seed", "1", *common, "-o", str(workdir / "minbias.parquet")],
        ["generate", "--sample", "Res2P_neutral", "--job", "0", "--events", "3", "--seed", "1", *common,
         *(["--detector-card", detector_card] if detector_card else []), "--pileup-library", str(workdir / "minbias.parquet"),
         "--pileup-mean", "5", "-o", str(workdir / "delphes.root")],
        ["ntuplize", str(workdir / "delphes.root"), "-o", str(workdir / "jets.root"), "--qcd-labels"],
    ]
    for cmd in steps:
        log.info("compiling through: %s", " ".join(cmd[:2]))
        r = subprocess.run(cmd + ["-q"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {(r.stderr.strip().splitlines() or ['no message'])[-1]}")
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime + time.process_time() - t0


def main(argv=None) -> int:
    ap = ArgumentParser(prog="warm-kernels", description=__doc__.split(":", 1)[1].strip().split("\n\n")[0])
    ap.add_argument("-o", "--output", required=True, help="stamp written when the cache is warm")
    ap.add_argument("--samples-config", default=None)
    ap.add_argument("--detector-card", default=None)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    setup_cli_logging(args.quiet)
    announce(log)
    try:
        check_paths(inputs=[("--samples-config", args.samples_config), ("--detector-card", args.detector_card)],
                    outputs=[("-o", args.output)])
    except UsageError as exc:
        return report("warm-kernels", exc)
    try:
        with tempfile.TemporaryDirectory(prefix="warm-kernels-") as tmp:
            cpu = warm(Path(tmp), args.samples_config, args.detector_card)
        n = cached_kernels()
        with atomic_output(args.output) as tmp_out:
            Path(tmp_out).write_text(f"{n} numba kernels cached in {cache_dir() or 'the package'} ({cpu:.1f} s CPU)\n")
    except (RuntimeError, OSError) as exc:
        print(f"warm-kernels: error: {args.output}: {exc}", file=sys.stderr)
        return 2
    log.info("numba kernels: %d cached (%.1f s CPU)", n, cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
