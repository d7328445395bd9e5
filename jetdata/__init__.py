"""The packed JetClass-II dataset for users: loading (:func:`load`, :func:`iterate`, :func:`files`)
and the quality report (:mod:`jetdata.qa`). Works on our ``results/dataset`` and on the published
parquet release."""
from .loader import DatasetError, files, iterate, load, resolve_labels

__all__ = ["DatasetError", "files", "iterate", "load", "resolve_labels"]
