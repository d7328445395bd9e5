"""Fast simulation vs real Delphes 3.5.0 on the same generator events, every sample, pT range and radius.

For each validation point (sample x pT range) the sample's Pythia settings
(``jetclass2.generation.samples.pythia_commands``) run in ``DelphesPythia8`` with the JetClass-II card
(``cards/delphes/delphes_card_CMS_JetClassII_onlyFatJet.tcl``, 50 pile-up from a seeded
minimum-bias file made here with Pythia ``SoftQCD:inelastic`` and ``root2pileup``). Real Delphes
writes the full generator record into ``Particle``; the fast simulation re-simulates that record
(``jetclass2.fastsim.cli.resimulate``, its pile-up library built from the *same* minimum-bias events). Both
files are ntuplized (``ntuplizer.process_file``, QCD labels on so that every jet with a GEN-jet
counts) at R = 0.8 and 1.5, and jets are paired through their GEN-jet (identical in both files:
the same generator particles). Per point and radius: medians and IQR of the pT response, soft-drop
mass, constituent multiplicity, charged / photon / neutral-hadron pT fractions of the GEN-jet pT,
|d0| and |dz| of the charged constituents, and the constituent-eta convention
sum(part_deta * pT) / jet_pt against the 100 published JetClass-II jets. Statistical errors:
bootstrap over the paired jets. A side-by-side benchmark times ``DelphesROOT`` and the ``fastsim``
CLI on the same input (steady state from two input sizes, start-up separately, peak memory).

Writes docs/validation/fastsim_vs_delphes.md (table), summary_ratios.png, distributions_R08.png,
distributions_R15.png, eta_convention.png. Delphes outputs are cached in the work directory
(keyed by card, Pythia settings, pile-up file and event count), so re-validating a changed fast
simulation re-runs only the fast simulation and the ntuplizer. Without the generation stack
(``containers/install-generation-stack.sh``) the real-Delphes comparison is skipped, saying so.

Usage: python benchmarks/validate_fastsim.py [--events 500] [--out docs/validation]
       [--samples Res2P_neutral Res2P_charged Res34P QCD] [--pt-ranges 300 800 1500]
       [--radii 0.8 1.5] [--pileup-events 3000] [--seed 1] [--workdir DIR] [--jobs 1]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from jetclass2.generation import samples  # noqa: E402
from jetclass2.generation.pileup_library import cache_dir  # noqa: E402
from jetclass2.generation.pythia_driver import PythiaGenerator  # noqa: E402
from jetclass2.resources import shared_dir  # noqa: E402

DELPHES_CARD = REPO / "cards" / "delphes" / "delphes_card_CMS_JetClassII_onlyFatJet.tcl"
PUBLISHED = "jetclass2/jetclass2_sample_100jets.parquet"
#: Targets, fastsim / Delphes on the paired jets (relative): medians, IQR of the response, fractions.
TARGETS = {"pt": 0.015, "msd": 0.025, "nconst": 0.05, "iqr": 0.15, "f_ch": 0.10, "f_ph": 0.10, "f_nh": 0.10}
METRIC_NAMES = {"pt": "jet pT (median per-jet ratio)", "msd": "m_SD (median per-jet ratio)", "nconst": "constituents (median per-jet ratio)",
                "iqr": "IQR of pT response", "f_ch": "charged pT fraction", "f_ph": "photon pT fraction",
                "f_nh": "neutral-hadron pT fraction", "d0": "median |d0|", "dz": "median |dz|"}
# Validation points: per sample the grid values used at every pT range (Res34P: m_X, m_Y, width_Y).
POINT_MASSES = {"Res2P_neutral": {"mass": 125.0}, "Res2P_charged": {"mass": 80.0},
                "Res34P": {"mass": 250.0, "mass_y": 62.5, "width_y": 1.25}, "QCD": {}}
MINBIAS_CMND = "cards/pythia/minbias.cmnd"
MSD_MIN = 20.0  # GeV: the soft-drop mass ratio is taken over jets whose GEN-jet is heavier than this
CONVERTER_CARD = """set ExecutionPath { TreeWriter }
module TreeWriter TreeWriter {
  add Branch Delphes/stableParticles Particle GenParticle
}
"""


# ---- the generation stack ----------------------------------------------------------------------

def find_stack() -> tuple[Path | None, str]:
    """(prefix of a complete generation stack, how it was found) or (None, why not)."""
    cands = []
    if os.environ.get("JETCLASS2_STACK"):
        cands.append(Path(os.environ["JETCLASS2_STACK"]))
    try:
        out = subprocess.run(["bash", str(REPO / "containers" / "stack-cache-dir")], capture_output=True, text=True,
                             check=True).stdout.strip()
        cands.append(Path(out))
    except (OSError, subprocess.CalledProcessError):
        pass
    cands += sorted(cache_dir().glob("stack-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for c in cands:
        if (c / ".complete").is_file() and (c / "setup.sh").is_file():
            return c, f"generation stack {c}"
    return None, ("no complete generation stack (looked for $JETCLASS2_STACK, containers/stack-cache-dir, "
                  f"{cache_dir()}/stack-*/.complete; build one with containers/install-generation-stack.sh)")


def run_in_stack(stack: Path, args: list[str], log: Path, cwd: Path, cpu: bool = False):
    """Run a stack executable (setup.sh sourced); returns (wall seconds, peak RSS in MB[, CPU seconds])."""
    cmd = f'. "{stack}/setup.sh" >/dev/null 2>&1 && exec ' + " ".join(f'"{a}"' for a in args)
    return _timed(["bash", "-c", cmd], log, cwd, cpu=cpu)


GNU_TIME = Path("/usr/bin/time")


def _timed(argv: list[str], log: Path, cwd: Path, env=None, cpu: bool = False):
    """Run argv, output to ``log``; (wall seconds, peak RSS of the process in MB[, its CPU seconds]).
    Raises on failure.

    The peak RSS comes from GNU time where installed: a child forked from this (large) process
    would otherwise report this process's resident size, which Linux carries across exec.
    """
    rss_file = log.with_suffix(".rss")
    wrap = [str(GNU_TIME), "-f", "%M", "-o", str(rss_file)] if GNU_TIME.exists() else []
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(wrap + argv, stdout=f, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"{argv[-1][:200]} failed (exit {proc.returncode}), log {log}: " + " | ".join(tail))
    rss = usage.ru_maxrss / 1024.0
    if wrap:
        rss = float(rss_file.read_text().split()[-1]) / 1024.0
        rss_file.unlink()
    if cpu:
        return dt, rss, usage.ru_utime + usage.ru_stime
    return dt, rss


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
    return h.hexdigest()[:12]


# ---- pile-up -----------------------------------------------------------------------------------

def minbias(stack: Path, workdir: Path, n_events: int, seed: int) -> tuple[Path, Path]:
    """(Delphes pile-up file, fast-simulation pile-up library) of the same minimum-bias events,
    generated once with Pythia (SoftQCD:inelastic) in DelphesPythia8 and cached."""
    cfg = samples.load_config()
    values = {"sqrt_s": cfg["sqrt_s_gev"], "seed": samples.job_seed(seed, "validation-minbias", 0)}
    cmnd = samples.render_card("cards/pythia/common.cmnd", values) + samples.render_card(MINBIAS_CMND, values)
    cmnd.append(f"Main:numberOfEvents = {n_events}")
    tag = _digest("\n".join(cmnd), stack)
    d = workdir / f"minbias_{n_events}_{tag}"
    pileup, library = d / "minbias.pileup", d / "minbias_library.parquet"
    if pileup.exists() and library.exists():
        return pileup, library
    d.mkdir(parents=True, exist_ok=True)
    (d / "minbias.cmnd").write_text("\n".join(cmnd) + "\n")
    (d / "converter.tcl").write_text(CONVERTER_CARD)
    root = d / "minbias.root"
    root.unlink(missing_ok=True)
    print(f"  minimum bias: {n_events} events (DelphesPythia8, root2pileup) -> {d}", flush=True)
    run_in_stack(stack, ["DelphesPythia8", "converter.tcl", "minbias.cmnd", "minbias.root"], d / "minbias.log", d)
    tmp = d / "minbias.pileup.tmp"
    tmp.unlink(missing_ok=True)
    run_in_stack(stack, ["root2pileup", tmp.name, "minbias.root"], d / "root2pileup.log", d)
    _library_from_delphes(root, library)
    os.replace(tmp, pileup)
    root.unlink()
    return pileup, library


def _library_from_delphes(root: Path, out: Path) -> None:
    """The fast simulation's pile-up library (parquet, generator-record fields) from the stable
    particles of a Delphes file: the events root2pileup put into the Delphes pile-up file."""
    import uproot

    from jetclass2.delphes_tree import COLLECTIONS

    t = uproot.open(root)["Delphes"]
    fields = [f for f in COLLECTIONS["Particle"] if f"Particle.{f}" in t]
    a = t.arrays([f"Particle.{f}" for f in fields])
    ev = ak.zip({f: a[f"Particle.{f}"] for f in fields})
    tmp = out.with_suffix(".tmp.parquet")
    ak.to_parquet(ev, tmp)
    os.replace(tmp, out)


# ---- validation points ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Point:
    sample: str
    pt_range: float  # requested pT_min; the grid value nearest to it is generated
    grid: samples.GridPoint

    @property
    def name(self) -> str:
        return f"{self.sample}_pt{self.pt_range:g}"

    def label(self) -> str:
        g = self.grid
        extra = f" m={g.mass:g}" if g.mass else ""
        extra += f"/{g.mass_y:g}" if g.mass_y else ""
        return f"{self.sample}{extra} pT>{g.pt_min:g}"


def make_points(sample_names, pt_ranges) -> list[Point]:
    cfg = samples.load_config()
    points = []
    for s in sample_names:
        grid = samples.qcd_pthat_grid(cfg) if s == "QCD" else samples.pt_grid(cfg)
        for pt in pt_ranges:
            near = float(grid[np.argmin(np.abs(grid - pt))])
            gp = samples.validate_point(cfg, samples.GridPoint(s, pt_min=near, **POINT_MASSES[s]))
            points.append(Point(s, pt, gp))
    return points


def delphes_card(pileup: Path, random_seed: int) -> str:
    """The JetClass-II card with our pile-up file and a fixed random seed (Delphes' default, 0,
    seeds from the clock: runs would not repeat)."""
    text = DELPHES_CARD.read_text().replace("set PileUpFile MinBias_100k.pileup", f"set PileUpFile {pileup}")
    return f"set RandomSeed {random_seed}\n" + text


def delphes_file(stack: Path, workdir: Path, point: Point, n_events: int, pileup: Path, seed: int) -> tuple[Path, float]:
    """The real-Delphes file of a point (cached); returns (path, seconds it took, 0 if cached)."""
    cfg = samples.load_config()
    pseed = samples.job_seed(seed, point.sample, int(point.pt_range), "validation")
    cmnd = samples.pythia_commands(cfg, point.grid, pseed) + [f"Main:numberOfEvents = {n_events}"]
    card = delphes_card(pileup, samples.job_seed(seed, point.sample, int(point.pt_range), "delphes"))
    tag = _digest(card, "\n".join(cmnd), pileup, stack)
    d = workdir / "delphes" / f"{point.name}_{n_events}_{tag}"
    out = d / "delphes.root"
    if out.exists():
        return out, 0.0
    d.mkdir(parents=True, exist_ok=True)
    (d / "card.tcl").write_text(card)
    (d / "pythia.cmnd").write_text("\n".join(cmnd) + "\n")
    tmp = d / "delphes.tmp.root"
    tmp.unlink(missing_ok=True)
    t_lhe = 0.0
    options = samples.generator_options(cfg, point.sample)
    if options.get("process_card"):
        # a hard process only our Pythia has (X pairs): it writes the hard-process events, and the C++
        # Pythia of DelphesPythia8 showers and decays them with the same cards, as the container path does
        t0 = time.perf_counter()
        off = ["PartonLevel:all = off", "HadronLevel:all = off", "ProcessLevel:resonanceDecays = off"]
        PythiaGenerator(samples.pythia_commands(cfg, point.grid, pseed) + off, **options).write_lhe(d / "hard.lhe", n_events)
        (d / "pythia.cmnd").write_text("\n".join(cmnd + ["Beams:frameType = 4", "Beams:LHEF = hard.lhe"]) + "\n")
        t_lhe = time.perf_counter() - t0
    dt, _ = run_in_stack(stack, ["DelphesPythia8", "card.tcl", "pythia.cmnd", tmp.name], d / "delphes.log", d)
    dt += t_lhe
    os.replace(tmp, out)
    return out, dt


def fastsim_file(delphes: Path, out: Path, library: Path, seed: int, charged_eta: str | None = None) -> tuple[float, float]:
    """Re-simulate the Particle record of ``delphes`` with the fastsim CLI in its own process:
    (wall seconds, peak RSS MB)."""
    argv = [sys.executable, "-m", "jetclass2.fastsim.cli", str(delphes), "-o", str(out), "--pileup-library", str(library),
            "--seed", str(seed), "-q"]
    if charged_eta:
        argv += ["--charged-eta", charged_eta]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    out.unlink(missing_ok=True)
    return _timed(argv, out.with_suffix(".log"), out.parent, env=env)


# ---- jets and their comparison ---------------------------------------------------------------------

def jets_of(path: Path, radius: float):
    from jetclass2.ntuplizer import Settings, process_file

    return process_file(path, Settings.from_config(jet_radius=radius, qcd_labels=True))


def jet_table(j, with_pv: bool = False) -> dict[str, np.ndarray]:
    """Per-jet quantities compared (numpy, one entry per jet), plus flat charged-track arrays;
    ``with_pv``: also the primary-vertex z implied by the stored constituent eta."""
    pt = np.hypot(j.part_px, j.part_py)
    gpt = ak.to_numpy(j.genjet_pt).astype(np.float64)
    ch = j.part_charge != 0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "genjet_pt": gpt, "genjet_eta": ak.to_numpy(j.genjet_eta).astype(np.float64),
            "resp": ak.to_numpy(j.jet_pt) / gpt,
            "msd": ak.to_numpy(j.jet_sdmass).astype(np.float64),
            "gen_msd": ak.to_numpy(j.genjet_sdmass).astype(np.float64),
            "nconst": ak.to_numpy(j.jet_nparticles).astype(np.float64),
            "f_ch": ak.to_numpy(ak.sum(pt[ch], axis=1)) / gpt,
            "f_ph": ak.to_numpy(ak.sum(pt[j.part_isPhoton == 1], axis=1)) / gpt,
            "f_nh": ak.to_numpy(ak.sum(pt[j.part_isNeutralHadron == 1], axis=1)) / gpt,
            "S": ak.to_numpy(ak.sum(pt * j.part_deta, axis=1) / j.jet_pt),
        }
    out["d0"] = j.part_d0val[ch]
    out["dz"] = j.part_dzval[ch]
    if with_pv:
        out["z_pv"], out["z_range"], _ = pv_z_from_constituents(j)
    return out


def pair(a: dict, b: dict) -> tuple[np.ndarray, np.ndarray]:
    """Indices of jets of ``a`` and ``b`` with the same GEN-jet (pT, eta): identical generator
    particles give bit-identical GEN-jets. Jets without one, and GEN-jets two reco jets share, are left out."""
    def keys(t):
        k = np.round(t["genjet_pt"], 3) * 1e4 + np.round(t["genjet_eta"], 4)
        ok = t["genjet_pt"] > 0
        uniq, counts = np.unique(k[ok], return_counts=True)
        dup = np.isin(k, uniq[counts > 1])
        return k, ok & ~dup

    ka, oka = keys(a)
    kb, okb = keys(b)
    ia, ib = np.flatnonzero(oka), np.flatnonzero(okb)
    common, xa, xb = np.intersect1d(ka[ia], kb[ib], return_indices=True)
    return ia[xa], ib[xb]


def _iqr(x):
    q = np.percentile(x, [25, 75])
    return q[1] - q[0]


def _metrics(o: dict, r: dict, io: np.ndarray, ir: np.ndarray) -> dict[str, float]:
    """fastsim / Delphes on paired jets io, ir: medians of the per-jet ratios of pT, soft-drop mass
    and constituents; IQR ratio of the pT response; ratios of the mean pT fractions. The mass ratio
    is taken over jets whose (common) GEN-jet soft-drop mass exceeds MSD_MIN: a cut on either
    simulation's mass would keep the jets it happened to measure high and bias the ratio."""
    with np.errstate(divide="ignore", invalid="ignore"):
        heavy = r["gen_msd"][ir] > MSD_MIN
        m = {
            "pt": np.median(o["resp"][io] / r["resp"][ir]),
            "msd": np.median(o["msd"][io][heavy] / r["msd"][ir][heavy]),
            "nconst": np.median(o["nconst"][io] / r["nconst"][ir]),
            "iqr": _iqr(o["resp"][io]) / _iqr(r["resp"][ir]),
        }
        for f in ("f_ch", "f_ph", "f_nh"):
            m[f] = np.mean(o[f][io]) / np.mean(r[f][ir])
    return m


def compare(o: dict, r: dict, n_boot: int = 200, seed: int = 0) -> dict:
    """Ratios fastsim / Delphes on the paired jets with bootstrap errors, and the raw statistics."""
    io, ir = pair(o, r)
    res = {"n_pairs": len(io), "n_fastsim": len(o["resp"]), "n_delphes": len(r["resp"])}
    if len(io) < 10:
        return res
    res["ratio"] = _metrics(o, r, io, ir)
    rng = np.random.default_rng(seed)
    boots = [_metrics(o, r, io[k], ir[k]) for k in (rng.integers(0, len(io), len(io)) for _ in range(n_boot))]
    res["error"] = {k: float(np.std([b[k] for b in boots])) for k in res["ratio"]}
    flat = lambda a, idx: np.abs(ak.to_numpy(ak.flatten(a[idx])))  # noqa: E731
    d0o, d0r, dzo, dzr = flat(o["d0"], io), flat(r["d0"], ir), flat(o["dz"], io), flat(r["dz"], ir)
    res["ratio"]["d0"] = np.median(d0o) / np.median(d0r)
    res["ratio"]["dz"] = np.median(dzo) / np.median(dzr)
    res["ratio"] = {k: float(v) for k, v in res["ratio"].items()}
    res["stats"] = {
        "resp_median": (float(np.median(o["resp"][io])), float(np.median(r["resp"][ir]))),
        "resp_iqr": (float(_iqr(o["resp"][io])), float(_iqr(r["resp"][ir]))),
        "msd_median": (float(np.median(o["msd"][io])), float(np.median(r["msd"][ir]))),
        "nconst_median": (float(np.median(o["nconst"][io])), float(np.median(r["nconst"][ir]))),
        "nconst_mean": (float(np.mean(o["nconst"][io])), float(np.mean(r["nconst"][ir]))),
        **{f"{f}_mean": (float(np.mean(o[f][io])), float(np.mean(r[f][ir]))) for f in ("f_ch", "f_ph", "f_nh")},
        "d0_median_um": (1e3 * float(np.median(d0o)), 1e3 * float(np.median(d0r))),
        "dz_median_um": (1e3 * float(np.median(dzo)), 1e3 * float(np.median(dzr))),
        "S_rms": (float(np.std(o["S"][io])), float(np.std(r["S"][ir]))),
    }
    res["passed"] = {k: bool(abs(res["ratio"][k] - 1) <= t) for k, t in TARGETS.items()}
    res["_pairs"] = (io, ir)
    return res


def published_S(shared: Path) -> np.ndarray:
    """sum(part_deta * pT) / jet_pt of the 100 published JetClass-II jets."""
    a = ak.from_parquet(shared / PUBLISHED)
    pt = np.hypot(a.part_px, a.part_py)
    return ak.to_numpy(ak.sum(pt * a.part_deta, axis=1) / a.jet_pt).astype(np.float64)


def pv_z_from_constituents(j, min_pt: float = 10.0, max_abs_eta: float = 1.2, radius_mm: float = 1290.0):
    """Per jet, the primary-vertex z that the stored constituent eta implies (NaN without a usable track).

    A charged constituent whose momentum no calorimeter rescaled carries the generated pT and phi
    exactly, so it is found among the GEN-jet's particles. If its stored eta is the eta of its
    calorimeter hit on the barrel (radius R = 1.29 m; straight for pT > 10 GeV) seen from the
    origin, sinh(eta_stored) - sinh(eta_generated) = z_PV / R for every such track of the jet; for
    the momentum eta it is 0. Returns (z estimate [mm], range of the per-track values within the
    jet [mm], number of tracks used)."""
    sign = np.where(ak.to_numpy(j.jet_eta) > 0, 1.0, -1.0)
    jeta = ak.to_numpy(j.jet_eta).astype(np.float64)
    pt = np.hypot(j.part_px, j.part_py)
    eta = jeta + sign * j.part_deta
    gpt = np.hypot(j.genpart_px, j.genpart_py)
    geta = jeta + sign * j.genpart_jet_deta
    use = (j.part_charge != 0) & (pt > min_pt) & (abs(eta) < max_abs_eta)
    z, rng, n = np.full(len(j), np.nan), np.full(len(j), np.nan), np.zeros(len(j), np.int64)
    for k in np.flatnonzero(ak.to_numpy(ak.any(use, axis=1))):
        sel = ak.to_numpy(use[k])
        rp, rphi, reta = (ak.to_numpy(x[k])[sel] for x in (pt, j.part_dphi, eta))
        gp, gphi, ge = ak.to_numpy(gpt[k]), ak.to_numpy(j.genpart_jet_dphi[k]), ak.to_numpy(geta[k])
        match = (np.abs(gphi[None, :] - rphi[:, None]) < 2e-5) & (np.abs(gp[None, :] / rp[:, None] - 1) < 1e-3)
        one = match.sum(axis=1) == 1
        if one.any():
            v = radius_mm * (np.sinh(reta[one]) - np.sinh(ge[np.argmax(match[one], axis=1)]))
            z[k], rng[k], n[k] = np.median(v), np.ptp(v), len(v)
    return z, rng, n


def find_shared() -> Path:
    return shared_dir() / "reference"


# ---- one point ----------------------------------------------------------------------------------

def run_point(point: Point, stack: Path, workdir: Path, n_events: int, pileup: Path, library: Path, seed: int,
              radii) -> dict:
    delphes, t_delphes = delphes_file(stack, workdir, point, n_events, pileup, seed)
    fs = workdir / "fastsim" / f"{point.name}_{n_events}.root"
    fs.parent.mkdir(parents=True, exist_ok=True)
    t_fs, rss_fs = fastsim_file(delphes, fs, library, seed=samples.job_seed(seed, point.sample, int(point.pt_range), "fs"))
    out = {"point": point, "t_delphes_pythia8": t_delphes, "t_fastsim": t_fs, "rss_fastsim": rss_fs, "radius": {}}
    for radius in radii:
        first = radius == radii[0]
        o, r = jet_table(jets_of(fs, radius), with_pv=first), jet_table(jets_of(delphes, radius), with_pv=first)
        out["radius"][radius] = {"cmp": compare(o, r), "fastsim": o, "delphes": r}
    return out


# ---- benchmark -----------------------------------------------------------------------------------

# The fastsim side of the benchmark: the fastsim CLI's own steps, timed inside one process.
_FASTSIM_TIMER = """
import json, sys, time
clock = lambda: (time.perf_counter(), time.process_time())
t0 = clock()
from jetclass2.fastsim.cli import resimulate
from jetclass2.fastsim.detector import Simulator
t1 = clock()
src, out, lib, seed, batch = sys.argv[1:6]
sim = Simulator(pileup_library=lib, seed=int(seed))
t2 = clock()
marks = []
resimulate(src, out, sim, batch=int(batch), on_batch=lambda n: marks.append((*clock(), n)))
t3 = clock()
print(json.dumps({"t": [t0, t1, t2, t3], "marks": marks}))
"""


def _fastsim_timed(src: Path, out: Path, library: Path, seed: int, log: Path, batch: int = 100) -> dict:
    """Import, set-up, first-batch and steady-state costs (wall and CPU) of the fastsim CLI's work."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    out.unlink(missing_ok=True)
    _, rss = _timed([sys.executable, "-c", _FASTSIM_TIMER, str(src), str(out), str(library), str(seed), str(batch)], log,
                    out.parent, env=env)
    d = json.loads(log.read_text().strip().splitlines()[-1])
    out.unlink(missing_ok=True)
    (w0, c0), _, _, (w3, c3) = d["t"]
    marks = d["marks"]
    n_first, n_rest = marks[0][2], sum(m[2] for m in marks[1:])
    if n_rest == 0:  # one batch (a warm-up): no steady state
        return {"total_s": w3 - w0, "rss_mb": rss}
    steady_w = (marks[-1][0] - marks[0][0]) / n_rest
    steady_c = (marks[-1][1] - marks[0][1]) / n_rest
    return {"steady_ms": 1e3 * steady_w, "steady_cpu_ms": 1e3 * steady_c, "events": n_first + n_rest,
            "startup_s": (w3 - w0) - (n_first + n_rest) * steady_w,
            "startup_cpu_s": (c3 - c0) - (n_first + n_rest) * steady_c, "rss_mb": rss, "total_s": w3 - w0}


def benchmark(stack: Path, workdir: Path, point: Point, n_events: int, n_small: int, pileup: Path, library: Path,
              seed: int) -> dict:
    """DelphesROOT and the fastsim CLI's work on the same Delphes file, side by side in one run.

    Delphes: steady state per event from two input sizes (the small file holds the first events
    of the large one: same Pythia and Delphes seeds), start-up = time of the small run minus its
    events' share. fastsim: timed inside its process (imports, set-up with the pile-up library,
    then per batch of 100 events; steady state = batches after the first). Wall and CPU time
    (user + system: robust on a shared machine) are both given; peak resident memory per process.
    """
    big, _ = delphes_file(stack, workdir, point, n_events, pileup, seed)
    small, _ = delphes_file(stack, workdir, point, n_small, pileup, seed)
    d = workdir / "bench"
    d.mkdir(parents=True, exist_ok=True)
    card = d / "card.tcl"  # other random numbers than the DelphesPythia8 run: an independent simulation
    card.write_text(delphes_card(pileup, samples.job_seed(seed, point.sample, int(point.pt_range), "delphes-bench")))

    def delphes(tag, src):
        out = d / f"delphes_{tag}.root"
        out.unlink(missing_ok=True)
        t, m, cpu = run_in_stack(stack, ["DelphesROOT", str(card), out.name, str(src)], d / f"delphes_{tag}.log", d,
                                 cpu=True)
        if tag != "big":
            out.unlink(missing_ok=True)
        return t, m, cpu

    delphes("warmup", small)  # file cache
    _fastsim_timed(small, d / "fastsim_warmup.root", library, seed, d / "fastsim_warmup.log")  # numba's cache
    ds = delphes("small", small)
    # the CLI's batch of 100 events; smaller for a short benchmark, so that batches after the first exist
    fs = _fastsim_timed(big, d / "fastsim.root", library, seed, d / "fastsim.log", batch=min(100, max(5, n_events // 5)))
    db = delphes("big", big)
    steady_w, steady_c = ((db[i] - ds[i]) / (n_events - n_small) for i in (0, 2))
    res = {"delphes": {"steady_ms": 1e3 * steady_w, "steady_cpu_ms": 1e3 * steady_c, "events": n_events,
                       "startup_s": ds[0] - n_small * steady_w, "startup_cpu_s": ds[2] - n_small * steady_c,
                       "rss_mb": max(ds[1], db[1]), "total_s": db[0]},
           "fastsim": fs}
    res["ratio"] = fs["steady_ms"] / res["delphes"]["steady_ms"]
    res["ratio_cpu"] = fs["steady_cpu_ms"] / res["delphes"]["steady_cpu_ms"]
    res["point"], res["events"], res["small"] = point, n_events, n_small
    # control: Delphes against itself (same events, other random numbers), the noise floor of the metrics
    res["control"] = {radius: compare(jet_table(jets_of(d / "delphes_big.root", radius)), jet_table(jets_of(big, radius)))
                      for radius in (0.8, 1.5)}
    return res


def convention_samples(results, args, stack, workdir, pileup, library) -> dict[str, dict]:
    """The constituent-eta convention checks per jet sample (first radius): S = sum(part_deta * pT)
    / jet_pt and the primary-vertex z implied by the stored eta, for Delphes, the fast simulation,
    the fast simulation with ``--charged-eta momentum`` (one point) and the 100 published jets."""
    radius = args.radii[0]
    conv = {}
    for key, label in (("delphes", "Delphes 3.5.0"), ("fastsim", "fastsim (default: calorimeter_hit)")):
        tabs = [r["radius"][radius][key] for r in results]
        conv[label] = {k: np.concatenate([t[k] for t in tabs]) for k in ("S", "z_pv", "z_range")}
    if results:
        r0 = results[len(results) // 2]
        delphes, _ = delphes_file(stack, workdir, r0["point"], args.events, pileup, args.seed)
        fs = workdir / "fastsim" / f"{r0['point'].name}_{args.events}_momentum_eta.root"
        fastsim_file(delphes, fs, library, seed=args.seed, charged_eta="momentum")
        t = jet_table(jets_of(fs, radius), with_pv=True)
        conv[f"fastsim --charged-eta momentum ({r0['point'].label()})"] = {k: t[k] for k in ("S", "z_pv", "z_range")}
    shared = find_shared()
    if (shared / PUBLISHED).exists():
        pub = ak.from_parquet(shared / PUBLISHED)
        z, rng, _ = pv_z_from_constituents(pub)
        conv["published JetClass-II (100 jets)"] = {"S": published_S(shared), "z_pv": z, "z_range": rng}
    return conv


# ---- output ----------------------------------------------------------------------------------------

def fmt_ratio(c: dict, k: str) -> str:
    if "ratio" not in c:
        return "n/a"
    v = c["ratio"][k]
    err = c.get("error", {}).get(k)
    s = f"{v:.3f}" + (f" ± {err:.3f}" if err is not None else "")
    if k in TARGETS:
        s += "" if c["passed"][k] else " **✗**"
    return s


def write_table(results, bench, conv, out: Path, args, stack_note: str) -> str:
    lines = ["# Fast simulation vs real Delphes 3.5.0: same generator events, jets paired by GEN-jet", "",
             f"Generated by `python benchmarks/validate_fastsim.py --events {args.events}` ({stack_note}); "
             f"{args.events} events per point, JetClass-II card with 50 pile-up, QCD labels on. "
             "Entries are fastsim / Delphes on the paired jets (± bootstrap standard error); **✗** marks a "
             "missed target. pT, m_SD, constituents: median over the paired jets of the per-jet ratio (m_SD: "
             f"jets whose GEN-jet m_SD > {MSD_MIN:g} GeV, the same jets in both); IQR: of the pT response (jet pT / GEN-jet pT); "
             "fractions: mean charged / photon / neutral-hadron constituent pT over the GEN-jet pT; \\|d0\\|, \\|dz\\|: "
             "median over the charged constituents. Targets: pT 1.5%, m_SD 2.5%, constituents 5%, IQR 15%, "
             "fractions 10%.", ""]
    hdr = ["point", "R", "pairs (fs/D)", "pT resp.", "m_SD", "constituents", "IQR resp.", "f charged", "f photon",
           "f neutral had.", "\\|d0\\|", "\\|dz\\|"]
    lines += ["| " + " | ".join(hdr) + " |", "|" + " --- |" * len(hdr)]
    n_fail = 0
    for res in results:
        for radius, rr in res["radius"].items():
            c = rr["cmp"]
            n_fail += sum(not v for v in c.get("passed", {"none": False}).values())
            lines.append("| " + " | ".join([res["point"].label(), f"{radius:g}",
                                            f"{c['n_pairs']} ({c['n_fastsim']}/{c['n_delphes']})"]
                                           + [fmt_ratio(c, k) for k in ("pt", "msd", "nconst", "iqr", "f_ch", "f_ph",
                                                                        "f_nh", "d0", "dz")]) + " |")
    lines += ["", f"Targets missed: {n_fail} (of {len(TARGETS)} per row, {len(TARGETS) * sum(len(r['radius']) for r in results)} "
              "in all).", ""]
    if bench and "control" in bench:
        lines += ["Control, the noise floor of these numbers: Delphes against itself on the same events "
                  f"({bench['point'].label()}; `DelphesROOT` with other random numbers / the `DelphesPythia8` run):", "",
                  "| control | R | pairs | pT resp. | m_SD | constituents | IQR resp. | f charged | f photon | "
                  "f neutral had. | \\|d0\\| | \\|dz\\| |", "|" + " --- |" * 12]
        for radius, c in bench["control"].items():
            lines.append("| " + " | ".join(["Delphes / Delphes", f"{radius:g}", f"{c['n_pairs']}"]
                                           + [fmt_ratio(c, k) for k in ("pt", "msd", "nconst", "iqr", "f_ch", "f_ph",
                                                                        "f_nh", "d0", "dz")]) + " |")
        lines.append("")
    lines += [
              "## Medians and means (fastsim / Delphes)", "",
              "| point | R | pT response median | IQR | m_SD median [GeV] | constituents (median, mean) | f charged | "
              "f photon | f neutral had. | median \\|d0\\| [um] | median \\|dz\\| [um] |", "|" + " --- |" * 11]
    for res in results:
        for radius, rr in res["radius"].items():
            st = rr["cmp"].get("stats")
            if not st:
                continue
            cell = lambda k, f="{:.3f}", st=st: f"{f.format(st[k][0])} / {f.format(st[k][1])}"  # noqa: E731
            lines.append(f"| {res['point'].label()} | {radius:g} | {cell('resp_median')} | {cell('resp_iqr')} | "
                         f"{cell('msd_median', '{:.1f}')} | {cell('nconst_median', '{:.1f}')}, {cell('nconst_mean', '{:.1f}')} | "
                         f"{cell('f_ch_mean')} | "
                         f"{cell('f_ph_mean')} | {cell('f_nh_mean')} | {cell('d0_median_um', '{:.1f}')} | "
                         f"{cell('dz_median_um', '{:.1f}')} |")
    lines += ["", "## Constituent eta convention", "",
              "Delphes 3.5.0 stores in `ParticleFlowCandidate.Eta` of a charged candidate the eta of its "
              "calorimeter hit seen from the origin: a track from the primary vertex at z_PV reaches the barrel "
              "(R = 1.29 m) at sinh(eta_hit) = sinh(eta) + z_PV / R. Two checks on the jet constituents "
              "(`part_deta`), the same on our ntuples and on the 100 published JetClass-II jets:", "",
              "- z_PV implied: every charged constituent with pT > 10 GeV, |eta| < 1.2 that no calorimeter rescaled "
              "carries the generated pT and phi, so its GEN-jet particle is found; R (sinh(eta_stored) - "
              "sinh(eta_generated)) is then the same for all such tracks of a jet (range within the jet: a "
              "fraction of a mm) and spreads over jets like the vertex distribution (53 mm in the card); with the "
              "momentum eta it is 0.",
              "- S = sum(part_deta * pT) / jet_pt: spreads with z_PV for the hit eta (about f_charged z_PV / R), "
              "much less for the momentum eta; its mean depends on the jets (the published sample is wider: "
              "median m_SD / pT 0.26 against 0.04-0.07 here).", "",
              "| jets | N | jets with z_PV | RMS z_PV [mm] | robust RMS z_PV [mm] | median range within a jet [mm] "
              "| mean S | RMS S |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for k, v in conv.items():
        z, rng, S = v["z_pv"], v["z_range"], v["S"][np.isfinite(v["S"])]
        ok = np.isfinite(z)
        zz = z[ok]
        robust = 1.4826 * np.median(np.abs(zz - np.median(zz))) if len(zz) else np.nan
        multi = ok & (rng > 0)
        lines.append(f"| {k} | {len(S)} | {ok.sum()} | {np.std(zz) if len(zz) else np.nan:.1f} | {robust:.1f} | "
                     f"{np.median(rng[multi]) if multi.any() else np.nan:.3f} | {np.mean(S):+.4f} | {np.std(S):.4f} |")
    if bench:
        b = bench
        lines += ["", "## Speed (side by side, one run)", "",
                  f"`DelphesROOT` (JetClass-II card, 50 pile-up) and the `fastsim` CLI's work on the same Delphes "
                  f"file ({b['point'].label()}, {b['events']} events: read the generator record, simulate, write). "
                  f"Delphes: steady state = (t({b['events']} events) - t({b['small']} events)) / "
                  f"{b['events'] - b['small']}, the {b['small']}-event file holding the same first events; fastsim: "
                  "timed per batch inside its process, steady state = batches after the first. Start-up = the "
                  "rest (fastsim: Python imports, the pile-up library, numba's cached kernels, the first batch's "
                  "extra). CPU = user + system time of the process (robust on a shared machine).", "",
                  "| tool | steady state [ms/event] | steady state, CPU [ms/event] | start-up [s] | start-up, CPU [s] "
                  "| peak memory [MB] |", "| --- | --- | --- | --- | --- | --- |"]
        for tool in ("delphes", "fastsim"):
            x = b[tool]
            lines.append(f"| {tool} | {x['steady_ms']:.1f} | {x['steady_cpu_ms']:.1f} | {x['startup_s']:.1f} | "
                         f"{x['startup_cpu_s']:.1f} | {x['rss_mb']:.0f} |")
        lines += ["", f"fastsim / Delphes per event in steady state: **{b['ratio']:.3f}** (wall), "
                      f"**{b['ratio_cpu']:.3f}** (CPU); target <= 0.25."]
    text = "\n".join(lines) + "\n"
    (out / "fastsim_vs_delphes.md").write_text(text)
    return text


def plots(results, conv, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ["pt", "msd", "nconst", "iqr", "f_ch", "f_ph", "f_nh", "d0", "dz"]
    fig, axes = plt.subplots(3, 3, figsize=(16, 12))
    labels = [r["point"].label() for r in results]
    x = np.arange(len(results))
    for ax, k in zip(axes.flat, keys):
        for dx, radius, mk in ((-0.12, 0.8, "o"), (0.12, 1.5, "s")):
            v = [r["radius"].get(radius, {}).get("cmp", {}).get("ratio", {}).get(k, np.nan) for r in results]
            e = [r["radius"].get(radius, {}).get("cmp", {}).get("error", {}).get(k, 0.0) for r in results]
            ax.errorbar(x + dx, v, yerr=e, fmt=mk, label=f"R = {radius:g}")
        if k in TARGETS:
            ax.axhspan(1 - TARGETS[k], 1 + TARGETS[k], color="green", alpha=0.15, label="target")
        ax.axhline(1, color="k", lw=0.8)
        ax.set_title(f"fastsim / Delphes: {METRIC_NAMES[k]}")
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "summary_ratios.png", dpi=70)
    plt.close(fig)

    specs = [("resp", "jet pT / GEN-jet pT", np.linspace(0.5, 1.3, 41)), ("msd", "soft-drop mass [GeV]", None),
             ("nconst", "constituents", None), ("f_ph", "photon pT / GEN-jet pT", np.linspace(0, 0.6, 31)),
             ("f_nh", "neutral-hadron pT / GEN-jet pT", np.linspace(0, 0.4, 31)), ("d0", "|d0| of tracks [mm]", np.logspace(-4, 1, 31))]
    for radius in sorted({rad for r in results for rad in r["radius"]}):
        rows = [r for r in results if radius in r["radius"]]
        fig, axes = plt.subplots(len(rows), len(specs), figsize=(3 * len(specs), 2.2 * len(rows)), squeeze=False)
        for row, r in zip(axes, rows):
            rr = r["radius"][radius]
            io, ir = rr["cmp"].get("_pairs", (np.zeros(0, int), np.zeros(0, int)))
            for ax, (k, title, bins) in zip(row, specs):
                a, b = rr["fastsim"][k], rr["delphes"][k]
                if k == "d0":
                    a, b = np.abs(ak.to_numpy(ak.flatten(a[io]))), np.abs(ak.to_numpy(ak.flatten(b[ir])))
                else:
                    a, b = a[io], b[ir]
                if bins is None:
                    hi = np.percentile(np.concatenate([a, b]), 99) if len(a) + len(b) else 1.0
                    bins = np.linspace(0, hi, 31)
                ax.hist(np.clip(b, bins[0], bins[-1]), bins=bins, histtype="step", lw=1.5, label="Delphes 3.5.0")
                ax.hist(np.clip(a, bins[0], bins[-1]), bins=bins, histtype="step", lw=1.5, label="fastsim")
                if k == "d0":
                    ax.set_xscale("log")
                ax.set_xlabel(title, fontsize=8)
                ax.tick_params(labelsize=7)
            row[0].set_ylabel(r["point"].label(), fontsize=8)
        axes[0, 0].legend(fontsize=7)
        fig.suptitle(f"Paired jets, R = {radius:g}")
        fig.tight_layout()
        fig.savefig(out / f"distributions_R{int(round(radius * 10)):02d}.png", dpi=55)
        plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for k, v in conv.items():
        z = v["z_pv"][np.isfinite(v["z_pv"])]
        axes[0].hist(np.clip(z, -200, 200), bins=np.linspace(-200, 200, 41), histtype="step", density=True, lw=1.5,
                     label=f"{k} ({len(z)})")
        axes[1].hist(np.clip(v["S"], -0.15, 0.15), bins=np.linspace(-0.15, 0.15, 41), histtype="step", density=True,
                     lw=1.5, label=k)
    axes[0].set_xlabel("z_PV implied by the stored constituent eta [mm]")
    axes[1].set_xlabel("sum(part_deta * pT) / jet_pt")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "eta_convention.png", dpi=80)
    plt.close(fig)


# ---- main ------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=500, help="events per point (default 500)")
    ap.add_argument("--out", default=str(REPO / "docs" / "validation"), help="table and plots go here")
    ap.add_argument("--samples", nargs="+", default=list(POINT_MASSES))
    ap.add_argument("--pt-ranges", nargs="+", type=float, default=[300.0, 800.0, 1500.0],
                    help="pT_min (pTHat_min for QCD) per point; the nearest grid value is generated")
    ap.add_argument("--radii", nargs="+", type=float, default=[0.8, 1.5])
    ap.add_argument("--pileup-events", type=int, default=3000, help="minimum-bias events in the pile-up file")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", default=str(cache_dir() / "fastsim_validation"))
    ap.add_argument("--jobs", type=int, default=1, help="points in parallel (the machine is shared: default 1)")
    ap.add_argument("--bench-events", type=int, default=None, help="events of the speed benchmark (default --events)")
    ap.add_argument("--no-bench", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    stack, note = find_stack()
    if stack is None:
        print(f"validate_fastsim: real Delphes skipped: {note}", file=sys.stderr)
        return 0
    print(f"validate_fastsim: {note}", flush=True)
    t0 = time.perf_counter()
    pileup, library = minbias(stack, workdir, args.pileup_events, args.seed)
    points = make_points(args.samples, args.pt_ranges)
    results = []
    work = lambda p: run_point(p, stack, workdir, args.events, pileup, library, args.seed, args.radii)  # noqa: E731
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        for res in ex.map(work, points):
            results.append(res)
            p = res["point"]
            print(f"  {p.label():32s} Delphes+Pythia {res['t_delphes_pythia8']:6.1f} s (0: cached), fastsim "
                  f"{res['t_fastsim']:5.1f} s, {res['rss_fastsim']:.0f} MB", flush=True)
            for radius, rr in res["radius"].items():
                c = rr["cmp"]
                if "ratio" in c:
                    print("     R=%.1f pairs %4d  " % (radius, c["n_pairs"]) + "  ".join(
                        f"{k} {c['ratio'][k]:.3f}{'' if c['passed'].get(k, True) else '!'}" for k in c["ratio"]), flush=True)
    conv = convention_samples(results, args, stack, workdir, pileup, library)
    bench = None
    if not args.no_bench:
        bp = next((p for p in points if p.sample == "QCD" and p.pt_range == 800.0), points[len(points) // 2])
        n_b = args.bench_events or args.events
        bench = benchmark(stack, workdir, bp, n_b, max(10, n_b // 25), pileup, library, args.seed)
    text = write_table(results, bench, conv, out, args, f"Delphes from the {note}")
    plots(results, conv, out)
    summary = {f"{r['point'].name}_R{radius:g}": {k: v for k, v in rr["cmp"].items() if not k.startswith("_")}
               for r in results for radius, rr in r["radius"].items()}
    bench_out = {k: v for k, v in (bench or {}).items() if k not in ("point", "control")}
    if bench:
        bench_out["control"] = {f"R{radius:g}": {k: v for k, v in c.items() if not k.startswith("_")}
                                for radius, c in bench["control"].items()}
    (workdir / "last_summary.json").write_text(json.dumps({"summary": summary, "bench": bench_out}, indent=1,
                                                          default=str))
    print(text)
    print(f"validate_fastsim: {time.perf_counter() - t0:.0f} s; table and plots in {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
