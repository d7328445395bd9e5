"""Console scripts of the packing stage.

pack            jet ntuples of one category -> shuffled dataset files, tarballs and a manifest (one process)
pack-plan       the plan of a category (workflow: checkpoint)
pack-scatter    one scatter job (one group of ntuples -> one shard)
pack-gather     one gather job (shards -> one dataset file)
pack-tarball    one tarball of consecutive dataset files
pack-finalize   manifest, conservation check and atomic swap into the dataset directory
verify-dataset  check every file of a dataset against its manifest

Every error is one line naming the file and the problem, exit status 2; SIGTERM removes the
temporary files of the interrupted job (exit status 143).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jetclass2.atomic import atomic_output
from jetclass2.cliargs import ArgumentParser, UsageError, check_paths, inside, integer, report
from jetclass2.logs import setup_cli_logging

from .categories import CategoryError
from .fileio import FORMATS, PackingError
from .safety import Terminated, install_signal_handlers


def _run(prog: str, fn, args) -> int:
    import pyarrow

    # the system allocator returns freed Arrow buffers at once (mimalloc keeps them): lower peak memory
    pyarrow.set_memory_pool(pyarrow.system_memory_pool())
    install_signal_handlers()
    setup_cli_logging(getattr(args, "quiet", False))
    try:
        return fn(args) or 0
    except (PackingError, CategoryError, UsageError, OSError) as exc:
        return report(prog, exc)
    except Terminated as exc:
        print(f"{prog}: terminated, temporary files removed", file=sys.stderr)
        return int(exc.code)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted, temporary files removed", file=sys.stderr)
        return 130


_positive, _nonnegative = integer(minimum=1), integer(minimum=0)


def _sample_split(text: str) -> tuple[str, list[int]]:
    """An argparse type: ``SAMPLE=TRAIN,VAL,TEST`` (three integers >= 0)."""
    name, _, weights = text.partition("=")
    try:
        values = [int(w) for w in weights.split(",")]
    except ValueError:
        values = []
    if not name or len(values) != 3 or any(v < 0 for v in values) or not sum(values):
        raise argparse.ArgumentTypeError(f"expected SAMPLE=TRAIN,VAL,TEST (integers >= 0, not all 0), got {text!r}")
    return name, values


def _plan_options(ap: ArgumentParser) -> None:
    ap.add_argument("--category", required=True, help="Res2P, Res34P or QCD (a category of the samples configuration)")
    ap.add_argument("--inputs", nargs="+", required=True, help="jet ntuples (ROOT, tree 'tree')")
    ap.add_argument("--jets-per-file", type=_positive, default=100_000)
    ap.add_argument("--seed", type=_nonnegative, default=1)
    ap.add_argument("--split", type=_nonnegative, nargs=3, default=[4, 1, 1], metavar=("TRAIN", "VAL", "TEST"))
    ap.add_argument("--sample-split", action="append", default=[], type=_sample_split, metavar="SAMPLE=TRAIN,VAL,TEST",
                    help="a sample's own train:val:test weights over its jobs (repeatable; default: --split)")
    ap.add_argument("--files-per-tarball", type=_positive, default=10)
    ap.add_argument("--format", choices=FORMATS, default="root", help="dataset file format (parquet: the published release's)")
    ap.add_argument("--compression", choices=["lz4", "zlib", "zstd", "none"], default="lz4", help="ROOT basket compression")
    ap.add_argument("--ntuples-per-scatter", type=_positive, default=1, help="ntuples read by one scatter job")
    ap.add_argument("--chunk", type=_positive, default=50_000, help="jets read at once by a scatter job (memory bound)")
    ap.add_argument("--jets-per-basket", type=_positive, default=10_000,
                    help="jets per ROOT basket of the packed files (the least a reader fetches)")
    ap.add_argument("--samples-config", default=None, help="samples configuration naming the categories (default: shipped)")


def main(argv=None) -> int:
    ap = ArgumentParser(prog="pack", description="Jet ntuples of one category -> shuffled dataset files, "
                                 "tarballs and a manifest; the previous dataset of the category stays until the new one is checked.")
    _plan_options(ap)
    ap.add_argument("--outdir", required=True)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)

    def run(a):
        from .pack import pack_category

        check_paths(inputs=_plan_inputs(a), output_dirs=[("--outdir", a.outdir)])

        m = pack_category(a.category, a.inputs, a.outdir, a.jets_per_file, a.seed, tuple(a.split), a.files_per_tarball,
                          fmt=a.format, compression=a.compression, ntuples_per_scatter=a.ntuples_per_scatter,
                          chunk=a.chunk, samples_config=a.samples_config, basket=a.jets_per_basket,
                          sample_split=dict(a.sample_split))
        print(f"pack: {m['jets']} {a.category} jets -> {len(m['files'])} files, {len(m['tarballs'])} tarballs in {a.outdir}",
              file=sys.stderr)

    return _run("pack", run, args)


def plan_main(argv=None) -> int:
    ap = ArgumentParser(prog="pack-plan", description="Check the ntuples of a category and fix where every jet goes.")
    _plan_options(ap)
    ap.add_argument("-o", "--output", required=True, help="plan (JSON)")
    ap.add_argument("--jobs", type=_positive, default=4, help="ntuples read at once")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)

    def run(a):
        from .plan import make_plan, save_plan

        check_paths(inputs=_plan_inputs(a), outputs=[("-o", a.output)])

        plan = make_plan(a.category, a.inputs, jets_per_file=a.jets_per_file, seed=a.seed, split=list(a.split),
                         files_per_tarball=a.files_per_tarball, ntuples_per_scatter=a.ntuples_per_scatter, fmt=a.format,
                         compression=a.compression, chunk=a.chunk, samples_config=a.samples_config, threads=a.jobs,
                         basket=a.jets_per_basket, sample_split=dict(a.sample_split))
        save_plan(plan, a.output)
        print(f"pack-plan: {a.category}: {plan['jets']} jets from {len(plan['inputs'])} ntuples -> "
              f"{len(plan['groups'])} scatter jobs, {plan['n_files']} files", file=sys.stderr)

    return _run("pack-plan", run, args)


def _plan_inputs(a) -> list:
    return [("--inputs", i) for i in a.inputs] + [("--samples-config", a.samples_config)]


def _plan_job(prog: str, description: str, argv, options, job) -> int:
    """The console scripts that run one job of a plan: ``prog PLAN OPTIONS [-q]``; ``options(ap)``
    adds the job's own options, ``job(plan, args)`` runs it with the loaded plan."""
    ap = ArgumentParser(prog=prog, description=description)
    ap.add_argument("plan")
    options(ap)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)

    def run(a):
        from .plan import load_plan

        check_paths(inputs=[("plan", a.plan)], outputs=[("-o", getattr(a, "output", None))])
        return job(load_plan(a.plan), a)

    return _run(prog, run, args)


def _in_plan(number: int, items: list, what: str) -> None:
    if number >= len(items):
        raise PackingError(f"{what} {number} not in the plan ({len(items)} {what}s)")


def scatter_main(argv=None) -> int:
    def options(ap):
        ap.add_argument("--group", type=_nonnegative, required=True)
        ap.add_argument("-o", "--output", required=True, help="shard (Arrow IPC)")

    def job(plan, a):
        from .mapreduce import scatter

        scatter(plan, a.group, a.output)

    return _plan_job("pack-scatter", "One scatter job: a group of ntuples -> one shard.", argv, options, job)


def gather_main(argv=None) -> int:
    def options(ap):
        ap.add_argument("--index", type=_nonnegative, required=True)
        ap.add_argument("--shard-dir", required=True)
        ap.add_argument("-o", "--output", required=True, help="dataset file (a JSON summary is written beside it)")

    def job(plan, a):
        from .mapreduce import gather

        if a.index < plan["n_files"] and Path(a.output).name != plan["files"][a.index]:
            raise PackingError(f"{a.output}: file {a.index} of the plan is named {plan['files'][a.index]}")
        gather(plan, a.index, a.shard_dir, a.output)

    return _plan_job("pack-gather", "One gather job: its jets of every shard -> one shuffled dataset file.", argv, options, job)


def tarball_main(argv=None) -> int:
    def options(ap):
        ap.add_argument("--number", type=_nonnegative, required=True, help="tarball number in the plan")
        ap.add_argument("--files-dir", required=True)
        ap.add_argument("-o", "--output", required=True)

    def job(plan, a):
        from .mapreduce import tarball

        _in_plan(a.number, plan["tarballs"], "tarball")
        tarball(plan, a.number, a.files_dir, a.output)

    return _plan_job("pack-tarball", "One tarball of consecutive dataset files.", argv, options, job)


def finalize_main(argv=None) -> int:
    def options(ap):
        ap.add_argument("--work", required=True, help="folder with files/ and tar/ of the gather and tarball jobs")
        ap.add_argument("--outdir", required=True, help="dataset directory")
        ap.add_argument("--jobs", type=_positive, default=2, help="threads hashing files")

    def job(plan, a):
        from .store import finalize

        if inside(a.work, a.outdir) or inside(a.outdir, a.work):
            raise UsageError(f"{a.outdir}: --outdir and --work {a.work} overlap (the work area is removed)")
        check_paths(inputs=[("plan", a.plan)], output_dirs=[("--outdir", a.outdir)])
        m = finalize(plan, a.work, a.outdir, jobs=a.jobs)
        print(f"pack-finalize: {m['category']}: {m['jets']} jets in {len(m['files'])} files live in {a.outdir}", file=sys.stderr)

    return _plan_job("pack-finalize", "Manifest, conservation check, atomic swap into the dataset directory.", argv,
                     options, job)


def verify_main(argv=None) -> int:
    ap = ArgumentParser(prog="verify-dataset", description="Check every file of a dataset against its manifest "
                                 "(size, SHA-256, jet and label counts; --content: the arrays' hash). Exit 2 naming each wrong file.")
    ap.add_argument("dataset_dir")
    ap.add_argument("--categories", nargs="+", default=None, help="default: every manifest in the directory")
    ap.add_argument("--content", action="store_true", help="also recompute the content hash of every file (reads all jets)")
    ap.add_argument("--jobs", type=_positive, default=2, help="threads hashing files")
    ap.add_argument("--stamp", help="write a verification stamp (JSON) here when everything is right")
    ap.add_argument("--since", nargs="+", default=[], help="stamps of earlier verifications: skip the SHA-256 of files unchanged since")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)

    def run(a):
        from .store import verify_dataset

        check_paths(inputs=[("--since", s) for s in a.since])
        if a.stamp and Path(a.stamp).parent.resolve() == Path(a.dataset_dir).resolve() and Path(a.stamp).exists():
            raise UsageError(f"{a.stamp}: --stamp would overwrite a file of the dataset")
        since = {}
        for path in a.since:
            try:
                since.update(json.loads(Path(path).read_text()))
            except (OSError, ValueError):
                pass  # no usable stamp: those files are hashed again
        problems, stamps = verify_dataset(a.dataset_dir, a.categories, content=a.content, jobs=a.jobs, since=since)
        if not stamps and not problems:
            raise PackingError(f"{a.dataset_dir}: no manifest found")
        if problems:
            for p in problems:
                print(f"verify-dataset: error: {p}", file=sys.stderr)
            return 2
        if a.stamp:
            with atomic_output(a.stamp) as tmp:
                tmp.write_text(json.dumps(stamps, indent=1, sort_keys=True) + "\n")
        print(f"verify-dataset: {', '.join(stamps)}: every file matches its manifest", file=sys.stderr)

    return _run("verify-dataset", run, args)


if __name__ == "__main__":
    sys.exit(main())
