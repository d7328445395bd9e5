"""Cards of one container-path job (MadGraph5_aMC@NLO -> Pythia 8 -> Delphes), one set per grid point.

Layout of the rendered directory (docs/generation.md):

    OUTDIR/gridpoints.json           the job's batches: grid point, events, MadGraph and Pythia seeds
    OUTDIR/proc_card.dat             MadGraph process card, once per job (resonant samples)
    OUTDIR/proc_card_reference.dat   the process as the reference wrote it, if the sample names one
                                     (``container.madgraph_reference_process``): its sub-process
                                     directories give the job's their random-number offsets
    OUTDIR/batch_NNNN/launch.dat     MadGraph launch commands of batch NNNN (resonant samples)
    OUTDIR/batch_NNNN/pythia8.cmnd   Pythia 8 card of batch NNNN: shower of its LHE events with the
                                     sample's decay tables, or the Pythia-only QCD card
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from string import Template

from jetclass2.atomic import temporary_name
from jetclass2.resources import resolve

from . import samples

PROVENANCE_NAME = "gridpoints.json"
#: the reference's form of the process, when the sample's process card is a part of it
REFERENCE_PROCESS_CARD = "proc_card_reference.dat"


def _template(path: str, values: dict) -> str:
    p = resolve(path)
    try:
        return Template(p.read_text()).substitute(values)
    except OSError as exc:
        raise samples.GenerationConfigError(f"{p}: cannot read the card ({exc.strerror})") from exc
    except KeyError as exc:
        raise samples.GenerationConfigError(f"{p}: placeholder {exc} has no value") from exc


def _pdf_choice(cfg: dict, pdf: str | None) -> dict:
    choice = pdf or cfg["container"]["pdf"]
    if choice not in cfg["container"]["pdf_sets"]:
        raise samples.GenerationConfigError(f"{cfg['_path']}: unknown PDF choice {choice!r} "
                                            f"(known: {', '.join(cfg['container']['pdf_sets'])})")
    return cfg["container"]["pdf_sets"][choice]


def batch_cards(cfg: dict, sample: str, batch: samples.Batch, pdf: str | None = None) -> dict[str, str]:
    """File name -> text of the cards of one batch (``launch.dat`` for resonant samples, ``pythia8.cmnd``)."""
    scfg = samples.sample_config(cfg, sample)
    cont = scfg["container"]
    pdfs = _pdf_choice(cfg, pdf)
    values = samples.card_values(cfg, batch.point, batch.pythia_seed)
    values.update(events=batch.events, times_allow_errors=cfg["container"]["times_allow_errors"], pdf=pdfs["pythia"],
                  prefer_lhapdf=pdfs["prefer_lhapdf"])
    pythia = samples.render_card(cont["pythia"], values)
    cards = {}
    if "madgraph_launch" in cont:
        mg = pdfs["madgraph"]
        pdf_commands = [f"set pdlabel {mg['pdlabel']}"] + ([f"set lhaid {mg['lhaid']}"] if "lhaid" in mg else [])
        p = batch.point
        cards["launch.dat"] = _template(cont["madgraph_launch"], {
            "process_dir": sample.lower(), "pdf_commands": "\n".join(pdf_commands), "events": batch.events,
            "seed": batch.madgraph_seed, "x_pdg": scfg["resonance"], "mass": p.mass, "pt_min": p.pt_min,
            "mass_y": p.mass_y, "width_y": p.width_y})
        # the shower card: LHE input, then the decay tables of X (and Y)
        pythia += samples.render_card(scfg["decay_card"], values)
    cards["pythia8.cmnd"] = "\n".join(pythia) + "\n"
    return cards


def render_job_cards(sample: str, job: int, n_events: int, seed: int, outdir: Path, samples_config=None,
                     events_per_grid_point: int | None = None, pdf: str | None = None) -> list[Path]:
    """Write the cards of job ``job`` (layout above) to ``outdir``; returns the top-level files written.

    Everything is rendered in a temporary directory first; files then replace their namesakes in
    ``outdir`` one by one, ``gridpoints.json`` last.
    """
    cfg = samples.load_config(samples_config)
    scfg = samples.sample_config(cfg, sample)
    if n_events <= 0:
        raise samples.GenerationConfigError(f"number of events must be positive, got {n_events}")
    batches = samples.job_batches(cfg, sample, job, n_events, seed, events_per_grid_point)
    _pdf_choice(cfg, pdf)
    outdir = Path(outdir)
    tmp = temporary_name(outdir)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        files = []
        if "madgraph_process" in scfg["container"]:
            proc = _template(scfg["container"]["madgraph_process"], {
                "process_dir": sample.lower(), "run_mode": cfg["container"]["run_mode"], "nb_core": cfg["container"]["nb_core"]})
            (tmp / "proc_card.dat").write_text(proc)
            files.append("proc_card.dat")
            if scfg["container"].get("madgraph_reference_process"):
                ref = _template(scfg["container"]["madgraph_reference_process"], {
                    "process_dir": f"{sample.lower()}_reference", "run_mode": 0, "nb_core": 1})
                (tmp / REFERENCE_PROCESS_CARD).write_text(ref)
                files.append(REFERENCE_PROCESS_CARD)
        for b in batches:
            d = tmp / f"batch_{b.index:04d}"
            d.mkdir()
            for name, text in batch_cards(cfg, sample, b, pdf).items():
                (d / name).write_text(text)
                files.append(f"{d.name}/{name}")
        record = samples.provenance(cfg, sample, job, seed, batches, seeds=("madgraph", "pythia") if "madgraph_process" in scfg["container"]
                                    else ("pythia",), pdf=pdf or cfg["container"]["pdf"],
                                    events_per_grid_point=events_per_grid_point or cfg["events_per_grid_point"])
        samples.write_provenance(tmp / PROVENANCE_NAME, record)
        files.append(PROVENANCE_NAME)
        for name in files:  # gridpoints.json last: its presence marks a complete set
            (outdir / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / name, outdir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [outdir / n for n in files if "/" not in n]
