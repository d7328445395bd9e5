"""The fast-simulation card (YAML) and small helpers shared by the simulation stages."""
from __future__ import annotations

import numpy as np
import yaml

from jetclass2.resources import resolve, resource

DEFAULT_CARD = resource("cards/delphes/fastsim_CMS_JetClassII.yaml")
C_MM_PER_S = 2.99792458e11
NEUTRINOS = (12, 14, 16)

_REQUIRED = ("pileup", "magnetic_field", "tracking", "energy_fractions", "ecal", "hcal", "puppi")


class SimulationInputError(ValueError):
    """Input the simulation cannot process (named problem, never a numpy crash deep inside)."""


def load_card(card=None) -> dict:
    """Read the fast-simulation card: a dict (returned as is), a YAML path, or None for the default."""
    if isinstance(card, dict):
        return card
    path = resolve(card) if card else DEFAULT_CARD
    if not path.exists():
        raise SimulationInputError(f"{path}: fast-simulation card not found")
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SimulationInputError(f"{path}: cannot parse the fast-simulation card ({exc})") from exc
    except OSError as exc:
        raise SimulationInputError(f"{path}: cannot read the fast-simulation card ({exc.strerror or exc})") from exc
    missing = [k for k in _REQUIRED if not isinstance(data, dict) or k not in data]
    if missing:
        raise SimulationInputError(f"{path}: fast-simulation card lacks section(s) {missing}")
    return data


def table_lookup(eta, pt, eta_edges, pt_edges, values):
    """values[row, col]: row = first |eta| upper edge >= |eta| (beyond: last row),
    col = last pT lower edge <= pT; pT below the first edge gives 0 (as Delphes' formulas)."""
    values = np.asarray(values, dtype=np.float64)
    row = np.minimum(np.searchsorted(np.asarray(eta_edges), np.abs(eta), side="left"), len(eta_edges) - 1)
    col = np.searchsorted(np.asarray(pt_edges), pt, side="right") - 1
    out = values[row, np.clip(col, 0, None)]
    return np.where(col >= 0, out, 0.0)


def row_lookup(eta, eta_edges, row_values):
    """row_values[i] for the first |eta| upper edge >= |eta| (beyond the last edge: last entry)."""
    idx = np.minimum(np.searchsorted(np.asarray(eta_edges), np.abs(eta), side="left"), len(eta_edges) - 1)
    return np.asarray(row_values, dtype=np.float64)[idx]


def log_normal(rng, mean, sigma):
    """Log-normal smearing with the given mean and sigma (Delphes' choice: never negative)."""
    mean = np.asarray(mean, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    out = np.zeros(mean.shape)
    ok = mean > 0
    b = np.sqrt(np.log1p((sigma[ok] / mean[ok]) ** 2))
    a = np.log(mean[ok]) - 0.5 * b * b
    out[ok] = np.exp(a + b * rng.standard_normal(ok.sum()))
    return out


def visible(pid):
    """Not a neutrino."""
    apid = np.abs(pid)
    return (apid != NEUTRINOS[0]) & (apid != NEUTRINOS[1]) & (apid != NEUTRINOS[2])
