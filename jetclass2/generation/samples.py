"""JetClass-II samples, their grids and the grid points of a job's batches (``config/samples.yaml``).

A job of N events is split into batches of ``events_per_grid_point`` events (the last batch takes
the remainder); every batch has its own grid point, drawn uniformly from (seed, sample, job, batch
index) with a counter-based hash, so a batch's point does not depend on how many batches the job has.
What a sample is (its grid parameters, cards, category, PDG relabelling) is data in the config:
code branches on the sample's ``kind``, never on its name.
"""
from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

import numpy as np
import yaml

from jetclass2.resources import resolve, resource

DEFAULT_SAMPLES_CONFIG = resource("config/samples.yaml")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 10x faster
SCHEMA = resource("config/samples.schema.yaml")

RESONANT_2PRONG, RESONANT_34PRONG, QCD_KIND = "resonant_2prong", "resonant_34prong", "qcd"
#: the per-batch fields a kind's grid points have (besides ``batch`` and ``events``)
KIND_FIELDS = {
    RESONANT_2PRONG: ("mass_x", "pt_min"),
    RESONANT_34PRONG: ("mass_x", "pt_min", "mass_y", "width_y"),
    QCD_KIND: ("pthat_min",),
}


class GenerationConfigError(ValueError):
    """Unknown sample, grid value outside the grid, bad event count: raised before generation."""


_CACHE: dict = {}  # (path, mtime) -> validated config: a process listing many jobs reads it once


def load_config(path: str | Path | None = None) -> dict:
    """Read and validate a samples config (against ``config/samples.schema.yaml``)."""
    import jsonschema

    path = resolve(path) if path else DEFAULT_SAMPLES_CONFIG
    try:
        key = (str(Path(path).resolve()), Path(path).stat().st_mtime_ns)
        if key in _CACHE:
            return copy.deepcopy(_CACHE[key])
        with open(path) as f:
            cfg = yaml.load(f, Loader=_LOADER)
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise GenerationConfigError(f"{path}: cannot read the samples config ({exc})") from exc
    with open(SCHEMA) as f:
        schema = yaml.load(f, Loader=_LOADER)
    err = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(cfg))
    if err is not None:
        where = "/".join(str(p) for p in err.absolute_path) or "top level"
        raise GenerationConfigError(f"{path}: {where}: {err.message}")
    cfg["_path"] = path
    check_y_grid(cfg)
    _CACHE[key] = cfg
    return copy.deepcopy(cfg)


# ---- samples as data -------------------------------------------------------------------------

def sample_names(cfg: dict) -> list[str]:
    """The samples a config defines, in file order."""
    return list(cfg["samples"])


def sample_config(cfg: dict, sample: str) -> dict:
    if sample not in cfg["samples"]:
        raise GenerationConfigError(f"{cfg['_path']}: unknown sample {sample!r} (known: {', '.join(cfg['samples'])})")
    return cfg["samples"][sample]


def category_of(cfg: dict, sample: str) -> str:
    """The dataset category (Res2P, Res34P, QCD) a sample's jets are packed into."""
    return sample_config(cfg, sample)["category"]


def kind_of(cfg: dict, sample: str) -> str:
    return sample_config(cfg, sample)["kind"]


def relabel_of(cfg: dict, sample: str) -> dict[int, int]:
    """|PDG| -> |PDG| relabelling of the sample's generator record (empty: none)."""
    return {int(k): int(v) for k, v in sample_config(cfg, sample)["relabel"].items()}


def embedded_mode(cfg: dict, sample: str) -> dict:
    """The sample's embedded hard process: ``{"pythia_card": ..., "process_card": ...}`` of the mode
    ``embedded_production`` names (empty for samples whose ``pythia_card`` holds the whole process)."""
    scfg = sample_config(cfg, sample)
    mode = scfg.get("embedded_production")
    if not mode:
        return {}
    modes = scfg.get("embedded_modes") or {}
    if mode not in modes:
        raise GenerationConfigError(f"{cfg['_path']}: samples.{sample}.embedded_production: {mode!r} is not a key of "
                                    f"embedded_modes (known: {', '.join(modes)})")
    return modes[mode]


def generator_options(cfg: dict, sample: str) -> dict:
    """Keyword arguments of :class:`jetclass2.generation.pythia_driver.PythiaGenerator` for a sample."""
    scfg = sample_config(cfg, sample)
    opts = {"relabel": relabel_of(cfg, sample), "generic_resonances": tuple(scfg["generic_resonances"])}
    card = embedded_mode(cfg, sample).get("process_card")
    if card:
        from jetclass2.generation.processes import ProcessCardError, load_card

        try:
            opts["process_card"] = load_card(card)
        except ProcessCardError as exc:
            raise GenerationConfigError(str(exc)) from exc
    return opts


# ---- grids -----------------------------------------------------------------------------------

def mass_grid(cfg: dict) -> np.ndarray:
    g = cfg["grids"]["mass_x"]
    return np.round(np.arange(g["start"], g["stop"] + 0.5 * g["step"], g["step"]), 6)


def pt_grid(cfg: dict) -> np.ndarray:
    return np.asarray(cfg["grids"]["pt_min"], dtype=float)


def qcd_pthat_grid(cfg: dict) -> np.ndarray:
    g = cfg["grids"]["qcd_pthat_min"]
    return np.round(np.geomspace(g["log_start"], g["log_stop"], g["n"]), g.get("decimals", 3))


def mass_y_grid(cfg: dict, mass_x: float) -> np.ndarray:
    """Nominal Y masses allowed for ``mass_x``: ratio x m_X on the ratio grid, at least ``min`` GeV."""
    g = cfg["grids"]["mass_y"]
    n = int(np.floor((g["ratio_stop"] - g["ratio_start"]) / g["ratio_step"] + 1e-9))
    ratios = g["ratio_start"] + g["ratio_step"] * np.arange(max(n, 0))
    ratios = ratios[ratios < g["ratio_stop"] - 1e-9]
    values = np.round(ratios * mass_x, 6)
    return values[values >= g["min"]]


def width_y_values(cfg: dict, mass_y: float) -> np.ndarray:
    """Y widths allowed for a nominal Y mass: the configured fractions of it."""
    return np.round(np.asarray(cfg["grids"]["width_y_fraction"], dtype=float) * mass_y, 9)


def y_mass_max(cfg: dict, mass_y: float, width_y: float) -> float:
    """Upper Y mass limit (Pythia mMax): m_Y + min(k x width, f x m_Y), the SLHA default of the reference."""
    w = cfg["grids"]["y_mass_window"]
    return mass_y + min(w["widths_above"] * width_y, w["max_fraction_above"] * mass_y)


def check_y_grid(cfg: dict) -> None:
    """Every Res34P X mass must have a nominal Y mass; raise :class:`GenerationConfigError` naming the key."""
    g = cfg["grids"]["mass_y"]
    where = f"{cfg['_path']}: grids.mass_y"
    if g["ratio_stop"] <= g["ratio_start"]:
        raise GenerationConfigError(f"{where}: ratio_stop {g['ratio_stop']} must exceed ratio_start {g['ratio_start']} "
                                    "(nominal m_Y = ratio x m_X, 0 < ratio < 1)")
    if not any(kind == RESONANT_34PRONG for kind in (s["kind"] for s in cfg["samples"].values())):
        return
    for m in x_mass_grid(cfg, RESONANT_34PRONG):
        if len(mass_y_grid(cfg, m)) == 0:
            raise GenerationConfigError(f"{where}: no nominal Y mass for m_X = {m:g} GeV (ratios {g['ratio_start']:g}.."
                                        f"{g['ratio_stop']:g} x m_X, at least min = {g['min']:g} GeV)")


def x_mass_grid(cfg: dict, kind: str) -> np.ndarray:
    masses = mass_grid(cfg)
    if kind == RESONANT_34PRONG:
        masses = masses[masses >= cfg["grids"]["res34p_min_mass_x"]]
    return masses


def job_seed(base_seed: int, sample: str, job: int, stream: str = "") -> int:
    """A seed in 1..900000000 (Pythia's and MadGraph's range) from (config seed, sample, job, stream)."""
    h = hashlib.sha256(f"{base_seed}/{sample}/{job}/{stream}".encode()).digest()
    return int.from_bytes(h[:4], "little") % 900_000_000 + 1


@dataclass(frozen=True)
class GridPoint:
    """The physics parameters of one batch. ``pt_min`` is pT_min of X, or pTHat_min for QCD [GeV]."""

    sample: str
    mass: float | None = None  # m_X [GeV]
    pt_min: float | None = None
    mass_y: float | None = None
    width_y: float | None = None

    def describe(self) -> str:
        parts = [f"{k}={v:g}" for k, v in (("m_X", self.mass), ("pT_min", self.pt_min), ("m_Y", self.mass_y), ("w_Y", self.width_y)) if v is not None]
        return f"{self.sample}(" + ", ".join(parts) + ")"


@dataclass(frozen=True)
class Batch:
    """``events`` events of one grid point, the ``index``-th batch of job ``job`` (production seed ``seed``)."""

    index: int
    events: int
    point: GridPoint
    seed: int
    job: int

    @property
    def pythia_seed(self) -> int:
        return job_seed(self.seed, self.point.sample, self.job, f"pythia/{self.index}")

    @property
    def madgraph_seed(self) -> int:
        return job_seed(self.seed, self.point.sample, self.job, f"madgraph/{self.index}")

    def as_dict(self, kind: str, seeds: tuple[str, ...] = ()) -> dict:
        """The batch as ``--list-grid-points`` prints it, plus the named seeds ("pythia", "madgraph")."""
        p = self.point
        values = {"mass_x": p.mass, "pt_min": p.pt_min, "mass_y": p.mass_y, "width_y": p.width_y, "pthat_min": p.pt_min}
        out = {"batch": self.index, "events": self.events, **{f: values[f] for f in KIND_FIELDS[kind]}}
        for name in seeds:
            out[f"{name}_seed"] = getattr(self, f"{name}_seed")
        return out


def validate_point(cfg: dict, p: GridPoint) -> GridPoint:
    """Check that ``p`` lies on its sample's grid; raise :class:`GenerationConfigError` if not."""
    kind = kind_of(cfg, p.sample)
    src = cfg["_path"]
    if kind == QCD_KIND:
        if p.pt_min is None or not np.any(np.isclose(qcd_pthat_grid(cfg), p.pt_min, rtol=1e-4)):
            raise GenerationConfigError(f"{src}: {p.sample}: pTHat_min = {p.pt_min} GeV is not on the grid")
        return p
    if p.mass is None or not np.any(np.isclose(mass_grid(cfg), p.mass)):
        raise GenerationConfigError(f"{src}: {p.sample}: m_X = {p.mass} GeV is not on the mass grid")
    if p.pt_min is None or not np.any(np.isclose(pt_grid(cfg), p.pt_min)):
        raise GenerationConfigError(f"{src}: {p.sample}: pT_min = {p.pt_min} GeV is not on the pT grid")
    if kind == RESONANT_34PRONG:
        if p.mass < cfg["grids"]["res34p_min_mass_x"]:
            raise GenerationConfigError(f"{src}: {p.sample} needs m_X >= {cfg['grids']['res34p_min_mass_x']} GeV, got {p.mass}")
        if p.mass_y is None or p.mass_y >= p.mass or not np.any(np.isclose(mass_y_grid(cfg, p.mass), p.mass_y)):
            raise GenerationConfigError(f"{src}: {p.sample}: nominal m_Y = {p.mass_y} GeV is not on the Y mass grid "
                                        f"of m_X = {p.mass:g} GeV (m_Y < m_X)")
        if p.width_y is None or not np.any(np.isclose(width_y_values(cfg, p.mass_y), p.width_y)):
            raise GenerationConfigError(f"{src}: {p.sample}: width_Y = {p.width_y} GeV is not on the Y width grid")
    return p


# ---- per-batch grid points -------------------------------------------------------------------

_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser: a well-mixed 64-bit hash of each element (wrapping arithmetic)."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def _uniform(key: int, batches: np.ndarray, stream: int) -> np.ndarray:
    """U[0, 1) per batch from (key, batch index, stream): counter-based, independent of the batch count."""
    with np.errstate(over="ignore"):
        counter = batches.astype(_U64) * _U64(8) + _U64(stream + 1)
        x = _splitmix64(_U64(key) + counter * _GOLDEN)
    return (x >> _U64(11)).astype(np.float64) * 2.0 ** -53


def _pick(grid: np.ndarray, u: np.ndarray) -> np.ndarray:
    return grid[np.minimum((u * len(grid)).astype(np.int64), len(grid) - 1)]


def batch_sizes(n_events: int, events_per_grid_point: int) -> list[int]:
    """Events per batch: full batches of ``events_per_grid_point``, then the remainder (if any)."""
    full, rest = divmod(n_events, events_per_grid_point)
    return [events_per_grid_point] * full + ([rest] if rest else [])


def job_batches(cfg: dict, sample: str, job: int, n_events: int, seed: int,
                events_per_grid_point: int | None = None, min_pt: float | None = None) -> list[Batch]:
    """The batches of job ``job`` (grid point and seeds of each), checked; nothing is generated.

    ``min_pt`` restricts the draw to grid points with pT_min (pTHat_min for QCD) >= ``min_pt``
    (quick productions that only want boosted jets). Raises :class:`GenerationConfigError`.
    """
    scfg = sample_config(cfg, sample)
    kind = scfg["kind"]
    epg = cfg["events_per_grid_point"] if events_per_grid_point is None else events_per_grid_point
    if isinstance(job, bool) or not isinstance(job, (int, np.integer)) or job < 0:
        raise GenerationConfigError(f"job index must be an integer >= 0, got {job!r}")
    if n_events < 0:
        raise GenerationConfigError(f"number of events must be >= 0, got {n_events}")
    if epg <= 0:
        raise GenerationConfigError(f"events per grid point must be >= 1, got {epg}")
    sizes = batch_sizes(n_events, epg)
    idx = np.arange(len(sizes))
    key = int.from_bytes(hashlib.sha256(f"{seed}/{sample}/{job}/grid".encode()).digest()[:8], "little")

    def restricted(grid):
        sel = grid[grid >= min_pt] if min_pt is not None else grid
        if len(sel) == 0:
            raise GenerationConfigError(f"{cfg['_path']}: no {sample} grid point with pT_min >= {min_pt} GeV")
        return sel

    cols: dict[str, np.ndarray] = {}
    if kind == QCD_KIND:
        cols["pt_min"] = _pick(restricted(qcd_pthat_grid(cfg)), _uniform(key, idx, 0))
    else:
        cols["mass"] = _pick(x_mass_grid(cfg, kind), _uniform(key, idx, 0))
        cols["pt_min"] = _pick(restricted(pt_grid(cfg)), _uniform(key, idx, 1))
        if kind == RESONANT_34PRONG:
            # Y mass uniform among the nominal masses (ratio x m_X) of the batch's X mass; width a fraction of it
            u = _uniform(key, idx, 2)
            cols["mass_y"] = np.empty(len(idx))
            for m in np.unique(cols["mass"]):
                sel = cols["mass"] == m
                cols["mass_y"][sel] = _pick(mass_y_grid(cfg, m), u[sel])
            frac = _pick(np.asarray(cfg["grids"]["width_y_fraction"], dtype=float), _uniform(key, idx, 3))
            cols["width_y"] = np.round(frac * cols["mass_y"], 9)
    out = []
    for i, n in enumerate(sizes):
        point = GridPoint(sample, **{k: float(v[i]) for k, v in cols.items()})
        out.append(Batch(i, n, point, seed, job))
    for b in out[:1]:  # the draw stays on the grid by construction; check the first as a guard
        validate_point(cfg, b.point)
    return out


# ---- Pythia cards ----------------------------------------------------------------------------

_INCLUDE = re.compile(r"^#include\s+(\S+)(.*)$")


def render_card(path: str | Path, values: dict) -> list[str]:
    """Pythia command lines of a card with ``$name`` placeholders filled and ``#include`` expanded."""
    path = Path(path)
    if not path.is_absolute():
        path = resolve(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise GenerationConfigError(f"{path}: cannot read the card ({exc.strerror})") from exc
    out = []
    for line in text.splitlines():
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


def card_values(cfg: dict, point: GridPoint, seed: int) -> dict:
    """Placeholder values of a batch's cards: beams, seed, X mass window and width, cuts, Y."""
    scfg = sample_config(cfg, point.sample)
    values = {"sqrt_s": cfg["sqrt_s_gev"], "seed": seed}
    if "resonance" in scfg:
        values["pdg"] = scfg["resonance"]
    if point.mass is not None:
        win = cfg["mass_window_fraction"] * point.mass
        values.update(mass=point.mass, width=cfg["width_fraction_x"] * point.mass,
                      mass_min=max(point.mass - win, 0.1), mass_max=point.mass + win)
    if point.pt_min is not None:
        values["pt_min"] = point.pt_min
    if point.mass_y is not None:
        values.update(mass_y=point.mass_y, width_y=point.width_y,
                      mass_y_max=round(y_mass_max(cfg, point.mass_y, point.width_y), 6))
    return values


def pythia_commands(cfg: dict, point: GridPoint, seed: int) -> list[str]:
    """All Pythia settings of one batch (common card + sample card), rendered for ``point``."""
    scfg = sample_config(cfg, point.sample)
    values = card_values(cfg, point, seed)
    mode = embedded_mode(cfg, point.sample)
    extra = render_card(mode["pythia_card"], values) if mode else []
    return render_card("cards/pythia/common.cmnd", values) + render_card(scfg["pythia_card"], values) + extra


# ---- provenance ------------------------------------------------------------------------------

def provenance_path(output: str | Path) -> Path:
    """Where a job's grid-point list goes: beside its output, ``<output>.gridpoints.json``."""
    return Path(f"{output}.gridpoints.json")


def provenance(cfg: dict, sample: str, job: int, seed: int, batches: list[Batch], seeds: tuple[str, ...] = ("pythia",),
               **extra) -> dict:
    """The job's grid points with the seeds used (``seeds``: which generators' seeds), as written beside its output."""
    kind = kind_of(cfg, sample)
    return {"sample": sample, "kind": kind, "category": category_of(cfg, sample), "job": job, "seed": seed,
            "events": sum(b.events for b in batches), "samples_config": str(cfg["_path"]), **extra,
            "batches": [b.as_dict(kind, seeds) for b in batches]}


def write_provenance(path: str | Path, record: dict) -> Path:
    """Write a provenance record atomically (temporary name, then rename); one line per batch."""
    import json

    from jetclass2.atomic import atomic_output

    head = {k: v for k, v in record.items() if k != "batches"}
    lines = ",\n".join("  " + json.dumps(b) for b in record["batches"])
    text = json.dumps(head, indent=1)[:-2] + ',\n "batches": [\n' + lines + "\n ]\n}\n"
    with atomic_output(path) as tmp:
        tmp.write_text(text)
    return Path(path)
