"""Delphes-format files -> JetClass-II jet ntuples (the heart of the production).

>>> import ntuplizer
>>> ntuplizer.ntuplize(["delphes.root"], "jets.root", qcd_labels=True)
>>> jets = ntuplizer.process_file("delphes.root")
"""
from .core import Settings, ntuplize, process_events, process_file
from .io import NtuplizerInputError
from .labels import LABEL_NAMES, label_jets

__all__ = ["Settings", "ntuplize", "process_events", "process_file", "NtuplizerInputError", "LABEL_NAMES", "label_jets"]
