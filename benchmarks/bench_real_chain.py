"""Cost of the container backend's real chain (MadGraph5_aMC@NLO -> Pythia 8 -> Delphes 3.5.0), natively.

Needs the generation stack on PATH (``. "$(containers/stack-cache-dir)/setup.sh"``). For each sample,
two jobs of two batches each go through ``run-container-job``'s steps (jetclass2.generation.container_job),
one with ``--small`` and one with ``--large`` events per grid point; a step's time per batch is
fitted as ``t = a + b * events`` over the two sizes: ``a`` is the per-batch overhead (MadGraph's
survey, re-compilation and start-up; Pythia and Delphes initialisation), ``b`` the cost per event.
Pythia alone is timed by re-running each kept batch through DelphesPythia8 with the pile-up
converter card (no detector), so Delphes = (Pythia + Delphes) - Pythia alone. Per job, once:
MadGraph's process output. MadGraph runs as in production (one session for the job's batches, each
launch recompiling what its cards change: a 2-batch job's per-batch figure holds half the job's first
compilation; benchmarks/validate_mg5_speedup.py measures the marginal cost of a batch), or with
``--madgraph-per-batch`` one process per batch recompiling everything (the reference's way). CPU time counts this process and its children and does not depend on
how loaded the machine is; wall time does.

    python benchmarks/bench_real_chain.py [--samples Res2P_neutral QCD] [--small 20] [--large 100] [--madgraph-per-batch]
"""
from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

from jetclass2.generation import container_job

REPO = Path(__file__).resolve().parents[1]
DELPHES_CARD = REPO / "cards" / "delphes" / "delphes_card_CMS_JetClassII_onlyFatJet.tcl"
CONVERTER = REPO / "cards" / "delphes" / "pileup_converter.tcl"


def pythia_alone(bdir: Path) -> dict:
    """DelphesPythia8 on a kept batch with the converter card: Pythia (and writing its particles) only."""
    steps = container_job.Steps(bdir.name)
    shutil.copyfile(CONVERTER, bdir / "converter_card.tcl")
    (bdir / "pythia_only.root").unlink(missing_ok=True)
    with steps.timed("pythia"):
        steps.run("Pythia alone", ["DelphesPythia8", "converter_card.tcl", "pythia8.cmnd", "pythia_only.root"], bdir,
                  bdir / "pythia_only.log")
    return steps.times["pythia"]


def run(sample: str, epg: int, pileup: Path, work: Path, pdf: str, per_batch: bool = False, batches: int = 2,
        pythia: bool = True) -> dict:
    """One job of ``batches`` batches of ``epg`` events: per step, the mean time per batch (and the process
    output, the merge); the job's Delphes file stays as ``work/SAMPLE_EPG.root``. MadGraph's batches run in
    sessions (``per_batch=False``, the job driver's default; a session's first batch compiles the process)
    or one process per batch (``per_batch=True``, as the reference did)."""
    wd = work / f"{sample}_{epg}"
    t = container_job.run_job(sample, 0, batches * epg, 1, work / f"{sample}_{epg}.root", DELPHES_CARD, pileup, wd,
                              events_per_grid_point=epg, pdf=pdf, keep_workdir=True, madgraph_per_batch=per_batch)
    out = {"process": t.get("madgraph_process"), "merge": t.get("merge"), "cards": t.get("cards")}
    for key, prefixes in (("madgraph", ("madgraph_batch_", "madgraph_session_")), ("delphes", ("delphes_batch_", "delphes_session_"))):
        per = [v for k, v in t.items() if k.startswith(prefixes)]
        n = sum(v.get("batches", 1) for v in per)
        out[key] = {m: sum(v[m] for v in per) / n for m in ("wall_s", "cpu_s")} if per else None
    if pythia:
        alone = [pythia_alone(b) for b in sorted(wd.glob("batch_*"))]
        out["pythia"] = {m: sum(v[m] for v in alone) / len(alone) for m in ("wall_s", "cpu_s")}
    shutil.rmtree(wd)
    return out


def fit(small: dict | None, large: dict | None, n_small: int, n_large: int, metric: str) -> tuple[float, float]:
    """(per-batch overhead, per-event cost) from the per-batch times at two batch sizes."""
    b = (large[metric] - small[metric]) / (n_large - n_small)
    return small[metric] - b * n_small, b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", nargs="+", default=["Res2P_neutral", "Res2P_charged", "Res34P", "QCD"])
    ap.add_argument("--small", type=int, default=20, help="events per batch of the first job")
    ap.add_argument("--large", type=int, default=100, help="events per batch of the second job")
    ap.add_argument("--pileup-events", type=int, default=1000)
    ap.add_argument("--pdf", default="builtin", choices=["builtin", "lhapdf"])
    ap.add_argument("--madgraph-per-batch", action="store_true", help="one MadGraph process per batch (the reference's way)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench_real_chain_") as tmp:
        work = Path(tmp)
        pileup = work / "minbias.pileup"
        t0 = time.perf_counter()
        pu = container_job.make_pileup(pileup, args.pileup_events, 1, work / "pileup", CONVERTER)
        print(f"pile-up file, {args.pileup_events} events: {time.perf_counter() - t0:.1f} s wall; per event "
              f"{1e3 * pu['pythia_minbias']['cpu_s'] / args.pileup_events:.1f} ms CPU (Pythia SoftQCD:inelastic + writing), "
              f"root2pileup {pu['root2pileup']['cpu_s']:.1f} s CPU")
        rows = []
        for sample in args.samples:
            small, large = (run(sample, n, pileup, work, args.pdf, args.madgraph_per_batch) for n in (args.small, args.large))
            # Delphes alone: the difference of the two DelphesPythia8 runs (with and without the detector)
            for res in (small, large):
                res["detector"] = {m: res["delphes"][m] - res["pythia"][m] for m in ("wall_s", "cpu_s")}
            for step, key in (("MadGraph launch", "madgraph"), ("Pythia + Delphes", "delphes"), ("Pythia alone", "pythia"),
                              ("Delphes (difference)", "detector")):
                if small[key] is None:
                    continue
                a, b = fit(small[key], large[key], args.small, args.large, "cpu_s")
                rows.append((sample, step, f"{small[key]['cpu_s']:.1f} s", f"{large[key]['cpu_s']:.1f} s", f"{a:.1f} s",
                             f"{1e3 * b:.0f} ms", f"{small[key]['wall_s']:.1f} s", f"{large[key]['wall_s']:.1f} s"))
            if small["process"]:
                rows.append((sample, "MadGraph process output (per job)", f"{small['process']['cpu_s']:.1f} s",
                             f"{large['process']['cpu_s']:.1f} s", "", "", f"{small['process']['wall_s']:.1f} s",
                             f"{large['process']['wall_s']:.1f} s"))
    n1, n2 = args.small, args.large
    print(f"\nPer batch (PDF: {args.pdf}); CPU fitted as t = a + b x events over batches of {n1} and {n2} events:\n")
    print(f"| sample | step | CPU, {n1} ev. | CPU, {n2} ev. | a (CPU per batch) | b (CPU per event) | wall, {n1} ev. | wall, {n2} ev. |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
