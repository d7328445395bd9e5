"""JetClass-II samples, their grids and per-job grid points (from ``config/samples.yaml``)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

import numpy as np
import yaml

from jetclass2.resources import resolve, resource

DEFAULT_SAMPLES_CONFIG = resource("config/samples.yaml")

#: PDG id relabelling applied to the generator record of a sample (see cards/pythia/res2p_charged.cmnd)
RELABEL = {"Res2P_charged": {24: 37}}


class GenerationConfigError(ValueError):
    """Unknown sample, grid value outside the grid, bad event count: raised before generation."""


def load_config(path: str | Path | None = None) -> dict:
    path = resolve(path) if path else DEFAULT_SAMPLES_CONFIG
    with open(path) as f:
        cfg = yaml.safe_load(f)
    cfg["_path"] = path
    return cfg


def mass_grid(cfg: dict) -> np.ndarray:
    g = cfg["grids"]["mass_x"]
    return np.round(np.arange(g["start"], g["stop"] + 0.5 * g["step"], g["step"]), 6)


def pt_grid(cfg: dict) -> np.ndarray:
    return np.asarray(cfg["grids"]["pt_min"], dtype=float)


def qcd_pthat_grid(cfg: dict) -> np.ndarray:
    g = cfg["grids"]["qcd_pthat_min"]
    return np.round(np.geomspace(g["log_start"], g["log_stop"], g["n"]), 3)


def mass_y_grid(cfg: dict, mass_x: float) -> np.ndarray:
    """Y masses allowed for ``mass_x``: from the grid start up to strictly below m_X/2."""
    g = cfg["grids"]["mass_y"]
    values = np.arange(g["start"], mass_x / 2, g["step"])
    return np.round(values[values < mass_x / 2], 6)


def job_seed(base_seed: int, sample: str, job: int, stream: str = "") -> int:
    """A 31-bit seed derived from (config seed, sample, job index, stream name)."""
    h = hashlib.sha256(f"{base_seed}/{sample}/{job}/{stream}".encode()).digest()
    return int.from_bytes(h[:4], "little") % 900_000_000 + 1  # Pythia accepts 1..900000000


@dataclass(frozen=True)
class GridPoint:
    """The physics parameters of one generation job."""

    sample: str
    mass: float | None = None  # m_X [GeV]
    pt_min: float | None = None  # pT_min of X, or pTHat_min for QCD [GeV]
    mass_y: float | None = None
    width_y: float | None = None

    def describe(self) -> str:
        parts = [f"{k}={v:g}" for k, v in (("m_X", self.mass), ("pT_min", self.pt_min), ("m_Y", self.mass_y), ("w_Y", self.width_y)) if v is not None]
        return f"{self.sample}(" + ", ".join(parts) + ")"


def sample_config(cfg: dict, sample: str) -> dict:
    if sample not in cfg["samples"]:
        raise GenerationConfigError(f"{cfg['_path']}: unknown sample {sample!r} (known: {', '.join(cfg['samples'])})")
    return cfg["samples"][sample]


def validate_point(cfg: dict, p: GridPoint) -> GridPoint:
    """Check that ``p`` lies on its sample's grid; raise :class:`GenerationConfigError` if not."""
    sample_config(cfg, p.sample)
    src = cfg["_path"]
    if p.sample == "QCD":
        if p.pt_min is None or not np.any(np.isclose(qcd_pthat_grid(cfg), p.pt_min, rtol=1e-4)):
            raise GenerationConfigError(f"{src}: QCD pTHat_min {p.pt_min} is not on the grid")
        return p
    if p.mass is None or not np.any(np.isclose(mass_grid(cfg), p.mass)):
        raise GenerationConfigError(f"{src}: {p.sample}: m_X = {p.mass} GeV is not on the mass grid")
    if p.pt_min is None or not np.any(np.isclose(pt_grid(cfg), p.pt_min)):
        raise GenerationConfigError(f"{src}: {p.sample}: pT_min = {p.pt_min} GeV is not on the pT grid")
    if p.sample == "Res34P":
        if p.mass < cfg["grids"]["res34p_min_mass_x"]:
            raise GenerationConfigError(f"{src}: Res34P needs m_X >= {cfg['grids']['res34p_min_mass_x']} GeV, got {p.mass}")
        if p.mass_y is None or p.mass_y >= p.mass / 2:
            raise GenerationConfigError(f"{src}: Res34P needs m_Y < m_X/2 (on-shell pair), got m_Y={p.mass_y}, m_X={p.mass}")
        if p.width_y is None or p.width_y <= 0:
            raise GenerationConfigError(f"{src}: Res34P needs a positive Y width, got {p.width_y}")
    return p


def grid_point_for_job(cfg: dict, sample: str, job: int, seed: int, min_pt: float | None = None) -> GridPoint:
    """The grid point of job ``job``: drawn uniformly, deterministically from (seed, sample, job).

    ``min_pt`` restricts the draw to grid points with pT_min (pTHat_min for QCD) >= ``min_pt``
    (quick productions that only want boosted jets).
    """
    sample_config(cfg, sample)
    if job < 0:
        raise GenerationConfigError(f"job index must be >= 0, got {job}")
    rng = np.random.default_rng(job_seed(seed, sample, job, "grid"))

    def pts(grid):
        sel = grid[grid >= min_pt] if min_pt is not None else grid
        if len(sel) == 0:
            raise GenerationConfigError(f"{cfg['_path']}: no {sample} grid point with pT_min >= {min_pt}")
        return sel

    if sample == "QCD":
        return GridPoint(sample, pt_min=float(rng.choice(pts(qcd_pthat_grid(cfg)))))
    masses = mass_grid(cfg)
    if sample == "Res34P":
        masses = masses[masses >= cfg["grids"]["res34p_min_mass_x"]]
    mass = float(rng.choice(masses))
    pt_min = float(rng.choice(pts(pt_grid(cfg))))
    if sample != "Res34P":
        return GridPoint(sample, mass=mass, pt_min=pt_min)
    return GridPoint(sample, mass=mass, pt_min=pt_min, mass_y=float(rng.choice(mass_y_grid(cfg, mass))),
                     width_y=float(rng.choice(cfg["grids"]["width_y"])))


_INCLUDE = re.compile(r"^#include\s+(\S+)(.*)$")


def render_card(path: str | Path, values: dict) -> list[str]:
    """Pythia command lines of a card with ``$name`` placeholders filled and ``#include`` expanded."""
    path = Path(path)
    if not path.is_absolute():
        path = resolve(path)
    out = []
    for line in path.read_text().splitlines():
        m = _INCLUDE.match(line.strip())
        if m:
            extra = dict(kv.split("=", 1) for kv in m.group(2).split())
            out += render_card(path.parent / m.group(1), {**values, **extra})
            continue
        line = line.split("!", 1)[0].strip()
        if line:
            try:
                out.append(Template(line).substitute(values))
            except KeyError as exc:
                raise GenerationConfigError(f"{path}: placeholder {exc} has no value") from exc
    return out


def pythia_commands(cfg: dict, point: GridPoint, seed: int) -> list[str]:
    """All Pythia settings of a job (common card + sample card), rendered for ``point``."""
    scfg = sample_config(cfg, point.sample)
    values = {"sqrt_s": cfg["sqrt_s_gev"], "seed": seed}
    if point.sample != "QCD":
        win = cfg["mass_window_fraction"] * point.mass
        values.update(mass=point.mass, width=cfg["width_fraction_x"] * point.mass,
                      mass_min=max(point.mass - win, 0.1), mass_max=point.mass + win)
    if point.pt_min is not None:
        values["pt_min"] = point.pt_min
    if point.mass_y is not None:
        values.update(mass_y=point.mass_y, width_y=point.width_y, mass_y_max=point.mass / 2)
    return render_card("cards/pythia/common.cmnd", values) + render_card(scfg["pythia_card"], values)
