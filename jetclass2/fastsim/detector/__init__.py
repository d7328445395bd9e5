"""Delphes-compatible fast detector simulation (pile-up, tracking, calorimeters, energy flow, PUPPI).

Stages: ``pileup`` (PileUpMerger), ``propagation`` (ParticlePropagator), ``tracking``
(Efficiency, MomentumSmearing, TrackSmearing), ``calorimeter`` (SimpleCalorimeter ECAL/HCAL
with energy flow), ``puppi`` (RunPUPPI); ``simulator.Simulator`` chains them.
"""
from .card import DEFAULT_CARD, SimulationInputError, load_card
from .simulator import CHARGED_ETA_CHOICES, Simulator, recentre

__all__ = ["CHARGED_ETA_CHOICES", "Simulator", "SimulationInputError", "load_card", "recentre", "DEFAULT_CARD"]
