"""Delphes-format files -> JetClass-II jet ntuples (the heart of the production).

>>> import ntuplizer
>>> ntuplizer.ntuplize(["delphes.root"], "jets.root", qcd_labels=True)
>>> jets = ntuplizer.process_file("delphes.root")
"""
from jetclass2.delphes_tree import DelphesInputError

from .core import Settings, SettingsError, gen_jets, jet_substructure, ntuplize, process_events, process_file, reco_jets
from .labels import LABEL_NAMES, label_jets

__all__ = ["Settings", "SettingsError", "reco_jets", "gen_jets", "jet_substructure", "ntuplize", "process_events", "process_file", "DelphesInputError", "LABEL_NAMES", "label_jets"]
