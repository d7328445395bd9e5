"""What the full JetClass-II production costs, per sample and per path, from per-job costs measured here.

Paths: **embedded** (``generate``: Pythia 8 + fast simulation, then ``ntuplize``), **container**
(``run-container-job generate``: MadGraph process output once per job, one MadGraph launch per batch,
one ``DelphesPythia8Batches`` per 25 batches, compiled per job; then ``ntuplize``), both as the workflow runs them (config/jetclass2_full.yaml:
192 + 144 + 1440 + 240 jobs of 100k events, batches of 100 events, pile-up 50) and as the code of this
checkout does it; and the **reference** chain (jet-universe/jetclass2_generation ``run.sh``: per batch of
100 events ``run_gen.sh``, i.e. ``proc/bin/generate_events`` fed the launch commands on stdin, after a
``mg5_aMC`` process output once per job; then Pythia and Delphes; then the macro ``makeNtuples.C``).
The reference showers with MG5's Pythia interface into HepMC2 and runs ``DelphesHepMC2``; the stack here
has no HepMC2 library, so its Pythia + Delphes step is ``DelphesPythia8`` on the batch's LHE file, the
same programs minus the HepMC2 text round trip: the reference figure is a lower bound.

Measured in one run (CPU = user + system of the process and its children, each program pinned to one core):
- per sample, embedded: ``generate`` of ``--events`` events and of one batch (batches of 100; per-job cost =
  the line through the two at 0 events: start-up, Pythia initialisation, pile-up library, numba kernels loaded
  from the warm cache) and the same for ``ntuplize`` of their outputs (the faster of two runs);
  labelled jets per event from a job of ``--yield-events`` events with a grid point every 5 events;
- per sample, container: a job of one batch and one of ``--container-batches`` batches of 100 events
  (``bench_real_chain.run``; MadGraph in sessions, the first launch compiling the process): per batch the
  marginal CPU between the two, per job the rest of the one-batch job; ``ntuplize`` of the larger one's output;
- per sample, reference: the same job the reference's way (above), and the macro on its output;
- once: ``warm-kernels`` into an empty cache (the cold numba compilation, once per production), the
  minimum-bias library (embedded) and Delphes pile-up file (container, reference) at two sizes, scaled per
  event to ``detector.pileup_library_events``, one Snakemake job's start-up (``snakemake TARGET -n --configfile
  config/jetclass2_full.yaml``, which a cluster job step repeats) and packing (``bench_packing``'s scatter and
  gather jobs on ``--pack-jets`` synthetic jets, scaled per jet).
Labelled jets per event: embedded as measured; container and reference (same physics, MG5 -> Pythia ->
Delphes) those of the published reference files (issue 21; the measured ones are printed beside them).

Scaled to the production: per job = fixed + 1000 batches + 100k events (+ two Snakemake start-ups per
job for our paths: generate and ntuplize); core-hours per sample and path, CPU per labelled jet, and the
wall time on ``--cores`` cores (once-per-production steps, then the jobs greedily longest first, then
scatter and gather jobs; a job's wall = its CPU on a free core).

Usage: python benchmarks/bench_production.py [--cores 500] [--quick] [--events 500] [--container-batches 8]
       [--samples ...] [--workdir DIR]
Needs the generation stack (containers/install-generation-stack.sh) for the container and reference paths.
"""
from __future__ import annotations

import argparse
import heapq
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from bench_pair_yield import REFERENCE as REFERENCE_JETS_PER_EVENT  # noqa: E402  (published reference files, issue 21)
from bench_pair_yield import _jets  # noqa: E402
from bench_side_by_side import Reference, run, stack_env  # noqa: E402

EVENTS_PER_JOB = 100_000
BATCH = 100  # events per grid point / MadGraph launch (config/samples.yaml, the reference's run.sh)
PUBLISHED_FILES = {"Res2P": 300, "Res34P": 1290, "QCD": 420}  # files of 100k jets of the published release
CATEGORY = {"Res2P_neutral": "Res2P", "Res2P_charged": "Res2P", "Res34P": "Res34P", "QCD": "QCD"}
TARGETS = {"container_vs_reference": 0.5, "embedded_factor": 10.0, "embedded_hours": 3.0, "container_hours": 24.0}


def cpu_now() -> float:
    """CPU seconds of this process and its waited-for children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


class Timed:
    """Wall and CPU (this process and its children) of a block."""

    def __enter__(self):
        self.c0, self.w0 = cpu_now(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.cpu, self.wall = cpu_now() - self.c0, time.perf_counter() - self.w0


# ---- measurements --------------------------------------------------------------------------------

def snakemake_startup(work: Path) -> dict:
    """One Snakemake job's start-up: parse the workflow and plan one ntuple of the full configuration."""
    target = "results_full/ntuples/Res34P/00000.root"
    return run([sys.executable, "-m", "snakemake", target, "-n", "--cores", "1", "--configfile", "config/jetclass2_full.yaml",
                "--config", "container={pdf: builtin}"], work / "snakemake_n.log", cwd=REPO)


def embedded(sample: str, n: int, n_yield: int, qcd: bool, lib: Path, work: Path) -> dict:
    """CPU of ``generate`` and ``ntuplize`` per job and per event: lines through jobs of ``n`` events and of
    one batch (a job of 0 events would skip Pythia's initialisation and ntuplize's first-event imports;
    ntuplize, fast, the faster of two runs); labelled jets per event from a job of ``n_yield`` events with a
    grid point every 5 events (the yield depends on the grid point: a few points would not do)."""
    out = {}
    for events, epg, job in ((n, BATCH, 0), (BATCH, BATCH, 0), (n_yield, 5, 1)):
        tag = f"{sample}_{events}_{epg}"
        delphes, ntuple = work / f"emb_{tag}.root", work / f"emb_{tag}_jets.root"
        g = run(["generate", "--sample", sample, "--job", str(job), "--events", str(events), "--seed", "1", "--pileup-library",
                 str(lib), "--pileup-mean", "50", "--events-per-grid-point", str(epg), "-o", delphes], work / f"emb_{tag}.log")
        init = next((ln.rsplit("Pythia initialisation ", 1)[1].split()[0] for ln in
                     (work / f"emb_{tag}.log").read_text().splitlines() if "Pythia initialisation" in ln), "nan")
        t = min(run(["ntuplize", delphes, "-o", ntuple, *(["--qcd-labels"] if qcd else [])], work / f"emb_{tag}_nt.log")["cpu"]
                for _ in range(2 if epg == BATCH else 1))
        out[events, epg] = {"gen": g["cpu"], "nt": t, "jets": _jets(ntuple), "pythia_init": float(init)}
    full, one = out[n, BATCH], out[BATCH, BATCH]
    gen_event, nt_event = ((full[k] - one[k]) / (n - BATCH) for k in ("gen", "nt"))
    return {"gen_job": one["gen"] - BATCH * gen_event, "gen_event": gen_event, "nt_job": one["nt"] - BATCH * nt_event,
            "nt_event": nt_event, "jets_per_event": out[n_yield, 5]["jets"] / n_yield, "pythia_init": full["pythia_init"]}


def container(sample: str, batches: int, pileup: Path, work: Path, pdf: str) -> dict:
    """Container-path jobs of 1 and ``batches`` batches of 100 events: per-job and per-batch CPU.

    MadGraph runs a job's batches in sessions whose first launch compiles the process (~7-22 s): the
    per-batch cost is the marginal one, (CPU of ``batches`` batches - CPU of 1) / (``batches`` - 1), and
    the per-job cost the rest of the 1-batch job (process output, first compilation)."""
    from bench_real_chain import run as real_chain_job

    cpu = {}
    for n in sorted({1, batches}):
        # an empty cache: the job compiles DelphesPythia8Batches (~7 s), counted in its fixed cost,
        # although the production compiles it once per shared cache
        os.environ["JETCLASS2_CACHE"] = tempfile.mkdtemp(prefix="jc2cache_", dir=work)
        with Timed() as t:
            r = real_chain_job(sample, BATCH, pileup, work, pdf, batches=n, pythia=False)
        cpu[n] = t.cpu
        shutil.rmtree(os.environ.pop("JETCLASS2_CACHE"), ignore_errors=True)
    batch = (cpu[batches] - cpu[1]) / (batches - 1) if batches > 1 else cpu[1]
    delphes = r["delphes"]["cpu_s"]  # Pythia + Delphes per batch (DelphesPythia8Batches' sessions)
    # MadGraph's marginal share of a batch (its session mean would include the first compilation)
    return {"job": cpu[1] - batch, "batch": batch, "madgraph": max(batch - delphes, 0.0) if r["madgraph"] else 0.0,
            "delphes": delphes, "output": work / f"{sample}_{BATCH}.root", "events": batches * BATCH}


def reference(sample: str, batches: int, pileup: Path, work: Path, pdf: str) -> dict:
    """The reference's job: process output once (its mg5_step1.dat), then per batch run_gen.sh's
    ``cat mg5_step2.dat | proc/bin/generate_events pilotrun`` and Pythia + Delphes (DelphesPythia8)."""
    from bench_real_chain import DELPHES_CARD
    from validate_mg5_subprocesses import reference_config

    from jetclass2.generation import container_job as cj
    from jetclass2.generation.madgraph import render_job_cards

    wd = (work / f"ref_{sample}").resolve()
    shutil.rmtree(wd, ignore_errors=True)
    steps = cj.Steps(f"reference {sample}")
    n = batches * BATCH
    # the reference's own process cards (p p > ...; the production's leave out the zero sub-processes)
    render_job_cards(sample, 0, n, 1, wd, reference_config(work), BATCH, pdf)
    process = cj._compile_process(steps, steps.job, wd, 1) if (wd / cj.PROCESS_CARD).is_file() else None
    batch_cpu, files = [], []
    for b in __import__("json").loads((wd / cj.PROVENANCE).read_text())["batches"]:
        bdir = wd / f"batch_{b['batch']:04d}"
        with Timed() as t:
            if process is not None:
                # run_gen.sh's step 2: the launch commands (shower off, PDF, events, seed, parameters) on stdin
                launch = (bdir / "launch.dat").read_text().splitlines()
                keep = [ln for ln in launch if ln.strip().startswith(("set pdlabel", "set lhaid", "set use_syst", "set nevents",
                                                                        "set iseed", "set param_card", "set pt_min_pdg"))]
                stdin = "\n".join(["shower=OFF", "done", *keep, "done"]) + "\n"
                for old in (process / "Events").glob("*"):
                    shutil.rmtree(old, ignore_errors=True)
                with open(bdir / "generate_events.log", "w") as log:
                    subprocess.run([str(process / "bin" / "generate_events"), "pilotrun"], input=stdin.encode(), cwd=process,
                                   stdout=log, stderr=subprocess.STDOUT, check=True)
                lhe = process / "Events" / "pilotrun" / "unweighted_events.lhe.gz"
                if not lhe.is_file():
                    raise RuntimeError(f"reference {sample}: generate_events wrote no {lhe}; see {bdir / 'generate_events.log'}")
                subprocess.run(f"gunzip -c '{lhe}' > '{bdir / 'unweighted_events.lhe'}'", shell=True, check=True)
            # the whole JetClass-II card: the reference's macro reads Delphes' jets
            files.append(cj._shower_and_simulate(steps, steps.job, DELPHES_CARD, pileup, None, 1, sample, 0, b, bdir, outputs="full"))
        batch_cpu.append(t.cpu)
    out = work / f"ref_{sample}.root"
    out.unlink(missing_ok=True)
    cj._merge(steps, steps.job, files, n, out, wd)
    shutil.rmtree(wd, ignore_errors=True)
    return {"job": (steps.times.get("madgraph_process") or {}).get("cpu_s", 0.0), "batch": sum(batch_cpu) / len(batch_cpu),
            "output": out, "events": n}


def packing(n_jets: int, work: Path) -> dict:
    """bench_packing's jobs on ``n_jets`` synthetic Res34P jets in 6 ntuples (split 4:1:1): one scatter job
    of all, and the gather jobs of the first two of 6 files; CPU per jet of each."""
    from bench_packing import run_job, synthetic_ntuples

    from jetclass2.packing.plan import make_plan, save_plan

    inputs = synthetic_ntuples(work / "ntuples", n_jets, 6, "Res34P")
    plan = make_plan("Res34P", inputs, jets_per_file=n_jets // 6, seed=1, ntuples_per_scatter=6)
    save_plan(plan, work / "plan.json")
    sc = run_job(["scatter", str(work / "plan.json"), "--group", "0", "-o", str(work / "scatter" / "00000.arrow")], work / "scatter.log")
    ga = [run_job(["gather", str(work / "plan.json"), "--index", str(f), "--shard-dir", str(work / "scatter"), "-o",
                   str(work / "files" / name)], work / f"gather_{f}.log") for f, name in enumerate(plan["files"][:2])]
    cpu = lambda r: r["user_s"] + r["sys_s"]  # noqa: E731
    per_file = plan["jets"] / plan["n_files"]
    return {"scatter_per_jet": cpu(sc) / plan["jets"], "gather_per_jet": sum(map(cpu, ga)) / (len(ga) * per_file),
            "jets": plan["jets"], "jets_per_file": per_file, "scatter_job": cpu(sc), "gather_job": sum(map(cpu, ga)) / len(ga)}


# ---- scaling -----------------------------------------------------------------------------------

def schedule(durations: list[float], cores: int) -> float:
    """Wall time of ``durations`` on ``cores`` cores, longest first, each to the first free core."""
    free = [0.0] * min(cores, max(len(durations), 1))
    for d in sorted(durations, reverse=True):
        heapq.heapreplace(free, free[0] + d)
    return max(free) if durations else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cores", type=int, default=500, help="cores of the cluster for the wall time (default 500)")
    ap.add_argument("--quick", action="store_true", help="fewer events and jets (a smoke run; noisier figures)")
    ap.add_argument("--events", type=int, default=None, help="events per embedded job (> 100; default 500; --quick 200)")
    ap.add_argument("--yield-events", type=int, default=None, help="events of the embedded yield job (default 300; --quick 100)")
    # MadGraph's cost per batch depends on the grid point (3 batches gave the container path 0.45x the
    # reference, 8 and 12 batches 0.57-0.58x): the default samples 8 grid points per sample
    ap.add_argument("--container-batches", type=int, default=None, help="batches of 100 events per container job (>= 2: the per-batch cost is the marginal one) and per reference job (default 8; --quick 3)")
    ap.add_argument("--pack-jets", type=int, default=None, help="synthetic jets for packing (default 200000; --quick 40000)")
    ap.add_argument("--pileup-events", type=int, default=None, help="pile-up events measured, and a third of it (default 300; --quick 150)")
    ap.add_argument("--samples", nargs="+", default=["Res2P_neutral", "Res2P_charged", "Res34P", "QCD"])
    ap.add_argument("--pdf", default="builtin", choices=["builtin", "lhapdf"])
    ap.add_argument("--no-container", action="store_true", help="embedded path only (no generation stack needed)")
    ap.add_argument("--workdir", default=None, help="work directory (kept)")
    args = ap.parse_args()
    n_emb = args.events or (200 if args.quick else 500)
    if n_emb <= BATCH:
        ap.error(f"--events must be > {BATCH}")
    n_pack = args.pack_jets or (40_000 if args.quick else 200_000)
    n_pu = args.pileup_events or (150 if args.quick else 300)
    n_yield = args.yield_events or (100 if args.quick else 300)
    args.container_batches = args.container_batches or (3 if args.quick else 8)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_production_")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    full = yaml.safe_load((REPO / "config" / "jetclass2_full.yaml").read_text())
    from jetclass2.generation import samples as samples_mod
    scfg = samples_mod.load_config()
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    os.environ["NUMBA_CACHE_DIR"] = str(work / "numba")
    shutil.rmtree(work / "numba", ignore_errors=True)
    stack = Path(subprocess.run(["bash", str(REPO / "containers" / "stack-cache-dir")], capture_output=True, text=True).stdout.strip())
    have_stack = (stack / ".complete").exists() and not args.no_container
    if have_stack:
        os.environ.update(stack_env(stack))
    load0, t_start = os.getloadavg(), time.perf_counter()
    m = {}

    def step(name, fn):
        t0 = time.perf_counter()
        res = fn()
        print(f"  {name}: {time.perf_counter() - t0:.0f} s", flush=True)
        return res

    # -- once per production ------------------------------------------------------------------------
    m["warm"] = step("warm-kernels, empty cache (cold numba compilation)",
                     lambda: run(["warm-kernels", "-o", work / "numba" / "warm.ok", "-q"], work / "warm.log"))
    lib = work / "minbias.parquet"
    pu_sizes = (n_pu // 3, n_pu)  # per event = the difference of the two (Pythia's initialisation drops out)

    def pileup_library():
        cpu = [run(["pileup-library", "--events", str(k), "--seed", "1", "-o", work / f"minbias_{k}.parquet", "-q"],
                   work / f"pileup_{k}.log")["cpu"] for k in pu_sizes]
        os.replace(work / f"minbias_{n_pu}.parquet", lib)
        return {"event": (cpu[1] - cpu[0]) / (pu_sizes[1] - pu_sizes[0]), "job": cpu[0] - pu_sizes[0] * (cpu[1] - cpu[0]) / (pu_sizes[1] - pu_sizes[0])}

    m["pileup_lib"] = step(f"pile-up library, {pu_sizes} events", pileup_library)
    m["snakemake"] = step("snakemake TARGET -n (one job's start-up)", lambda: snakemake_startup(work))
    m["pack"] = step(f"packing, {n_pack} jets", lambda: packing(n_pack, work / "pack"))
    # -- per sample ---------------------------------------------------------------------------------
    qcd = {s: samples_mod.kind_of(scfg, s) == "qcd" for s in args.samples}
    m["embedded"] = {s: step(f"embedded {s}, {n_emb} + {BATCH} events; yield {n_yield} events",
                             lambda s=s: embedded(s, n_emb, n_yield, qcd[s], lib, work))
                     for s in args.samples}
    if have_stack:
        from bench_real_chain import CONVERTER

        from jetclass2.generation import container_job as cj

        pu = work / "minbias.pileup"
        cpu = []
        for k in pu_sizes:
            with Timed() as t:
                cj.make_pileup(work / f"minbias_{k}.pileup", k, 1, work / f"delphes_pileup_{k}", CONVERTER)
            cpu.append(t.cpu)
        os.replace(work / f"minbias_{n_pu}.pileup", pu)
        per = (cpu[1] - cpu[0]) / (pu_sizes[1] - pu_sizes[0])
        m["delphes_pileup"] = {"event": per, "job": cpu[0] - pu_sizes[0] * per}
        print(f"  Delphes pile-up file, {pu_sizes} events: {t.wall:.0f} s", flush=True)
        m["container"], m["reference"] = {}, {}
        cwork = work / "container"
        cwork.mkdir(exist_ok=True)
        for s in args.samples:
            m["container"][s] = step(f"container {s}", lambda s=s: container(s, args.container_batches, pu, cwork, args.pdf))
            m["reference"][s] = step(f"reference {s}", lambda s=s: reference(s, args.container_batches, pu, work, args.pdf))
            c = m["container"][s]
            nt = run(["ntuplize", c["output"], "-o", work / f"cont_{s}_jets.root", *(["--qcd-labels"] if qcd[s] else [])],
                     work / f"cont_{s}_nt.log")
            c["nt_event"] = max(nt["cpu"] - m["embedded"][s]["nt_job"], 0.0) / c["events"]
            c["measured_jets_per_event"] = _jets(work / f"cont_{s}_jets.root") / c["events"]
        ref = Reference(stack, __import__("jetclass2.generation.pileup_library", fromlist=["cache_dir"]).cache_dir() / "side_by_side")
        macro_dir = step("reference macro (compiled once, cached)", ref.compile_macro)
        (work / "macro").mkdir(exist_ok=True)
        jobs = [(m["reference"][args.samples[0]]["output"], False)] + [(m["reference"][s]["output"], qcd[s]) for s in args.samples]
        times, usage = ref.macro(macro_dir, jobs, work / "macro", float(full["ntuplizer"]["jet_radius"]), 1)
        for s, t in zip(args.samples, times[1:]):
            r = m["reference"][s]
            r["macro_event"], r["measured_jets_per_event"] = t["cpu"] / r["events"], t["jets"] / r["events"]
            r["macro_job"] = times[0]["cpu_total"] - times[0]["cpu"]  # ROOT start-up and loading the compiled macro
    load1 = os.getloadavg()

    # -- scaled to the production ---------------------------------------------------------------------
    sm = m["snakemake"]["cpu"]
    n_lib = full["detector"]["pileup_library_events"]
    pu_cost = {k: m[k]["job"] + n_lib * m[k]["event"] for k in ("pileup_lib", "delphes_pileup") if k in m}
    batches_per_job = EVENTS_PER_JOB // BATCH
    pk = m["pack"]
    paths = ["embedded"] + (["container", "reference"] if have_stack else [])
    once = {"embedded": m["warm"]["cpu"] + pu_cost["pileup_lib"],
            "container": pu_cost.get("delphes_pileup", 0.0), "reference": pu_cost.get("delphes_pileup", 0.0)}
    once_wall = {"embedded": max(m["warm"]["cpu"], pu_cost["pileup_lib"]), "container": once["container"],
                 "reference": once["reference"]}
    rows, totals = [], {}
    for p in paths:
        tot = {"cpu": once[p], "jets": 0.0, "jobs": [], "scatter": [], "gather": []}
        for s in args.samples:
            n_jobs = full["samples"][s]["jobs"]
            e = m["embedded"][s]
            if p == "embedded":
                gen_job = e["gen_job"] + EVENTS_PER_JOB * e["gen_event"]
                nt_job = e["nt_job"] + EVENTS_PER_JOB * e["nt_event"]
                jpe, sm_jobs = e["jets_per_event"], 2
            elif p == "container":
                c = m["container"][s]
                gen_job = c["job"] + batches_per_job * c["batch"]
                nt_job = e["nt_job"] + EVENTS_PER_JOB * c["nt_event"]
                jpe, sm_jobs = REFERENCE_JETS_PER_EVENT[s], 2
            else:
                r = m["reference"][s]
                gen_job = r["job"] + batches_per_job * r["batch"]
                nt_job = r["macro_job"] + EVENTS_PER_JOB * r["macro_event"]
                jpe, sm_jobs = REFERENCE_JETS_PER_EVENT[s], 0  # run.sh by hand or through a batch system
            job = gen_job + nt_job + sm_jobs * sm
            jets = n_jobs * EVENTS_PER_JOB * jpe
            files = jets / 1e5
            pack = jets * (pk["scatter_per_jet"] + pk["gather_per_jet"]) + sm * (files + n_jobs / 20)
            cpu = n_jobs * job + pack
            published = PUBLISHED_FILES[CATEGORY[s]] * 1e5 * (n_jobs / sum(full["samples"][x]["jobs"] for x in full["samples"]
                                                                          if CATEGORY[x] == CATEGORY[s]))
            rows.append({"sample": s, "path": p, "jobs": n_jobs, "gen_h": gen_job / 3600, "nt_h": nt_job / 3600, "jpe": jpe,
                         "jets": jets, "core_h": cpu / 3600, "ms_per_jet": 1e3 * cpu / jets,
                         "core_h_published": cpu / jets * published / 3600})
            tot["cpu"] += cpu
            tot["jets"] += jets
            tot["jobs"] += [job] * n_jobs
            tot["scatter"] += [pk["scatter_per_jet"] * 20 * EVENTS_PER_JOB * jpe + sm] * math.ceil(n_jobs / 20)
            tot["gather"] += [pk["gather_per_jet"] * 1e5 + sm] * math.ceil(files)
        tot["wall"] = (once_wall[p] + schedule(tot["jobs"], args.cores) + schedule(tot["scatter"], args.cores)
                       + schedule(tot["gather"], args.cores))
        totals[p] = tot

    # -- print ----------------------------------------------------------------------------------------
    print(f"\nMeasured on {os.cpu_count()} cores (shared), load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end; "
          f"benchmark {time.perf_counter() - t_start:.0f} s; work files in {work}\n")
    print("Per-job costs measured (CPU seconds, one core):\n")
    print(f"- once per production: warm-kernels (cold numba compilation of every kernel) {m['warm']['cpu']:.1f} s; minimum-bias "
          f"library {m['pileup_lib']['event'] * 1e3:.1f} ms/event -> {pu_cost['pileup_lib'] / 3600:.2f} h for {n_lib} events, one job"
          + (f"; Delphes pile-up file {m['delphes_pileup']['event'] * 1e3:.1f} ms/event -> {pu_cost['delphes_pileup'] / 3600:.2f} h"
             if have_stack else ""))
    print(f"- Snakemake start-up of one job (`snakemake TARGET -n`, full configuration): {m['snakemake']['cpu']:.1f} s CPU, "
          f"{m['snakemake']['wall']:.1f} s wall")
    print(f"- packing ({pk['jets']} synthetic jets): scatter {pk['scatter_job']:.1f} s per job, gather {pk['gather_job']:.1f} s "
          f"per file of {pk['jets_per_file']:.0f} jets -> {1e5 * (pk['scatter_per_jet'] + pk['gather_per_jet']):.1f} s per 100k-jet file")
    print("\n| sample | embedded: generate per job [s] / per event [ms] | Pythia init [s] | ntuplize per job [s] / per event [ms] "
          "| jets/event | container: MG5 output [s] / per batch [s] (MG5 launch, Pythia+Delphes) | ntuplize [ms/event] "
          "| reference: MG5 output [s] / per batch [s] | macro [ms/event] | jets/event measured (container, macro) |")
    print("| --- | --- | ---: | --- | ---: | --- | ---: | --- | ---: | --- |")
    for s in args.samples:
        e = m["embedded"][s]
        line = (f"| {s} | {e['gen_job']:.1f} / {1e3 * e['gen_event']:.1f} | {e['pythia_init']:.1f} | {e['nt_job']:.1f} / "
                f"{1e3 * e['nt_event']:.2f} | {e['jets_per_event']:.3f} |")
        if have_stack:
            c, r = m["container"][s], m["reference"][s]
            line += (f" {c['job']:.1f} / {c['batch']:.1f} ({c['madgraph']:.1f}, {c['delphes']:.1f}) | {1e3 * c['nt_event']:.2f} | "
                     f"{r['job']:.1f} / {r['batch']:.1f} | {1e3 * r['macro_event']:.2f} | {c['measured_jets_per_event']:.2f}, "
                     f"{r['measured_jets_per_event']:.2f} |")
        else:
            line += " - | - | - | - | - |"
        print(line)
    print(f"\nThe production (config/jetclass2_full.yaml: jobs of {EVENTS_PER_JOB} events, batches of {BATCH}), scaled from the above; "
          "packing and Snakemake start-up included:\n")
    print("| sample | path | jobs | CPU per job: generate + ntuplize [h] | labelled jets/event | labelled jets [M] | core-hours "
          "| CPU per labelled jet [ms] | vs reference | core-hours for the published size |")
    print("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    by = {(r["sample"], r["path"]): r for r in rows}
    for r in rows:
        ref_r = by.get((r["sample"], "reference"))
        vs = f"{r['ms_per_jet'] / ref_r['ms_per_jet']:.3f}x" if ref_r else "-"
        print(f"| {r['sample']} | {r['path']} | {r['jobs']} | {r['gen_h']:.2f} + {r['nt_h']:.3f} | {r['jpe']:.3f} | "
              f"{r['jets'] / 1e6:.1f} | {r['core_h']:,.0f} | {r['ms_per_jet']:.1f} | {vs} | {r['core_h_published']:,.0f} |")
    print(f"\n| path | core-hours | labelled jets [M] | CPU per labelled jet [ms] | vs reference | wall on {args.cores} cores [h] |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for p, t in totals.items():
        per_jet = 1e3 * t["cpu"] / t["jets"]
        vs = f"{per_jet / (1e3 * totals['reference']['cpu'] / totals['reference']['jets']):.3f}x" if "reference" in totals else "-"
        print(f"| {p} | {t['cpu'] / 3600:,.0f} | {t['jets'] / 1e6:.1f} | {per_jet:.2f} | {vs} | {t['wall'] / 3600:.2f} |")
    e_jobs = sum(full["samples"][s]["jobs"] for s in args.samples)
    print(f"\nWithout the shared numba cache (on a fresh node every job pair, generate then ntuplize, compiles the kernels "
          f"again: about warm-kernels' CPU): +{e_jobs * m['warm']['cpu'] / 3600:,.0f} core-hours ({e_jobs} x {m['warm']['cpu']:.0f} s).")
    print("\nTargets (issue 24):")
    if "reference" in totals:
        ref_jet = totals["reference"]["cpu"] / totals["reference"]["jets"]
        c_ratio = totals["container"]["cpu"] / totals["container"]["jets"] / ref_jet
        e_factor = ref_jet / (totals["embedded"]["cpu"] / totals["embedded"]["jets"])
        print(f"- container <= {TARGETS['container_vs_reference']}x the reference per labelled jet: {c_ratio:.3f}x "
              f"{'met' if c_ratio <= TARGETS['container_vs_reference'] else 'NOT met'}")
        print(f"- embedded >= {TARGETS['embedded_factor']:.0f}x cheaper per labelled jet than the reference: {e_factor:.1f}x "
              f"{'met' if e_factor >= TARGETS['embedded_factor'] else 'NOT met'}")
        print(f"- container on {args.cores} cores < {TARGETS['container_hours']:.0f} h: {totals['container']['wall'] / 3600:.1f} h "
              f"{'met' if totals['container']['wall'] / 3600 < TARGETS['container_hours'] else 'NOT met'}")
    print(f"- embedded on {args.cores} cores < {TARGETS['embedded_hours']:.0f} h: {totals['embedded']['wall'] / 3600:.2f} h "
          f"{'met' if totals['embedded']['wall'] / 3600 < TARGETS['embedded_hours'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
