"""Rendering of the MadGraph process/launch cards of one job (container generation path)."""
from __future__ import annotations

from pathlib import Path
from string import Template

from jetclass2.resources import resolve

from . import samples

# NNPDF3.1 NNLO (as_s = 0.118) in LHAPDF numbering, as in the reference production
NNPDF31_LHAID = 315000


def render_job_cards(sample: str, job: int, n_events: int, seed: int, outdir: Path, samples_config=None) -> list[Path]:
    """Write ``proc_card.dat`` and ``launch.dat`` of job ``job`` to ``outdir``; returns the paths."""
    cfg = samples.load_config(samples_config)
    scfg = samples.sample_config(cfg, sample)
    if "madgraph" not in scfg:
        raise samples.GenerationConfigError(f"{cfg['_path']}: sample {sample} has no MadGraph cards (Pythia only)")
    if n_events <= 0:
        raise samples.GenerationConfigError(f"number of events must be positive, got {n_events}")
    point = samples.validate_point(cfg, samples.grid_point_for_job(cfg, sample, job, seed))
    values = {
        "process_dir": sample.lower(), "lhaid": NNPDF31_LHAID, "nevents": n_events,
        "seed": samples.job_seed(seed, sample, job, "madgraph"),
        "x_pdg": scfg["resonance"], "mass": point.mass, "pt_min": point.pt_min,
        "mass_y": point.mass_y, "width_y": point.width_y,
    }
    outdir.mkdir(parents=True, exist_ok=True)
    written = [_write_shower_card(cfg, sample, point, values["seed"], outdir)]
    for name, key in (("proc_card.dat", "process"), ("launch.dat", "launch")):
        text = Template(resolve(scfg["madgraph"][key]).read_text()).substitute(values)
        (outdir / name).write_text(text)
        written.append(outdir / name)
    return sorted(written)


def _write_shower_card(cfg: dict, sample: str, point, seed: int, outdir: Path) -> Path:
    """Pythia 8 settings to shower the MadGraph events: common settings, LHE input, the X/Y decay tables."""
    lines = samples.pythia_commands(cfg, point, seed)
    # the sample card's decay tables; the charged sample's stand-in W is the H+ of the 2HDM here
    decays = [ln.replace("24:", "37:", 1) if sample == "Res2P_charged" else ln for ln in lines
              if ln.split(":", 1)[0] in ("24", "25", "35", "37") and ("Channel" in ln or "onMode" in ln or "mMin" in ln)]
    common = [ln for ln in lines if ln.split(":", 1)[0] in ("Beams", "Random", "Next", "Init", "Print", "Check")]
    text = "\n".join(common + ["Beams:frameType = 4", "Beams:LHEF = unweighted_events.lhe"] + decays) + "\n"
    path = outdir / "pythia8.cmnd"
    path.write_text(text)
    return path
