"""Delphes-compatible fast detector simulation (pile-up, tracking, calorimeters, PUPPI)."""
from .simulator import DEFAULT_CARD, SimulationInputError, Simulator, load_card, recentre

__all__ = ["Simulator", "SimulationInputError", "load_card", "recentre", "DEFAULT_CARD"]
