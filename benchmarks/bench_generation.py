"""Embedded generation per sample: events/s with a new grid point every `events_per_grid_point`
events, the share of Pythia (re-)initialisation, and the record conversion against Pythia's own
event generation. All times are CPU seconds of this process (robust on a shared machine).

Columns (ms/event unless said):
  events/s      whole job (inits + generation + conversion), N events in N/EPG grid points
  init share    share of the job's CPU time spent in Pythia initialisation (first init and re-inits)
  first init    the job's first Pythia initialisation (paid once per job)
  re-init       CPU ms per re-initialisation (each further grid point)
  re-init share re-init / (re-init + EPG events' generation and conversion): the batching overhead
  next()        plain Pythia.next() on the same settings and seed (no record read)
  nextBatch     Pythia.nextBatch: next() plus the bindings' bulk export to awkward
  convert       our numpy conversion of that batch to the generator record
  accessors     reading the same fields particle by particle through the bindings (the former way)
  conv/next     (nextBatch - next() + convert) / next(): the whole record conversion vs next()

Usage: python benchmarks/bench_generation.py [--events 500] [--events-per-grid-point 100]
       python benchmarks/bench_generation.py --plots docs/generation [--plot-events 2000]
"""
import argparse
import time

import awkward as ak
import numpy as np

from jetclass2.generation import samples
from jetclass2.generation.pythia_driver import PythiaGenerator


def run_job(cfg, sample, n_events, epg, job=0, seed=1):
    """A job as `generate` runs it (generation only): returns (generator, CPU seconds, events)."""
    t0 = time.process_time()
    gen, out = None, []
    for b in samples.job_batches(cfg, sample, job, n_events, seed, epg):
        cmds = samples.pythia_commands(cfg, b.point, b.pythia_seed)
        if gen is None:
            gen = PythiaGenerator(cmds, **samples.generator_options(cfg, sample))
            first_init = gen.time_init
        else:
            gen.configure(cmds)
        out += list(gen.generate(b.events, batch_size=100, progress_every=0))
    gen.first_init = first_init
    return gen, time.process_time() - t0, ak.concatenate(out)


def accessor_read(pythia):
    """The former per-particle conversion's reads (eleven accessors per particle, vertex where set)."""
    ev = pythia.event
    rows = []
    for i in range(1, ev.size()):
        p = ev[i]
        rows.append((p.id(), p.status(), p.mother1(), p.mother2(), p.daughter1(), p.daughter2(), p.m(), p.e(), p.px(), p.py(), p.pz()))
        if p.hasVertex():
            rows.append((p.tProd(), p.xProd(), p.yProd(), p.zProd()))
    return rows


def per_event_costs(cfg, sample, n, seed=11, chunk=100):
    """ms/event of next(), nextBatch, our conversion and the accessor reads, at the sample's first grid point.

    Three generators with the same settings and seed (so the same events) advance in turns, `chunk`
    events at a time, so that the load of a shared machine affects all three alike.
    """
    point = samples.job_batches(cfg, sample, 0, 1, 1)[0].point
    cmds = samples.pythia_commands(cfg, point, seed)
    opts = samples.generator_options(cfg, sample)
    a, b, c = (PythiaGenerator(cmds, **opts) for _ in range(3))
    t_next = t_acc = 0.0
    for _ in range(0, n, chunk):
        t0 = time.process_time()
        for _ in range(chunk):
            a.pythia.next()
        t_next += time.process_time() - t0
        for _ in b.generate(chunk, batch_size=chunk, progress_every=0):
            pass
        for _ in range(chunk):
            c.pythia.next()
            t0 = time.process_time()
            accessor_read(c.pythia)
            t_acc += time.process_time() - t0
    n = chunk * len(range(0, n, chunk))
    return 1e3 * t_next / n, 1e3 * b.time_next / n, 1e3 * b.time_convert / n, 1e3 * t_acc / n


def table(cfg, n_events, epg):
    print(f"{'sample':14s} {'events/s':>9s} {'init share':>10s} {'first init':>10s} {'re-init':>8s} {'re-init share':>13s} | "
          f"{'next()':>7s} {'nextBatch':>9s} {'convert':>8s} {'accessors':>9s} {'conv/next':>9s}")
    for sample in samples.sample_names(cfg):
        gen, cpu, _ = run_job(cfg, sample, n_events, epg)
        re_init = (gen.time_init - gen.first_init) / max(gen.n_init - 1, 1)
        per_event = (gen.time_next + gen.time_convert) / n_events
        t_next, t_batch, t_conv, t_acc = per_event_costs(cfg, sample, 300)
        conv = (t_batch - t_next + t_conv) / t_next
        print(f"{sample:14s} {n_events / cpu:9.1f} {100 * gen.time_init / cpu:9.1f}% {gen.first_init:9.2f}s {1e3 * re_init:6.0f}ms "
              f"{100 * re_init / (re_init + epg * per_event):12.1f}% | "
              f"{t_next:7.2f} {t_batch:9.2f} {t_conv:8.2f} {t_acc:9.2f} {100 * conv:8.0f}%")


def x_spectra(cfg, outdir, n_events, epg):
    """X mass and pT (relative to the batch's pT_min) per resonant sample, Y mass for Res34P: docs/generation/*.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    resonant = [s for s in samples.sample_names(cfg) if "resonance" in samples.sample_config(cfg, s)]
    fig, axes = plt.subplots(len(resonant), 3, figsize=(13, 3.3 * len(resonant)))
    for row, sample in zip(axes, resonant):
        x_pdg = samples.sample_config(cfg, sample)["resonance"]
        batches = samples.job_batches(cfg, sample, 0, n_events, 1, epg)
        _, _, ev = run_job(cfg, sample, n_events, epg)
        pt_min = np.repeat([b.point.pt_min for b in batches], [b.events for b in batches])
        m_nom = np.repeat([b.point.mass for b in batches], [b.events for b in batches])
        # X as it decays: the last copy (its daughters are not X)
        is_x = abs(ev.PID) == x_pdg
        dau_pid = ev.PID[ak.where(ev.D1 >= 0, ev.D1, 0)]
        last = is_x & (abs(dau_pid) != x_pdg)
        n_x = ak.to_numpy(ak.sum(last, axis=1))
        x_pt, x_m = ev.PT[last], ev.Mass[last]
        ratio = ak.to_numpy(ak.flatten(x_pt / pt_min))
        row[0].hist(ak.to_numpy(ak.flatten(x_m)), bins=np.arange(-2.5, 523, 5), histtype="step")
        row[0].set(xlabel="m_X [GeV]", ylabel="X per 5 GeV", title=f"{sample}: {n_events} events, {len(batches)} grid points")
        row[1].hist(np.clip(ratio, 0, 3), bins=60, range=(0, 3), histtype="step")
        row[1].set(xlabel="pT_X / pT_min of the batch (last bin: >= 3)", ylabel="X",
                   title=f"X per event: {', '.join(f'{k}: {np.mean(n_x == k):.0%}' for k in (1, 2))}")
        if "mass_y" in samples.KIND_FIELDS[samples.kind_of(cfg, sample)]:
            y_nom = np.repeat([b.point.mass_y for b in batches], [b.events for b in batches])
            y = (abs(ev.PID) == 35) | (abs(ev.PID) == 37)
            y_last = y & (abs(dau_pid) != 35) & (abs(dau_pid) != 37)
            dm = ak.to_numpy(ak.flatten(ev.Mass[y_last] - y_nom))
            above = ak.to_numpy(ak.flatten(ev.Mass[y_last] > 0.5 * m_nom))
            row[2].hist(np.clip(dm, -20, 20), bins=80, range=(-20, 20), histtype="step", log=True)
            row[2].set(xlabel="m_Y - nominal m_Y [GeV]", ylabel="Y", title=f"Y off shell: {above.mean():.1%} above m_X/2")
        else:
            row[2].hist(ak.to_numpy(ak.flatten(abs(ev.Eta[last]))), bins=50, range=(0, 5), histtype="step")
            row[2].set(xlabel="|eta_X|", ylabel="X")
    fig.tight_layout()
    path = f"{outdir}/x_spectra.png"
    fig.savefig(path, dpi=90)
    print(f"wrote {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--events-per-grid-point", type=int, default=None)
    ap.add_argument("--plots", default=None, help="write the X spectra plot to this directory instead of timing")
    ap.add_argument("--plot-events", type=int, default=2000)
    args = ap.parse_args()
    cfg = samples.load_config()
    epg = args.events_per_grid_point or cfg["events_per_grid_point"]
    if args.plots:
        x_spectra(cfg, args.plots, args.plot_events, epg)
        return
    print(f"{args.events} events per sample, {epg} per grid point (CPU time)")
    table(cfg, args.events, epg)


if __name__ == "__main__":
    main()
