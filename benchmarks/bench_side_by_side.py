"""Side by side, in one run, on the same inputs: our tools against the reference tools.

1. ``ntuplize`` vs the reference macro ``makeNtuples.C`` (shared/toolchain analyzers, compiled with
   ACLiC against the stack's Delphes) on fresh real Delphes 3.5.0 files of every sample
   (``DelphesPythia8`` with the JetClass-II card, 50 pile-up from a minimum-bias file made with
   Pythia ``SoftQCD:inelastic`` and ``root2pileup``), QCD with QCD labels.
2. The fast simulation (``jetclass2.fastsim.cli.resimulate``) vs Delphes (``DelphesROOT``, same card) on the
   ``Particle`` branch of the first ``--sim-events`` events of the same files.
3. The embedded chain (``generate``: Pythia via pythia8mc, record conversion, fast simulation,
   writing; then ``ntuplize``) vs ``DelphesPythia8`` (Pythia + Delphes) then the macro, same grid
   point and Pythia settings, ``--chain-events`` events per sample.

Every tool runs in its own process pinned to one core. Our tools and the macro are timed in
process (CPU time: the machine is shared, so wall time would mostly measure the neighbours);
the executables (generate, DelphesPythia8, DelphesROOT) by the CPU time of their process.
Per event = (time on N events - time on the same kind of input without events) / N, so start-up
and the per-file cost of opening an input are reported apart. Peak memory is the largest
resident set of any process of that tool.

Inputs are made once and cached under ``$JETCLASS2_CACHE/side_by_side`` (the first run takes
several minutes more). Without the generation stack (``containers/stack-cache-dir``, built by
``containers/install-generation-stack.sh``) the reference columns are skipped, with the reason.

Usage: python benchmarks/bench_side_by_side.py [--events 300] [--sim-events 100] [--chain-events 100] [--rounds 3]
                                               [--samples S ...] [--json out.json]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT_DIR))



from jetclass2.resources import shared_dir  # noqa: E402

TOOLCHAIN = shared_dir() / "toolchain"
CARD = ROOT_DIR / "cards" / "delphes" / "delphes_card_CMS_JetClassII_onlyFatJet.tcl"
JOB, SEED, MIN_PT = 0, 1, 500.0  # grid point: job 0 of each sample among the points with pT_min >= 500 GeV
MINBIAS_EVENTS = 1000
WARMUP_EVENTS = 10
CHAIN_PASSES = 3  # timed passes of ntuplize and the macro over the chains' (small) outputs
EMPTY_RUNS = 3  # the input without events is timed this often per pass (it is subtracted once per sample)
SIM_PASSES = 2  # passes of resimulate over its inputs (the fastest time of each counts)


# ---- processes ---------------------------------------------------------------------------------

def _pin():
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def run(argv, log: Path, cwd=None, env=None) -> dict:
    """Run ``argv`` on one core; its CPU time (user + system), wall time and peak memory."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen([str(a) for a in argv], stdout=f, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                preexec_fn=_pin)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-4:])
        raise RuntimeError(f"{' '.join(map(str, argv))[:160]} failed (exit {code}); log {log}: {tail}")
    return {"cpu": usage.ru_utime + usage.ru_stime, "wall": wall, "rss_mb": usage.ru_maxrss / 1024}


def stack_env(stack: Path) -> dict:
    out = subprocess.run(["bash", "-c", f". '{stack}/setup.sh' && env -0"], capture_output=True, check=True).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def digest(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(str(p).encode())
    return h.hexdigest()[:12]


def atomic_run(target: Path, make) -> Path:
    """``target`` if it exists, else made by ``make(tmp_path)`` and renamed."""
    if not target.exists():
        tmp = target.with_name(target.stem + ".tmp" + target.suffix)
        tmp.unlink(missing_ok=True)
        make(tmp)
        os.replace(tmp, target)
    return target


# ---- the reference side -----------------------------------------------------------------------

ROOT_HELPERS = r"""
void subset(const char* in, const char* out, Long64_t n) {
  gSystem->Load("libDelphes");
  TFile f(in); TTree* t = (TTree*)f.Get("Delphes");
  TFile o(out, "RECREATE"); TTree* s = t->CloneTree(n); s->Write(); o.Close();
}
"""

BENCH_MACRO = r"""
#include <sys/resource.h>
#include <chrono>
#include <fstream>
#include "makeNtuples.C"
static double cpu_now() {
  rusage r; getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_stime.tv_sec + 1e-6 * (r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}
void bench_macro(const char* list) {
  std::ifstream in(list);
  std::string src, out, jet, genjet; int qcd;
  while (in >> src >> out >> jet >> genjet >> qcd) {
    double c0 = cpu_now(); auto w0 = std::chrono::steady_clock::now();
    makeNtuples(src, out, jet, genjet, qcd != 0, false);
    double c1 = cpu_now();
    double w = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    printf("BENCH %s %.6f %.6f %.6f\n", src.c_str(), c1 - c0, w, c1); fflush(stdout);
  }
}
"""


class Reference:
    """The generation stack: Delphes inputs, the compiled macro and the reference timings."""

    def __init__(self, stack: Path, cache: Path):
        self.stack, self.cache = stack, cache
        self.env = stack_env(stack)
        self.helpers = cache / "helpers"
        self.helpers.mkdir(parents=True, exist_ok=True)
        (self.helpers / "subset.C").write_text(ROOT_HELPERS)

    def root(self, lines: list[str], log: Path, cwd: Path) -> dict:
        """``root -b -q`` executing ``lines`` one after the other."""
        argv = ["root", "-b", "-q", "-l"]
        for line in lines:
            argv += ["-e", line]
        return run(argv, log, cwd=cwd, env=self.env)

    def subset(self, src: Path, n: int, target: Path) -> Path:
        """The first ``n`` events of ``src`` (all branches), for inputs without or with few events."""
        return atomic_run(target, lambda tmp: self.root([f'.x {self.helpers}/subset.C("{src}", "{tmp}", {n})'],
                                                         tmp.with_suffix(".log"), self.helpers))

    def minbias(self, cfg) -> Path:
        from jetclass2.generation import samples

        values = {"sqrt_s": cfg["sqrt_s_gev"], "seed": samples.job_seed(SEED, "side-by-side-minbias", 0)}
        cmnd = samples.render_card("cards/pythia/common.cmnd", values) + samples.render_card(cfg["pileup"]["pythia_card"], values)
        cmnd.append(f"Main:numberOfEvents = {MINBIAS_EVENTS}")
        d = self.cache / f"minbias_{MINBIAS_EVENTS}_{digest(cmnd, self.stack)}"
        d.mkdir(parents=True, exist_ok=True)

        def make(tmp: Path):
            print(f"  making the Delphes pile-up file: {MINBIAS_EVENTS} minimum-bias events -> {d}", flush=True)
            (d / "minbias.cmnd").write_text("\n".join(cmnd) + "\n")
            (d / "minbias.root").unlink(missing_ok=True)
            card = Path(self.env["DELPHES_DIR"]) / "cards" / "converter_card.tcl"
            run(["DelphesPythia8", card, "minbias.cmnd", "minbias.root"], d / "minbias.log", d, self.env)
            run(["root2pileup", tmp, "minbias.root"], d / "root2pileup.log", d, self.env)
            (d / "minbias.root").unlink()

        return atomic_run(d / "minbias.pileup", make)

    def card(self, pileup: Path) -> Path:
        text = CARD.read_text().replace("set PileUpFile MinBias_100k.pileup", f"set PileUpFile {pileup}")
        path = self.cache / f"card_{digest(text)}.tcl"
        if not path.exists():
            path.write_text(text)
        return path

    def delphes_pythia8(self, card: Path, cmnd: list[str], n: int, out: Path, log: Path, hard: tuple | None = None) -> dict:
        """DelphesPythia8 on ``cmnd``; ``hard`` = (commands, generator options) of a hard process only our
        Pythia has (X pairs): its events go in as an LHE file written here, whose CPU time is added."""
        cmnd_file = out.with_suffix(".cmnd")
        lines, cpu = cmnd + [f"Main:numberOfEvents = {n}"], 0.0
        if hard is not None and n > 0:
            from jetclass2.generation.pythia_driver import PythiaGenerator

            t0 = time.process_time()
            lhe = out.with_suffix(".lhe")
            off = ["PartonLevel:all = off", "HadronLevel:all = off", "ProcessLevel:resonanceDecays = off"]
            PythiaGenerator(hard[0] + off, **hard[1]).write_lhe(lhe, n)
            cpu = time.process_time() - t0
            lines += ["Beams:frameType = 4", f"Beams:LHEF = {lhe}"]
        cmnd_file.write_text("\n".join(lines) + "\n")
        out.unlink(missing_ok=True)
        result = run(["DelphesPythia8", card, cmnd_file, out], log, out.parent, self.env)
        result["cpu"] += cpu
        return result

    def compile_macro(self) -> Path:
        tarball = sorted(TOOLCHAIN.glob("jetclass2_generation-*-analyzers.tar.gz"))[-1]
        d = self.cache / f"macro_{digest(tarball.read_bytes().hex(), BENCH_MACRO, self.stack)}"
        if not (d / ".compiled").exists():
            print(f"  compiling the reference macro ({tarball.name}) with ACLiC -> {d}", flush=True)
            d.mkdir(parents=True, exist_ok=True)
            with tarfile.open(tarball) as tar:
                for m in tar.getmembers():
                    if m.isfile() and "/delphes_analyzers/" in m.name:
                        m.name = Path(m.name).name
                        tar.extract(m, d)
            (d / "bench_macro.C").write_text(BENCH_MACRO)
            self.root(['gSystem->Load("libDelphes")', 'if (gROOT->LoadMacro("bench_macro.C+") != 0) gSystem->Exit(1)'],
                      d / "compile.log", d)
            (d / ".compiled").touch()
        return d

    def macro(self, macro_dir: Path, jobs: list[tuple[Path, bool]], out_dir: Path, radius: float,
              repeat: int) -> tuple[list[dict], dict]:
        """Time makeNtuples on each (input, qcd) in one ROOT process: the first job warms up, the
        others are run 1 + ``repeat`` times and the fastest of the last ``repeat`` counts.
        Returns per-job times (and jets written) and the process usage."""
        jet, genjet = ("JetPUPPIAK8", "GenJetAK8") if radius == 0.8 else ("JetPUPPIAK15", "GenJetAK15")
        lst = out_dir / "macro_jobs.txt"
        order = [0] + list(range(1, len(jobs))) * (1 + repeat)
        lines = [f"{jobs[i][0]} {out_dir / f'macro_{i}.root'} {jet} {genjet} {int(jobs[i][1])}" for i in order]
        lst.write_text("\n".join(lines) + "\n")
        log = out_dir / "macro.log"
        usage = self.root(['gSystem->Load("libDelphes")', 'gROOT->LoadMacro("bench_macro.C+")', f'bench_macro("{lst}")'],
                          log, macro_dir)
        times = []
        for line in log.read_text().splitlines():
            if line.startswith("BENCH "):
                _, src, cpu, wall, total = line.split()
                times.append({"input": src, "cpu": float(cpu), "wall": float(wall), "cpu_total": float(total)})
        if len(times) != len(order):
            raise RuntimeError(f"macro timed {len(times)} of {len(order)} runs; see {log}")
        best = [times[0]] + [None] * (len(jobs) - 1)
        for k, (i, t) in enumerate(zip(order, times)):
            if k >= len(jobs) and (best[i] is None or t["cpu"] < best[i]["cpu"]):
                best[i] = t
        import uproot

        for i, t in enumerate(best):
            with uproot.open(out_dir / f"macro_{i}.root") as f:
                t["jets"] = f["tree"].num_entries
        return best, usage


# ---- our side (worker processes) -----------------------------------------------------------------

def worker(kind: str, spec: dict) -> dict:
    """Runs inside a pinned child process: warm up, then time each input in process."""
    import resource

    out = Path(spec["out"])
    res = {"startup_cpu": None, "runs": []}
    if kind == "ntuplize":
        from jetclass2.ntuplizer import ntuplize

        ntuplize([spec["warmup"]], out / "warmup.root", jet_radius=spec["radius"])
        res["startup_cpu"] = time.process_time()
        # one pass over every input first (lazy initialisations), then the timed passes: the fastest counts
        for rep in range(1 + spec["repeat"]):
            for i, (path, qcd) in enumerate(spec["inputs"]):
                c0, w0 = time.process_time(), time.perf_counter()
                s = ntuplize([path], out / f"ntuple_{i}.root", jet_radius=spec["radius"], qcd_labels=qcd)
                run = {"input": path, "cpu": time.process_time() - c0, "wall": time.perf_counter() - w0,
                       "events": s.events, "jets": s.jets}
                if rep == 1:
                    res["runs"].append(run)
                elif rep > 1 and run["cpu"] < res["runs"][i]["cpu"]:
                    res["runs"][i] = run
    elif kind == "fastsim":
        from jetclass2.fastsim.cli import resimulate
        from jetclass2.fastsim.detector import Simulator, load_card
        from jetclass2.generation.pileup_library import default_pileup_library

        card = load_card(None)
        sim = Simulator(card, default_pileup_library(card["pileup"]["library_events"]), mean_pileup=card["pileup"]["mean"],
                        seed=SEED)
        resimulate(spec["warmup"], out / "warmup.root", sim)
        res["startup_cpu"] = time.process_time()
        # ``passes`` passes over the inputs; the fastest time of each input counts (the load drifts)
        for rep in range(spec["passes"]):
            for i, path in enumerate(spec["inputs"]):
                c0, w0 = time.process_time(), time.perf_counter()
                resimulate(path, out / f"fastsim_{i}.root", sim)
                run = {"input": path, "cpu": time.process_time() - c0, "wall": time.perf_counter() - w0}
                if rep == 0:
                    res["runs"].append(run)
                elif run["cpu"] < res["runs"][i]["cpu"]:
                    res["runs"][i] = run
    elif kind == "generate":
        from jetclass2.fastsim.job import main as generate

        def timed(sample, n, out):
            argv = ["--sample", sample, "--job", str(JOB), "--seed", str(SEED), "--min-pt", str(MIN_PT), "--events", str(n),
                    "--events-per-grid-point", str(max(n, 1)), "-o", out, "-q"]  # one grid point, as the real side
            c0, w0 = time.process_time(), time.perf_counter()
            if generate(argv) != 0:
                raise RuntimeError(f"generate {' '.join(argv)} failed")
            return {"cpu": time.process_time() - c0, "wall": time.perf_counter() - w0, "events": n}

        timed(spec["samples"][0], WARMUP_EVENTS, str(out / "generate_warmup.root"))
        res["startup_cpu"] = time.process_time()
        for sample in spec["samples"]:
            # a job without events: the per-job cost (Pythia initialisation, pile-up library, ...)
            res["runs"].append({"sample": sample, "empty": timed(sample, 0, str(out / f"generate_{sample}_0.root")),
                                "full": timed(sample, spec["events"], str(out / f"generate_{sample}.root"))})
    res["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


def run_worker(kind: str, spec: dict, log: Path) -> tuple[dict, dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT_DIR), os.environ.get("PYTHONPATH", "")])}
    usage = run([sys.executable, Path(__file__).resolve(), "--worker", kind, json.dumps(spec)], log, ROOT_DIR, env)
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("WORKER ")]
    if not lines:
        raise RuntimeError(f"{kind} worker printed no result; see {log}")
    return json.loads(lines[-1][len("WORKER "):]), usage


# ---- figures -------------------------------------------------------------------------------------

def per_event(runs: list[dict], empty_cpu: float, n_events: list[int]) -> float:
    """CPU seconds per event beyond the cost of the same kind of input without events."""
    return sum(r["cpu"] - empty_cpu for r in runs) / sum(n_events)


def fmt_rate(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def table(rows: list[tuple]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    out = []
    for k, r in enumerate(rows):
        out.append("| " + " | ".join(str(c).ljust(widths[i]) for i, c in enumerate(r)) + " |")
        if k == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def ratio(ours: float | None, theirs: float | None, higher_is_better: bool = True) -> str:
    if not ours or not theirs:
        return "-"
    return f"{(ours / theirs if higher_is_better else theirs / ours):.2f}x"


# ---- main ----------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=300, help="events per sample for ntuplize vs macro")
    ap.add_argument("--sim-events", type=int, default=100, help="events per sample for fast simulation vs Delphes")
    ap.add_argument("--chain-events", type=int, default=100, help="events per sample for the whole chains")
    ap.add_argument("--repeat", type=int, default=1, help="timed passes of ntuplize and the macro per process (after one untimed pass)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating processes of ntuplize and the macro on the real files")
    ap.add_argument("--samples", nargs="*", default=None, help="default: every sample of config/samples.yaml")
    ap.add_argument("--radius", type=float, default=0.8, choices=[0.8, 1.5])
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument("--sections", nargs="*", type=int, default=[1, 2, 3], help="which comparisons to run (default all)")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.repeat < 1 or args.rounds < 1:
        ap.error("--repeat and --rounds must be >= 1")
    if args.worker:
        print("WORKER " + json.dumps(worker(args.worker[0], json.loads(args.worker[1]))), flush=True)
        return 0

    from jetclass2.generation import samples
    from jetclass2.generation.pileup_library import cache_dir

    cfg = samples.load_config()
    names = args.samples or list(cfg["samples"])
    cache = cache_dir() / "side_by_side"
    cache.mkdir(parents=True, exist_ok=True)
    stack = Path(subprocess.run([ROOT_DIR / "containers" / "stack-cache-dir"], capture_output=True, text=True,
                                check=True).stdout.strip())
    ref, reason = None, None
    if not (stack / ".complete").exists():
        reason = f"generation stack not built ({stack}/.complete missing; containers/install-generation-stack.sh)"
    elif not sorted(TOOLCHAIN.glob("jetclass2_generation-*-analyzers.tar.gz")):
        reason = f"no reference analyzers tarball in {TOOLCHAIN}"
    else:
        ref = Reference(stack, cache)
    t_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="side_by_side_"))
    points, hard = {}, {}
    for name in names:
        # the first batch of ``generate --job JOB --seed SEED --min-pt MIN_PT``: its grid point and Pythia seed
        first = samples.job_batches(cfg, name, JOB, args.chain_events, SEED, None, MIN_PT)[0]
        points[name] = (first.point, samples.pythia_commands(cfg, first.point, first.pythia_seed))
        options = samples.generator_options(cfg, name)
        hard[name] = (points[name][1], options) if options.get("process_card") else None
    qcd_of = {n: cfg["samples"][n].get("kind") == "qcd" or ("resonance" not in cfg["samples"][n]) for n in names}
    figures = {"samples": {n: p.describe() for n, (p, _) in points.items()}, "reference_skipped": reason}
    print(f"side-by-side benchmark, {len(names)} samples: " + ", ".join(figures["samples"].values()), flush=True)

    # -- inputs: fresh real Delphes files (cached) --------------------------------------------
    inputs = {}
    if ref:
        pileup = ref.minbias(cfg)
        card = ref.card(pileup)
        for name, (_, cmnd) in points.items():
            d = cache / f"{name}_{args.events}_{digest(cmnd, card.read_text(), stack)}"
            d.mkdir(parents=True, exist_ok=True)

            def make(tmp, d=d, cmnd=cmnd, name=name):
                print(f"  DelphesPythia8: {args.events} events of {name} -> {d}", flush=True)
                ref.delphes_pythia8(card, cmnd, args.events, tmp, d / "delphes.log", hard[name])

            full = atomic_run(d / "delphes.root", make)
            inputs[name] = {"full": full, "empty": ref.subset(full, 0, d / "empty.root"),
                            "warmup": ref.subset(full, WARMUP_EVENTS, d / f"head_{WARMUP_EVENTS}.root"),
                            "sim": ref.subset(full, args.sim_events, d / f"head_{args.sim_events}.root")}
        macro_dir = ref.compile_macro()
    print(f"  inputs ready after {time.perf_counter() - t_start:.0f} s", flush=True)

    # -- 1. ntuplize vs macro ------------------------------------------------------------------------
    rows1 = [("", "events", "jets", "events/s per core", "jets/s per core", "start-up [s]", "per input file [s]", "peak memory [MB]")]
    if ref and 1 in args.sections:
        first = names[0]
        jobs = [(inputs[first]["warmup"], False)] + [(inputs[n]["full"], qcd_of[n]) for n in names] + \
               [(inputs[first]["empty"], False)] * EMPTY_RUNS
        spec = {"warmup": str(inputs[first]["warmup"]), "radius": args.radius, "out": str(work), "repeat": args.repeat,
                "inputs": [(str(p), q) for p, q in jobs[1:]]}
        # the two tools take turns, ``--rounds`` times (a shared machine's load drifts): the
        # fastest time of each input over the rounds counts
        ours = theirs = None
        for _ in range(args.rounds):
            o, ou = run_worker("ntuplize", spec, work / "ntuplize.log")
            t, tu = ref.macro(macro_dir, jobs, work, args.radius, args.repeat)
            if ours is None:
                ours, ours_usage, theirs, theirs_usage = o, ou, t, tu
                continue
            ours["runs"] = [min(a, b, key=lambda r: r["cpu"]) for a, b in zip(ours["runs"], o["runs"])]
            theirs = [min(a, b, key=lambda r: r["cpu"]) for a, b in zip(theirs, t)]
            ours["startup_cpu"] = min(ours["startup_cpu"], o["startup_cpu"])
            ours["rss_mb"] = max(ours["rss_mb"], o["rss_mb"])
            ours_usage["rss_mb"] = max(ours_usage["rss_mb"], ou["rss_mb"])
            theirs_usage["rss_mb"] = max(theirs_usage["rss_mb"], tu["rss_mb"])
        k = len(names)
        o_runs, m_runs = ours["runs"][:k], theirs[1:k + 1]
        n_events = [r["events"] for r in o_runs]
        n_jets = [r["jets"] for r in o_runs]
        m_jets = [t["jets"] for t in m_runs]
        o_empty = min(r["cpu"] for r in ours["runs"][k:])
        m_empty = min(t["cpu"] for t in theirs[k + 1:])
        o_ev = per_event(o_runs, o_empty, n_events)
        m_ev = per_event(m_runs, m_empty, n_events)
        o_all = sum(r["cpu"] for r in o_runs) / sum(n_events)
        m_all = sum(t["cpu"] for t in m_runs) / sum(n_events)
        rows1 += [
            ("ntuplize", sum(n_events), sum(n_jets), fmt_rate(1 / o_ev), fmt_rate(sum(n_jets) / sum(n_events) / o_ev),
             f"{ours['startup_cpu']:.2f}", f"{o_empty:.3f}", f"{max(ours['rss_mb'], ours_usage['rss_mb']):.0f}"),
            ("makeNtuples.C", sum(n_events), sum(m_jets), fmt_rate(1 / m_ev), fmt_rate(sum(m_jets) / sum(n_events) / m_ev),
             f"{theirs[0]['cpu_total']:.2f}", f"{m_empty:.3f}",
             f"{theirs_usage['rss_mb']:.0f}"),
            ("ratio ntuplize/macro", "", "", ratio(1 / o_ev, 1 / m_ev), ratio(sum(n_jets) / o_ev, sum(m_jets) / m_ev), "", "", ""),
            ("incl. opening the input", "", "", f"{1 / o_all:,.0f} vs {1 / m_all:,.0f}", "", "", "", ""),
        ]
        figures["ntuplize"] = {"ours_s_per_event": o_ev, "macro_s_per_event": m_ev, "ours_all_in_s_per_event": o_all,
                               "macro_all_in_s_per_event": m_all, "events": sum(n_events), "jets": sum(n_jets),
                               "macro_jets": sum(m_jets), "per_sample": {
                                   n: {"events": r["events"], "jets": r["jets"], "macro_jets": t["jets"],
                                       "ours_cpu": r["cpu"], "macro_cpu": t["cpu"]}
                                   for n, r, t in zip(names, o_runs, m_runs)},
                               "ours_startup_cpu": ours["startup_cpu"], "ours_empty_cpu": o_empty, "macro_empty_cpu": m_empty,
                               "ours_rss_mb": max(ours["rss_mb"], ours_usage["rss_mb"]), "macro_rss_mb": theirs_usage["rss_mb"]}
    print(f"  [1] ntuplize vs macro done after {time.perf_counter() - t_start:.0f} s", flush=True)

    # -- 2. fast simulation vs Delphes ------------------------------------------------------------------
    rows2 = [("", "events", "ms/event per core", "start-up [s]", "peak memory [MB]")]
    if ref and 2 in args.sections:
        first = names[0]
        spec = {"warmup": str(inputs[first]["warmup"]), "out": str(work),
                "inputs": [str(inputs[n]["sim"]) for n in names] + [str(inputs[first]["empty"])] * EMPTY_RUNS,
                "passes": SIM_PASSES}
        ours, ours_usage = run_worker("fastsim", spec, work / "fastsim.log")
        n_sim = [args.sim_events] * len(names)
        f_ev = per_event(ours["runs"][:len(names)], min(r["cpu"] for r in ours["runs"][len(names):]), n_sim)
        d_runs = [run(["DelphesROOT", card, work / f"delphesroot_{n}.root", inputs[n]["sim"]], work / f"delphesroot_{n}.log",
                      work, ref.env) for n in names]
        d_empty = min((run(["DelphesROOT", card, work / f"delphesroot_empty_{i}.root", inputs[first]["empty"]],
                           work / f"delphesroot_empty_{i}.log", work, ref.env) for i in range(EMPTY_RUNS)), key=lambda r: r["cpu"])
        d_ev = per_event(d_runs, d_empty["cpu"], n_sim)
        rows2 += [("fastsim (resimulate)", sum(n_sim), f"{1e3 * f_ev:.1f}", f"{ours['startup_cpu']:.2f}",
                   f"{max(ours['rss_mb'], ours_usage['rss_mb']):.0f}"),
                  ("Delphes (DelphesROOT)", sum(n_sim), f"{1e3 * d_ev:.1f}", f"{d_empty['cpu']:.2f}",
                   f"{max(r['rss_mb'] for r in d_runs + [d_empty]):.0f}"),
                  ("ratio Delphes/fastsim", "", ratio(f_ev, d_ev, higher_is_better=False), "", "")]
        figures["simulation"] = {"fastsim_s_per_event": f_ev, "delphes_s_per_event": d_ev,
                                 "fastsim_startup_cpu": ours["startup_cpu"], "delphes_startup_cpu": d_empty["cpu"],
                                 "fastsim_rss_mb": max(ours["rss_mb"], ours_usage["rss_mb"]),
                                 "delphes_rss_mb": max(r["rss_mb"] for r in d_runs + [d_empty])}
    print(f"  [2] simulation done after {time.perf_counter() - t_start:.0f} s", flush=True)

    # -- 3. whole chains ---------------------------------------------------------------------------------
    rows3 = [("", "events", "generate+simulate [ms/event]", "ntuplize [ms/event]", "chain [ms/event]",
              "start-up [s]", "peak memory [MB]")]
    if 3 in args.sections:
        k = args.chain_events
        gen, gen_usage = run_worker("generate", {"samples": names, "events": k, "out": str(work)}, work / "generate.log")
        g_ev = sum(r["full"]["cpu"] - r["empty"]["cpu"] for r in gen["runs"]) / (k * len(names))
        g_job = sum(r["empty"]["cpu"] for r in gen["runs"]) / len(names)
        gen_files = [work / f"generate_{n}.root" for n in names]
        spec = {"warmup": str(work / "generate_warmup.root"), "radius": args.radius, "out": str(work), "repeat": CHAIN_PASSES,
                "inputs": [(str(p), qcd_of[n]) for n, p in zip(names, gen_files)] +
                          [(str(work / f"generate_{names[0]}_0.root"), False)] * EMPTY_RUNS}
        ours, ours_usage = run_worker("ntuplize", spec, work / "ntuplize_chain.log")
        nt_ev = per_event(ours["runs"][:len(names)], min(r["cpu"] for r in ours["runs"][len(names):]), [k] * len(names))
        rows3.append(("embedded: generate, ntuplize", k * len(names), f"{1e3 * g_ev:.1f}", f"{1e3 * nt_ev:.1f}",
                      f"{1e3 * (g_ev + nt_ev):.1f}", f"{gen['startup_cpu']:.1f} + {ours['startup_cpu']:.1f}; {g_job:.1f} per job",
                      f"{max(gen['rss_mb'], gen_usage['rss_mb'], ours['rss_mb'], ours_usage['rss_mb']):.0f}"))
        figures["chain"] = {"generate_s_per_event": g_ev, "ntuplize_s_per_event": nt_ev, "generate_startup_cpu": gen["startup_cpu"],
                            "generate_job_cpu": g_job, "generate_rss_mb": max(gen["rss_mb"], gen_usage["rss_mb"])}
        if ref:
            dp_runs, dp_empty, dp_files = [], [], []
            for name in names:
                out = work / f"delphespythia8_{name}.root"
                dp_runs.append(ref.delphes_pythia8(card, points[name][1], k, out, work / f"delphespythia8_{name}.log", hard[name]))
                dp_empty.append(ref.delphes_pythia8(card, points[name][1], 0, work / f"delphespythia8_{name}_0.root",
                                                    work / f"delphespythia8_{name}_0.log"))
                dp_files.append(out)
            r_ev = sum(r["cpu"] - e["cpu"] for r, e in zip(dp_runs, dp_empty)) / (k * len(names))
            jobs = [(inputs[names[0]]["warmup"], False)] + [(p, qcd_of[n]) for n, p in zip(names, dp_files)] + \
                   [(work / f"delphespythia8_{names[0]}_0.root", False)] * EMPTY_RUNS
            (work / "chain_macro").mkdir()
            theirs, theirs_usage = ref.macro(macro_dir, jobs, work / "chain_macro", args.radius, CHAIN_PASSES)
            m_ev = per_event(theirs[1:len(names) + 1], min(t["cpu"] for t in theirs[len(names) + 1:]), [k] * len(names))
            r_start = sum(e["cpu"] for e in dp_empty) / len(names)
            rows3.append(("real: DelphesPythia8, macro", k * len(names), f"{1e3 * r_ev:.1f}", f"{1e3 * m_ev:.1f}",
                          f"{1e3 * (r_ev + m_ev):.1f}", f"{r_start:.1f} per job + {theirs[0]['cpu_total']:.1f}",
                          f"{max(max(r['rss_mb'] for r in dp_runs), theirs_usage['rss_mb']):.0f}"))
            rows3.append(("ratio real/embedded", "", ratio(g_ev, r_ev, False), ratio(nt_ev, m_ev, False),
                          ratio(g_ev + nt_ev, r_ev + m_ev, False), "", ""))
            figures["chain"].update({"real_generate_s_per_event": r_ev, "macro_s_per_event": m_ev, "real_startup_cpu": r_start,
                                     "real_rss_mb": max(r["rss_mb"] for r in dp_runs)})
    print(f"  [3] chains done after {time.perf_counter() - t_start:.0f} s\n", flush=True)

    # -- the table ---------------------------------------------------------------------------------------
    print(f"Side by side on this machine ({os.cpu_count()} cores, shared), one core per process, CPU time; "
          f"R = {args.radius}; per event = beyond an input without events.")
    if reason:
        print(f"Reference columns skipped: {reason}.")
    print(f"\n1. ntuplize vs the reference macro makeNtuples.C, {args.events} fresh real Delphes 3.5.0 events per sample\n")
    print(table(rows1) if len(rows1) > 1 else "   (skipped)")
    print(f"\n2. fast simulation vs Delphes 3.5.0 (same card, 50 pile-up), Particle branch of {args.sim_events} events per sample\n")
    print(table(rows2) if len(rows2) > 1 else "   (skipped)")
    print(f"\n3. whole chain per event, {args.chain_events} events per sample (same grid points and Pythia settings)\n")
    print(table(rows3) if len(rows3) > 1 else "   (skipped)")
    print(f"\nbenchmark wall time {time.perf_counter() - t_start:.0f} s; work files in {work}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
