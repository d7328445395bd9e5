"""Delphes-format files -> JetClass-II jet ntuples (the heart of the production).

>>> from jetclass2 import ntuplizer
>>> ntuplizer.ntuplize(["delphes.root"], "jets.root", qcd_labels=True)
>>> jets = ntuplizer.process_file("delphes.root")

The names below are imported on first use, so that a light module such as
``jetclass2.ntuplizer.labels`` (used by packing for the label list) does not load fastjet and numba.
"""
from importlib import import_module

_EXPORTS = {
    "Settings": ".core", "SettingsError": ".core", "gen_jets": ".core", "jet_substructure": ".core",
    "ntuplize": ".core", "process_events": ".core", "process_file": ".core", "reco_jets": ".core",
    "LABEL_NAMES": ".label_names", "label_jets": ".labels",
    "DelphesInputError": "jetclass2.delphes_tree",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ntuplizer' has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
