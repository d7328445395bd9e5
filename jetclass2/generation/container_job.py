"""The container backend's job driver: MadGraph5_aMC@NLO -> Pythia 8 -> Delphes 3.5.0, natively or in the image.

``run-container-job generate``: one production job. Cards are rendered by
:func:`jetclass2.generation.madgraph.render_job_cards` into the work directory (one MadGraph process card,
one launch card and one Pythia card per batch, ``gridpoints.json``); then, for a resonant sample,
the MadGraph process is output once and launched once per batch (that batch's grid point and
seed), :data:`SESSION_BATCHES` launches per MadGraph process, each launch recompiling only what
its cards change (:func:`incremental_build`; the events are those of one MadGraph process per
batch with a full recompilation, byte for byte, benchmarks/validate_mg5_speedup.py); every batch is
showered and simulated with its own Pythia card (a batch's decay tables, Y mass/width or pTHat_min
differ from the next one's), the JetClass-II Delphes card, the pile-up file and a per-batch Delphes
seed, by one ``DelphesPythia8Batches`` (:mod:`delphes_batches`: DelphesPythia8's event loop for many
batches in one process, the same events) per :data:`SESSION_BATCHES` batches, or by
``DelphesPythia8`` per batch (``delphes_per_batch``); the files are merged with ``hadd``. Every
step's output is counted (MadGraph exits 0 when it fails; DelphesPythia8 stops early on end of file
or errors): fewer events than asked is an error naming the job and the step. The output appears only complete; the work directory is removed on success and kept,
for inspection, on failure (the next attempt starts afresh).

``run-container-job pileup``: Delphes' pile-up file (Pythia ``SoftQCD:inelastic`` ->
``DelphesPythia8`` with a converter card -> ``root2pileup``), seeded from the workflow seed.
"""
from __future__ import annotations

import gzip
import json
import logging
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from jetclass2.atomic import OutputError, atomic_output, check_output_path, raise_on_sigterm
from jetclass2.cliargs import ArgumentParser, UsageError, check_paths, inside, integer, number, report
from jetclass2.logs import setup_cli_logging
from jetclass2.resources import resolve

from . import delphes_batches, delphes_card, pdfsets, samples
from .madgraph import REFERENCE_PROCESS_CARD

log = logging.getLogger("run-container-job")

#: Pythia reads nothing from this file: a Pythia-only card (QCD, minimum bias) names it as
#: ``Beams:LHEF`` so that DelphesPythia8 (3.5.0) creates its LHEF reader, whose absence makes it
#: dereference a null pointer on the first event Pythia rejects.
NO_LHEF = "/dev/null"
PROCESS_CARD = "proc_card.dat"
#: what makes a sub-process directory's physics, besides its matrix elements (``matrix*_orig.f``):
#: integration channels, propagators, symmetry factors, mirror processes, colour flows, particles
SUBPROCESS_PHYSICS = ("configs.inc", "props.inc", "symfact_orig.dat", "mirrorprocs.inc", "coloramps.inc", "leshouche.inc")
PROVENANCE = "gridpoints.json"
#: ``--delphes-outputs``: ``ntuples`` runs the card trimmed to the branches the ntuplizer reads
#: (:mod:`delphes_card`; the same values in them, ~11% less DelphesPythia8 CPU), ``full`` the card as it is.
DELPHES_OUTPUTS = ("ntuples", "full")
_PILEUP_FILE = re.compile(r"^(\s*set\s+PileUpFile\s+)\S+", re.MULTILINE)
_MEAN_PILEUP = re.compile(r"^(\s*set\s+MeanPileUp\s+)\S+", re.MULTILINE)
_RANDOM_SEED = re.compile(r"^\s*set\s+RandomSeed\s+\S+\s*$", re.MULTILINE)
_BEAMS_LHEF = re.compile(r"^\s*(Beams:LHEF\s*=\s*)(\S+)", re.MULTILINE | re.IGNORECASE)
_SESSION_BATCH = re.compile(r"^DelphesPythia8Batches: batch \d+/\d+ \S+: (\d+) events$", re.MULTILINE)
_LHE_EVENT = re.compile(rb"<event[\s>]")
_LAUNCH = re.compile(r"^(\s*launch\s+\S+)", re.MULTILINE)
# a Fortran include line (fixed form: a comment has a letter in column 1, an include line a blank)
_INCLUDE = re.compile(r"^[ \t]+include\s*['\"]([^'\"]+)['\"]", re.MULTILINE | re.IGNORECASE)
_CLEAN_RULE = re.compile(r"^clean:[^\n]*\n((?:\t[^\n]*\n)+)", re.MULTILINE)

#: Batches launched by one MadGraph process (``mg5_aMC`` reading one command file with one
#: ``launch`` per batch): its start-up, ~1.5 s of CPU, is paid once per session; a session's LHE
#: files wait for the shower on disk, at most this many.
SESSION_BATCHES = 25
#: MadGraph's helicity optimiser writes the helicities it keeps as a printed Python ``set``: with a
#: fixed hash seed the text is the same in every session, so an unchanged selection does not
#: rewrite (and recompile) the matrix elements. The events do not depend on it (checked byte for
#: byte by benchmarks/validate_mg5_speedup.py, whose reference runs keep Python's random seed).
MG5_ENV = {"PYTHONHASHSEED": "0"}


class JobError(RuntimeError):
    """A step of a job that failed or produced too little: the message names the job and the step."""


class Steps:
    """Wall and CPU time (this process and its children) of each step, for the log and the benchmark."""

    def __init__(self, job: str):
        self.job, self.times = job, {}

    def run(self, step: str, cmd: list[str], cwd: Path, logfile: Path, env: dict | None = None,
            progress: str | None = None) -> None:
        """Run ``cmd`` in ``cwd`` (``env`` added to the environment), output to ``logfile``; a non-zero exit is a :class:`JobError`.
        ``progress``: the output lines that start with it are logged as they come (a long step is not silent)."""
        log.info("%s: %s: %s", self.job, step, " ".join(cmd))
        environ = {**os.environ, **env} if env else None
        with open(logfile, "w") as out:
            if progress is None:
                rc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=environ).returncode
            else:
                with subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=environ, text=True, errors="replace") as proc:
                    try:
                        for line in proc.stdout:
                            out.write(line)
                            if line.startswith(progress):
                                log.info("%s: %s", self.job, line.strip())
                    except BaseException:  # SIGTERM (raise_on_sigterm) or ^C: the program goes too
                        proc.kill()
                        raise
                rc = proc.returncode
        if rc != 0:
            what = f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"
            raise JobError(f"{self.job}: {step}: {cmd[0]} failed ({what}); {_tail(logfile)}")

    def timed(self, step: str):
        return _Timer(self, step)


class _Timer:
    def __init__(self, steps: Steps, step: str):
        self.steps, self.step = steps, step

    def __enter__(self):
        self.t0, self.c0 = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            wall, cpu = time.perf_counter() - self.t0, _cpu() - self.c0
            self.steps.times[self.step] = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}
            log.info("%s: %s done in %.1f s (cpu %.1f s)", self.steps.job, self.step, wall, cpu)
        return False


def _cpu() -> float:
    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def _tail(logfile: Path, lines: int = 6) -> str:
    """The last meaningful lines of a step's log, on one line."""
    try:
        text = [ln.strip() for ln in logfile.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return f"no log {logfile}"
    return f"log {logfile} ends: " + " | ".join(text[-lines:])


def require_tools(job: str, tools: list[str]) -> None:
    """Every program the job calls is on PATH, before any work starts."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise JobError(f"{job}: tools: {', '.join(missing)} not found on PATH "
                       "(source the generation stack's setup.sh, or run in the generation image)")


def delphes_entries(path: Path) -> int:
    """Events in a Delphes ROOT file (tree ``Delphes``); 0 when it is missing or unreadable."""
    import uproot

    try:
        with uproot.open(path) as f:
            return int(f["Delphes"].num_entries)
    except Exception:  # a crash leaves no file or a file without the tree: counted as no events
        return 0


def lhe_events(path: Path) -> int:
    """Events in an LHE file (plain or gzipped)."""
    opener = gzip.open if path.suffix == ".gz" else open
    n, tail = 0, b""
    with opener(path, "rb") as f:
        while chunk := f.read(1 << 22):
            n += len(_LHE_EVENT.findall(tail + chunk))
            tail = chunk[-6:]  # a tag split between two chunks (6 bytes cannot hold a whole one)
    return n


def pileup_entries(path: Path) -> int:
    """Events in a Delphes pile-up file (the XDR event count in its last 8 bytes); 0 if it has none."""
    with open(path, "rb") as f:
        if f.seek(0, os.SEEK_END) < 8:
            return 0
        f.seek(-8, os.SEEK_END)
        return int.from_bytes(f.read(8), "big")


def delphes_card_text(card: Path, pileup: Path | None, seed: int, mean_pileup: float | None, job: str = "") -> str:
    """The Delphes card with the pile-up file's absolute path, the mean pile-up and a ``RandomSeed``.

    Without ``RandomSeed`` Delphes seeds ROOT's generator from the clock (pile-up, smearing and
    efficiencies would differ run to run).
    """
    text = card.read_text()
    if _PILEUP_FILE.search(text):
        if pileup is None:
            raise JobError(f"{job}: inputs: the Delphes card {card} reads a pile-up file (set PileUpFile) and none was given")
        text = _PILEUP_FILE.sub(lambda m: m.group(1) + str(pileup.resolve()), text)
    if mean_pileup is not None:
        value = f"{mean_pileup:g}"
        text = _MEAN_PILEUP.sub(lambda m: m.group(1) + value, text)
    text = _RANDOM_SEED.sub("", text)
    return f"# written by run-container-job from {card}\nset RandomSeed {seed}\n" + text


def _batch_card(card: Path, pileup: Path | None, seed: int, mean_pileup: float | None, job: str, outputs: str,
                report: bool = False) -> str:
    """:func:`delphes_card_text`, trimmed to the ntuplizer's branches when ``outputs`` is ``ntuples`` (``report``: logged)."""
    text = delphes_card_text(card, pileup, seed, mean_pileup, job)
    if outputs == "full":
        return text
    try:
        trimmed = delphes_card.trim_card(text)
    except delphes_card.CardError as exc:
        raise JobError(f"{job}: inputs: Delphes card {card}: {exc} (--delphes-outputs full runs it as it is)") from None
    if report:
        log.info("%s: Delphes card trimmed to the branches %s; not run: %s; run although nothing written reads them "
                 "(random numbers, changed inputs or candidate numbering; jetclass2/generation/delphes_card.py): %s", job, " ".join(trimmed.branches),
                 " ".join(trimmed.dropped) or "none", " ".join(trimmed.unneeded_kept) or "none")
    return trimmed.text


# ---------------------------------------------------------------------------------------------
# one job


def run_job(sample: str, job: int, n_events: int, seed: int, output: str | Path, delphes_card: str | Path,
            pileup: str | Path | None, workdir: str | Path, samples_config=None, events_per_grid_point: int | None = None,
            pdf: str | None = None, mean_pileup: float | None = None, cores: int = 1, keep_workdir: bool = False,
            madgraph_per_batch: bool = False, delphes_outputs: str = "ntuples", delphes_per_batch: bool = False) -> dict:
    """Generate, shower and simulate job ``job`` of ``sample`` into the Delphes file ``output``.

    ``delphes_outputs``: one of :data:`DELPHES_OUTPUTS`.

    ``delphes_per_batch``: one ``DelphesPythia8`` per batch (as before; the same events, ~1.1 s more
    CPU per batch) instead of one ``DelphesPythia8Batches`` (:mod:`delphes_batches`) per
    :data:`SESSION_BATCHES` batches.

    ``madgraph_per_batch``: one ``mg5_aMC`` process per batch, each recompiling the whole process
    (the reference's way; the same events, at 2.4-6x MadGraph's cost) instead of sessions of
    :data:`SESSION_BATCHES` launches that recompile only what a batch's cards change.

    Returns the wall/CPU time of every step (``{"step": {"wall_s", "cpu_s"}}``; a MadGraph session's
    entry also holds its number of ``batches``). Raises
    :class:`JobError` (job and step named), :class:`samples.GenerationConfigError` or
    :class:`OutputError`; then ``output`` does not exist.
    """
    from .madgraph import render_job_cards

    name = f"{sample} job {job}"
    steps = Steps(name)
    output, workdir = Path(output), Path(workdir).resolve()
    check_output_path(output)
    card = resolve(delphes_card)
    if not card.is_file():
        raise JobError(f"{name}: inputs: Delphes card {delphes_card} not found")
    pileup = Path(pileup) if pileup else None
    if pileup is not None and not pileup.is_file():
        raise JobError(f"{name}: inputs: pile-up file {pileup} not found (make it with `run-container-job pileup`)")
    if pileup is not None and pileup_entries(pileup) <= 0:
        raise JobError(f"{name}: inputs: pile-up file {pileup} holds no events")
    if cores < 1:
        raise JobError(f"{name}: inputs: cores must be >= 1, got {cores}")
    if delphes_outputs not in DELPHES_OUTPUTS:
        raise JobError(f"{name}: inputs: Delphes outputs {delphes_outputs!r}, not one of {', '.join(DELPHES_OUTPUTS)}")
    # a card that needs a pile-up file, or cannot be trimmed, fails here, before any work
    _batch_card(card, pileup, 1, mean_pileup, name, delphes_outputs, report=True)
    try:  # the workflow checks this at its dry run; a job started by hand checks it here, before any work
        pdfsets.check(samples.load_config(samples_config), pdf, key="--pdf")
    except pdfsets.PDFSetError as exc:
        raise JobError(f"{name}: PDFs: {exc}") from None

    with raise_on_sigterm():
        shutil.rmtree(workdir, ignore_errors=True)  # a failed attempt's leftovers
        with steps.timed("cards"):
            render_job_cards(sample, job, n_events, seed, workdir, samples_config, events_per_grid_point, pdf)
        batches = json.loads((workdir / PROVENANCE).read_text())["batches"]
        resonant = (workdir / PROCESS_CARD).is_file()
        tools = (["DelphesPythia8"] if delphes_per_batch else list(delphes_batches.TOOLS)) + \
            (["mg5_aMC", "gfortran", "make"] if resonant else []) + (["hadd"] if len(batches) > 1 else [])
        require_tools(name, tools)
        program = None
        if not delphes_per_batch:
            with steps.timed("delphes_program"):
                try:
                    program = delphes_batches.program(workdir)
                except delphes_batches.BuildError as exc:
                    raise JobError(f"{name}: {delphes_batches.PROGRAM}: {exc} (--delphes-per-batch runs DelphesPythia8)") from None
        files = []
        if resonant:
            process = _compile_process(steps, name, workdir, cores, incremental=not madgraph_per_batch)
            chunks = _generate_lhe(steps, name, workdir, process, batches, madgraph_per_batch)
        else:
            chunks = (batches[i:i + SESSION_BATCHES] for i in range(0, len(batches), SESSION_BATCHES))
        for chunk in chunks:
            if program is not None:
                files.append(_shower_and_simulate_session(steps, name, program, card, pileup, mean_pileup, seed, sample, job,
                                                          chunk, workdir, keep_workdir, delphes_outputs))
                continue
            for b in chunk:
                bdir = workdir / f"batch_{b['batch']:04d}"
                files.append(_shower_and_simulate(steps, name, card, pileup, mean_pileup, seed, sample, job, b, bdir,
                                                  keep_workdir, delphes_outputs))
        _merge(steps, name, files, n_events, output, workdir)
    if not keep_workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    log.info("%s: %d events -> %s", name, n_events, output)
    return steps.times


def madgraph_job(sample: str, job: int, n_events: int, seed: int, workdir: str | Path, samples_config=None,
                 events_per_grid_point: int | None = None, pdf: str | None = None, cores: int = 1,
                 madgraph_per_batch: bool = False) -> dict:
    """MadGraph's part of a job alone (for comparisons): the cards rendered into ``workdir`` (emptied
    first), the process output, every batch's events left as ``workdir/batch_NNNN/unweighted_events.lhe``.
    Returns the step times as :func:`run_job`."""
    from .madgraph import render_job_cards

    name = f"{sample} job {job}"
    steps, workdir = Steps(name), Path(workdir).resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    with steps.timed("cards"):
        render_job_cards(sample, job, n_events, seed, workdir, samples_config, events_per_grid_point, pdf)
    if not (workdir / PROCESS_CARD).is_file():
        raise JobError(f"{name}: MadGraph: {sample} has no MadGraph process")
    require_tools(name, ["mg5_aMC", "gfortran", "make"])
    batches = json.loads((workdir / PROVENANCE).read_text())["batches"]
    process = _compile_process(steps, name, workdir, cores, incremental=not madgraph_per_batch)
    for _ in _generate_lhe(steps, name, workdir, process, batches, madgraph_per_batch):
        pass
    return steps.times


def _generate_lhe(steps: Steps, name: str, workdir: Path, process: Path, batches: list[dict], per_batch: bool):
    """Yield the batches in groups, each once its LHE files are written: one group per MadGraph
    process (one batch with ``per_batch``, else :data:`SESSION_BATCHES`)."""
    size = 1 if per_batch else SESSION_BATCHES
    for first in range(0, len(batches), size):
        chunk = batches[first:first + size]
        if per_batch:
            _launch_batch(steps, name, workdir, process, chunk[0], workdir / f"batch_{chunk[0]['batch']:04d}")
        else:
            _launch_session(steps, name, workdir, process, chunk)
        yield chunk


def _output_dir(card: Path, what: str) -> Path:
    """The process directory a MadGraph process card writes (its ``output DIR`` line), beside the card."""
    m = re.search(r"^\s*output\s+(\S+)", card.read_text(), re.MULTILINE)
    if m is None:
        raise JobError(f"{what}: {card} has no `output DIR` line")
    return card.parent / m.group(1)


def _compile_process(steps: Steps, name: str, workdir: Path, cores: int, incremental: bool = True) -> Path:
    """``output`` the MadGraph process once; MadGraph's run mode set to ``cores`` cores; with
    ``incremental``, its sub-process makefile completed (:func:`incremental_build`)."""
    process = _output_dir(workdir / PROCESS_CARD, f"{name}: MadGraph process")
    with steps.timed("madgraph_process"):
        steps.run("MadGraph process", ["mg5_aMC", PROCESS_CARD], workdir, workdir / "madgraph_process.log")
        config = process / "Cards" / "me5_configuration.txt"
        if not (process / "bin" / "madevent").is_file() or not config.is_file():
            raise JobError(f"{name}: MadGraph process: no process directory {process} written; {_tail(workdir / 'madgraph_process.log')}")
        if (workdir / REFERENCE_PROCESS_CARD).is_file():
            _align_with_reference(steps, name, workdir, process)
    # The run mode of `set run_mode` in the process card does not reach later `launch` sessions:
    # write it into the process's own configuration (later lines win). 0 = one core.
    with open(config, "a") as f:
        f.write(f"\n# run-container-job: {cores} core(s)\nrun_mode = {0 if cores == 1 else 2}\nnb_core = {cores}\n")
    if incremental:
        problem = incremental_build(process)
        if problem:
            log.warning("%s: MadGraph process: %s; every launch recompiles the whole process", name, problem)
    return process


def subprocess_dirs(process: Path) -> list[Path]:
    """A MadGraph process directory's sub-process directories (``SubProcesses/P*_*``), sorted."""
    return sorted(d for d in (process / "SubProcesses").glob("P*_*") if d.is_dir())


def subprocess_differences(a: Path, b: Path) -> list[str]:
    """What differs between two MadGraph sub-process directories: the files of
    :data:`SUBPROCESS_PHYSICS` byte for byte, the matrix elements (``matrix*_orig.f``) up to the
    order of their lines (MadGraph writes some declarations in the order of a Python set)."""
    differ = []
    names = sorted({f.name for f in a.glob("matrix*_orig.f")} | {f.name for f in b.glob("matrix*_orig.f")}) + list(SUBPROCESS_PHYSICS)
    for n in names:
        fa, fb = a / n, b / n
        if not (fa.is_file() and fb.is_file()):
            differ.append(f"{n} (missing)")
        elif n.startswith("matrix"):
            if sorted(fa.read_text().splitlines()) != sorted(fb.read_text().splitlines()):
                differ.append(n)
        elif fa.read_bytes() != fb.read_bytes():
            differ.append(n)
    return differ


def _align_with_reference(steps: Steps, name: str, workdir: Path, process: Path) -> None:
    """The sample's process is the reference's process without some of its sub-processes (those
    whose matrix elements are zero, cards/madgraph): output the reference's (no launch, ~3 s per
    job), check that every sub-process directory of the job's is the reference's same directory
    (:func:`subprocess_differences`), and give it the reference's random-number offset
    (``iproc.dat``, MadGraph's ``ranmar``), so that a launch makes the reference process's events
    byte for byte (benchmarks/validate_mg5_subprocesses.py)."""
    reference = _output_dir(workdir / REFERENCE_PROCESS_CARD, f"{name}: MadGraph reference process")
    logfile = workdir / "madgraph_reference_process.log"
    steps.run("MadGraph reference process", ["mg5_aMC", REFERENCE_PROCESS_CARD], workdir, logfile)
    ours = subprocess_dirs(process)
    theirs = {d.name: d for d in subprocess_dirs(reference)}
    if not ours or not theirs:
        raise JobError(f"{name}: MadGraph reference process: no sub-process directories in {process} or {reference}; {_tail(logfile)}")
    for d in ours:
        if d.name not in theirs:
            raise JobError(f"{name}: MadGraph process: sub-process {d.name} is not one of the reference process's "
                           f"({', '.join(sorted(theirs))}); {PROCESS_CARD} must be a part of {REFERENCE_PROCESS_CARD}")
        differ = subprocess_differences(theirs[d.name], d)
        if differ:
            raise JobError(f"{name}: MadGraph process: sub-process {d.name} differs from the reference process's "
                           f"({', '.join(differ)}): not the same physics")
        shutil.copyfile(theirs[d.name] / "iproc.dat", d / "iproc.dat")
    log.info("%s: MadGraph process: %d of the reference's %d sub-processes (%s), with its random-number offsets",
             name, len(ours), len(theirs), ", ".join(d.name for d in ours))
    shutil.rmtree(reference)


def _fortran_includes(source: Path, search: list[Path], seen: set[Path], missing: set[Path]) -> None:
    """Add to ``seen`` every file ``source`` includes, recursively (looked up beside it, then in
    ``search``, as gfortran with ``-I``); one that does not exist yet (MadGraph writes
    ``Source/run_card.inc`` at the first launch) is added to both, as the path it will have."""
    try:
        text = source.read_text(errors="replace")
    except OSError:
        return
    for name in _INCLUDE.findall(text):
        found = next((d / name for d in [source.parent, *search] if (d / name).is_file()), None)
        if found is None:
            found = source.parent / name if "/" in name else search[0] / name
            missing.add(found)
        if found not in seen:
            seen.add(found)
            _fortran_includes(found, search, seen, missing)


def incremental_build(process: Path) -> str | None:
    """Let a MadGraph 3 process directory rebuild, at each launch, only what the launch's cards change.

    Before every launch whose cards changed, MadGraph writes the run and parameter cards into
    ``Source/run_card.inc`` and ``Source/param_card.inc``, rebuilds ``Source`` (whose makefile
    knows these dependencies) and runs ``make clean`` in every sub-process directory, so each
    batch recompiled every sub-process (~70% of a 2HDM batch's MadGraph time). The sub-process
    makefile lists only some of the files each object includes (``symmetry.f`` includes
    ``run_card.inc`` without it being listed): here every sub-process directory gets a
    ``deps.mk`` naming, for each object, every file its source includes (recursively) and
    ``Source/make_opts`` (the compiler flags; ``matrixN_optim.o`` those of the template it is
    written from); the makefile reads it, and its ``clean`` rule,
    which only MadGraph's launch calls, becomes a no-op (the original as ``clean_objects``).
    ``make`` then rebuilds exactly the objects and programs whose inputs changed; a rewritten
    ``matrix*_optim.f`` (helicity optimisation) is newer than its object and recompiled.

    Returns ``None``, or why the makefile was left as it was (another MadGraph version).
    """
    sub = process / "SubProcesses"
    makefile = sub / "makefile"
    try:
        text = makefile.read_text()
        pdirs = [sub / line.strip() for line in (sub / "subproc.mg").read_text().splitlines() if line.strip()]
    except OSError as exc:
        return f"cannot read {exc.filename}"
    clean = _CLEAN_RULE.search(text)
    if clean is None or "*.o" not in clean.group(1) or "include deps.mk" in text:
        return f"{makefile} has no `clean` rule removing *.o, or was changed already"
    source = process / "Source"
    for pdir in pdirs:
        lines, missing = [], set()
        for f in sorted(pdir.glob("*.f")):
            seen: set[Path] = set()
            _fortran_includes(f, [source], seen, missing)
            deps = sorted(os.path.relpath(p, pdir) for p in seen) + [os.path.relpath(source / "make_opts", pdir)]
            # matrixN_optim.f, written at a launch by the helicity optimiser, is made from template_matrixN.f
            obj = f.stem[len("template_"):] + "_optim" if f.stem.startswith("template_") else f.stem
            lines.append(f"{obj}.o: {' '.join(deps)}")
        # a file not written yet may not stop make; MadGraph writes these before it builds a sub-process
        lines += [f"{os.path.relpath(m, pdir)}:" for m in sorted(missing)]
        (pdir / "deps.mk").write_text("# run-container-job: every file each object's source includes\n" + "\n".join(lines) + "\n")
    text = (text[:clean.start()] + "# run-container-job: MadGraph's launch cleans before every run; deps.mk makes it unnecessary\n"
            "clean:\n\nclean_objects:\n" + clean.group(1) + text[clean.end():] + "\n-include deps.mk\n")
    makefile.write_text(text)
    return None


def _launch_batch(steps: Steps, name: str, workdir: Path, process: Path, b: dict, bdir: Path) -> None:
    """One MadGraph process for one batch (``madgraph_per_batch``): its events as ``bdir/unweighted_events.lhe``, counted."""
    step = f"MadGraph batch {b['batch']}"
    events_dir = process / "Events"
    for old in events_dir.glob("*/"):
        shutil.rmtree(old)  # each launch's run directory is moved out below; none may be mistaken for this one's
    logfile = bdir / "madgraph.log"
    with steps.timed(f"madgraph_batch_{b['batch']}"):
        steps.run(step, ["mg5_aMC", str(bdir / "launch.dat")], workdir, logfile)
        found = sorted(events_dir.glob("*/unweighted_events.lhe.gz"))
        if len(found) != 1:
            raise JobError(f"{name}: {step}: MadGraph wrote {len(found)} event files instead of one; {_tail(logfile)}")
        _unpack_lhe(name, step, found[0], bdir, b["events"], logfile)


def _launch_session(steps: Steps, name: str, workdir: Path, process: Path, chunk: list[dict]) -> None:
    """One MadGraph process launching every batch of ``chunk`` in turn, each launch a run named
    after its batch (``launch DIR -n batch_NNNN``, then the batch's own commands): each batch's
    events as ``batch_NNNN/unweighted_events.lhe``, counted."""
    first, last = chunk[0]["batch"], chunk[-1]["batch"]
    events_dir = process / "Events"
    for old in events_dir.glob("*/"):
        shutil.rmtree(old)  # a failed attempt's runs
    commands = []
    for b in chunk:
        bdir = workdir / f"batch_{b['batch']:04d}"
        text, n = _LAUNCH.subn(rf"\g<1> -n {bdir.name}", (bdir / "launch.dat").read_text(), count=1)
        if n != 1:
            raise JobError(f"{name}: MadGraph batch {b['batch']}: {bdir / 'launch.dat'} has no `launch DIR` line")
        commands.append(text)
    cmdfile, logfile = workdir / f"madgraph_session_{first:04d}.dat", workdir / f"madgraph_session_{first:04d}.log"
    cmdfile.write_text("\n".join(commands))
    key = f"madgraph_session_{first}"
    with steps.timed(key):
        steps.run(f"MadGraph batches {first}-{last}", ["mg5_aMC", cmdfile.name], workdir, logfile, env=MG5_ENV)
        for b in chunk:
            bdir = workdir / f"batch_{b['batch']:04d}"
            lhe = events_dir / bdir.name / "unweighted_events.lhe.gz"
            if not lhe.is_file():
                raise JobError(f"{name}: MadGraph batch {b['batch']}: no event file {lhe}; {_tail(logfile)}")
            _unpack_lhe(name, f"MadGraph batch {b['batch']}", lhe, bdir, b["events"], logfile)
    steps.times[key]["batches"] = len(chunk)


def _unpack_lhe(name: str, step: str, found: Path, bdir: Path, asked: int, logfile: Path) -> None:
    """A run's gzipped LHE file -> ``bdir/unweighted_events.lhe`` (the run directory removed); fewer events than asked is an error."""
    lhe = bdir / "unweighted_events.lhe"
    with gzip.open(found, "rb") as src, open(lhe, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
    shutil.rmtree(found.parent)
    n = lhe_events(lhe)
    if n < asked:
        raise JobError(f"{name}: {step}: {n} events in the LHE file, {asked} asked; {_tail(logfile)}")


def _shower_and_simulate(steps: Steps, name: str, card: Path, pileup: Path | None, mean_pileup, seed: int,
                         sample: str, job: int, b: dict, bdir: Path, keep: bool = False, outputs: str = "ntuples") -> Path:
    """DelphesPythia8 on one batch: its Pythia card (LHE shower or Pythia alone), the Delphes card."""
    step = f"Pythia+Delphes batch {b['batch']}"
    pythia = _pythia_card(bdir)
    (bdir / "delphes_card.tcl").write_text(_batch_card(card, pileup, _delphes_seed(seed, sample, job, b), mean_pileup, name, outputs))
    out = bdir / "delphes.root"
    out.unlink(missing_ok=True)  # DelphesPythia8 refuses to overwrite
    logfile = bdir / "delphes.log"
    with steps.timed(f"delphes_batch_{b['batch']}"):
        steps.run(step, ["DelphesPythia8", "delphes_card.tcl", pythia.name, out.name], bdir, logfile)
    n = delphes_entries(out)
    if n != b["events"]:
        raise JobError(f"{name}: {step}: {n} events in {out.name}, {b['events']} asked; {_tail(logfile)}")
    if not keep:  # a 100k-event job would otherwise hold all its LHE files until the end
        (bdir / "unweighted_events.lhe").unlink(missing_ok=True)
    return out


def _delphes_seed(seed: int, sample: str, job: int, b: dict) -> int:
    """The Delphes seed of batch ``b`` (pile-up, smearing, efficiencies), from the job's identity."""
    return samples.job_seed(seed, sample, job, f"delphes/{b['batch']}")


def _pythia_card(bdir: Path) -> Path:
    """The batch's Pythia card, with a ``Beams:LHEF`` (:data:`NO_LHEF` where it has none) that is an absolute path."""
    pythia = bdir / "pythia8.cmnd"
    text = pythia.read_text()
    m = _BEAMS_LHEF.search(text)
    if m is None:
        text += f"Beams:LHEF = {NO_LHEF}\n"
    elif not Path(m.group(2)).is_absolute():
        text = text[:m.start(2)] + str((bdir / m.group(2)).resolve()) + text[m.end(2):]
    pythia.write_text(text)
    return pythia


def _shower_and_simulate_session(steps: Steps, name: str, program: Path, card: Path, pileup: Path | None, mean_pileup,
                                 seed: int, sample: str, job: int, chunk: list[dict], workdir: Path, keep: bool = False,
                                 outputs: str = "ntuples") -> Path:
    """``DelphesPythia8Batches`` on the batches of ``chunk``, each with its Pythia card and Delphes seed
    (those :func:`_shower_and_simulate` gives DelphesPythia8): one Delphes file, its events counted."""
    first, last = chunk[0]["batch"], chunk[-1]["batch"]
    step = f"Pythia+Delphes batches {first}-{last}"
    listed = [(_pythia_card(workdir / f"batch_{b['batch']:04d}"), _delphes_seed(seed, sample, job, b)) for b in chunk]
    tag = f"delphes_session_{first:04d}"
    # the card's RandomSeed is the first batch's; the program reseeds every batch with its own
    (workdir / f"{tag}.tcl").write_text(_batch_card(card, pileup, listed[0][1], mean_pileup, name, outputs))
    try:
        (workdir / f"{tag}.batches").write_text(delphes_batches.batch_list(listed))
    except ValueError as exc:
        raise JobError(f"{name}: {step}: {exc}") from None
    out, logfile = workdir / f"{tag}.root", workdir / f"{tag}.log"
    out.unlink(missing_ok=True)  # the program refuses to overwrite
    key = f"delphes_session_{first}"
    with steps.timed(key):
        steps.run(step, [str(program), f"{tag}.tcl", f"{tag}.batches", out.name], workdir, logfile,
                  progress=delphes_batches.PROGRAM)
    steps.times[key]["batches"] = len(chunk)
    # the program's line per batch, "DelphesPythia8Batches: batch K/N CARD: M events": a short batch by name
    done = [int(m.group(1)) for m in _SESSION_BATCH.finditer(logfile.read_text(errors="replace"))]
    for b, m in zip(chunk, done + [0] * len(chunk)):
        if m != b["events"]:
            raise JobError(f"{name}: Pythia+Delphes batch {b['batch']}: {m} events, {b['events']} asked; {_tail(logfile)}")
    n, asked = delphes_entries(out), sum(b["events"] for b in chunk)
    if n != asked:
        raise JobError(f"{name}: {step}: {n} events in {out.name}, {asked} asked; {_tail(logfile)}")
    if not keep:  # a 100k-event job would otherwise hold all its LHE files until the end
        for b in chunk:
            (workdir / f"batch_{b['batch']:04d}" / "unweighted_events.lhe").unlink(missing_ok=True)
    return out


def _merge(steps: Steps, name: str, files: list[Path], n_events: int, output: Path, workdir: Path) -> None:
    """The batches' Delphes files -> ``output``, and the job's grid points beside it as ``OUTPUT.gridpoints.json``."""
    provenance = Path(f"{output}.gridpoints.json")
    try:
        with atomic_output(provenance) as ptmp:
            shutil.copyfile(workdir / PROVENANCE, ptmp)
        with steps.timed("merge"), atomic_output(output) as tmp:
            if len(files) == 1:
                shutil.move(files[0], tmp)
            else:
                steps.run("merge", ["hadd", "-f", str(tmp.resolve()), *map(str, files)], workdir, workdir / "merge.log")
            n = delphes_entries(tmp)
            if n != n_events:
                raise JobError(f"{name}: merge: {n} events in the merged file, {n_events} asked; {_tail(workdir / 'merge.log')}")
    except BaseException:
        provenance.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------
# the pile-up file


def make_pileup(output: str | Path, n_events: int, seed: int, workdir: str | Path, converter_card: str | Path,
                samples_config=None, keep_workdir: bool = False) -> dict:
    """Delphes' pile-up file of ``n_events`` minimum-bias events (the samples file's pile-up Pythia card)."""
    name = "pile-up"
    steps = Steps(name)
    output, workdir = Path(output), Path(workdir).resolve()
    check_output_path(output)
    if n_events <= 0:
        raise JobError(f"{name}: inputs: the pile-up file needs a positive number of events, got {n_events}")
    card = resolve(converter_card)
    if not card.is_file():
        raise JobError(f"{name}: inputs: converter card {converter_card} not found")
    require_tools(name, ["DelphesPythia8", "root2pileup"])
    cfg = samples.load_config(samples_config)
    values = {"sqrt_s": cfg["sqrt_s_gev"], "seed": samples.job_seed(seed, "delphes-pileup", 0)}
    commands = samples.render_card("cards/pythia/common.cmnd", values) + samples.render_card(cfg["pileup"]["pythia_card"], values)
    with raise_on_sigterm():
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        (workdir / "minbias.cmnd").write_text("\n".join([*commands, f"Main:numberOfEvents = {n_events}",
                                                         f"Beams:LHEF = {NO_LHEF}"]) + "\n")
        shutil.copyfile(card, workdir / "converter_card.tcl")
        with steps.timed("pythia_minbias"):
            steps.run("Pythia minimum bias", ["DelphesPythia8", "converter_card.tcl", "minbias.cmnd", "minbias.root"],
                      workdir, workdir / "pythia.log")
        n = delphes_entries(workdir / "minbias.root")
        if n != n_events:
            raise JobError(f"{name}: Pythia minimum bias: {n} events, {n_events} asked; {_tail(workdir / 'pythia.log')}")
        with steps.timed("root2pileup"), atomic_output(output) as tmp:
            steps.run("root2pileup", ["root2pileup", str(tmp.resolve()), "minbias.root"], workdir, workdir / "root2pileup.log")
            n = pileup_entries(tmp)
            if n != n_events:
                raise JobError(f"{name}: root2pileup: {n} events written, {n_events} asked; {_tail(workdir / 'root2pileup.log')}")
    if not keep_workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    log.info("pile-up file: %d events -> %s", n_events, output)
    return steps.times


# ---------------------------------------------------------------------------------------------
# command line


def _check_arguments(args) -> None:
    """The work directory is emptied before and removed after the job: it must hold no input,
    not the output and not the working directory; the output is no input."""
    inputs = [("--samples-config", args.samples_config)]
    if args.command == "generate":
        inputs += [("--delphes-card", args.delphes_card), ("--pileup", args.pileup)]
    else:
        inputs += [("--converter-card", args.converter_card)]
    check_paths(inputs=inputs, outputs=[("-o", args.output)], output_dirs=[("--workdir", args.workdir)])
    for opt, path in [("-o", args.output), ("the working directory", ".")]:
        if inside(path, args.workdir):
            raise UsageError(f"{args.workdir}: --workdir holds {opt} {path} (it is removed after the job)")


def main(argv=None) -> int:
    """run-container-job: one container-backend job (generate) or Delphes' pile-up file (pileup)."""
    ap = ArgumentParser(prog="run-container-job", description=main.__doc__.split(":", 1)[1].strip())
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="MadGraph -> Pythia 8 -> Delphes (resonant samples), Pythia 8 -> Delphes (QCD)")
    g.add_argument("--sample", required=True)
    g.add_argument("--job", type=integer(minimum=0), required=True)
    g.add_argument("--events", type=integer(minimum=1), required=True)
    g.add_argument("--seed", type=integer(minimum=0), default=1)
    g.add_argument("--samples-config", default=None)
    g.add_argument("--events-per-grid-point", type=integer(minimum=1), default=None, help="default: the samples config's")
    g.add_argument("--pdf", choices=["lhapdf", "builtin"], default=None, help="default: the samples config's")
    g.add_argument("--delphes-card", required=True)
    g.add_argument("--pileup", default=None, help="Delphes pile-up file (run-container-job pileup)")
    g.add_argument("--pileup-mean", type=number(minimum=0), default=None, help="MeanPileUp (default: the Delphes card's)")
    g.add_argument("--cores", type=integer(minimum=1), default=1, help="cores MadGraph may use (default 1)")
    g.add_argument("--delphes-outputs", choices=DELPHES_OUTPUTS, default="ntuples",
                   help="ntuples (default): only the Delphes branches the ntuplizer reads, with the modules they need "
                        "(same values, less CPU); full: the Delphes card as it is")
    g.add_argument("--madgraph-per-batch", action="store_true",
                   help="one MadGraph process per batch, recompiling the whole process (the reference's way; same events, slower)")
    g.add_argument("--delphes-per-batch", action="store_true",
                   help="one DelphesPythia8 per batch (as before; same events, ~1 s more CPU per batch) instead of one "
                        "DelphesPythia8Batches per 25 batches")
    p = sub.add_parser("pileup", help="Delphes pile-up file: Pythia SoftQCD:inelastic -> DelphesPythia8 -> root2pileup")
    p.add_argument("--events", type=integer(minimum=1), required=True)
    p.add_argument("--seed", type=integer(minimum=0), default=1)
    p.add_argument("--samples-config", default=None)
    p.add_argument("--converter-card", default="cards/delphes/pileup_converter.tcl")
    for a in (g, p):
        a.add_argument("--workdir", required=True, help="scratch directory (removed on success)")
        a.add_argument("--keep-workdir", action="store_true")
        a.add_argument("-o", "--output", required=True)
        a.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    setup_cli_logging(args.quiet)
    try:
        _check_arguments(args)
    except UsageError as exc:
        return report("run-container-job", exc)
    try:
        if args.command == "generate":
            times = run_job(args.sample, args.job, args.events, args.seed, args.output, args.delphes_card, args.pileup,
                            args.workdir, args.samples_config, args.events_per_grid_point, args.pdf, args.pileup_mean,
                            args.cores, args.keep_workdir, args.madgraph_per_batch, args.delphes_outputs,
                            args.delphes_per_batch)
        else:
            times = make_pileup(args.output, args.events, args.seed, args.workdir, args.converter_card, args.samples_config,
                                args.keep_workdir)
    except (JobError, samples.GenerationConfigError, OutputError, OSError) as exc:
        kept = f" (work directory kept: {args.workdir})" if Path(args.workdir).exists() else ""
        return report("run-container-job", exc, kept)
    log.info("step times: %s", json.dumps(times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
