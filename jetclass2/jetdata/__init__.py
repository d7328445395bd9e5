"""The packed JetClass-II dataset for users: loading (:func:`load`, :func:`iterate`, :func:`files`), fixed-shape
arrays (:func:`get_data`), a torch ``IterableDataset`` (:class:`JetIterableDataset`, needs torch: imported only
when asked for) and the quality report (:mod:`jetclass2.jetdata.qa`). Works on our ``results/dataset``, on the published
parquet release (a directory, a list of files or one file) and on our release (``release-dataset``)."""
from .arrays import JetData, get_data, label_names, sophon_groups
from .loader import DatasetError, files, iterate, load, resolve_labels

__all__ = ["DatasetError", "JetData", "JetIterableDataset", "files", "get_data", "iterate", "label_names", "load",
           "resolve_labels", "sophon_groups"]


def __getattr__(name):
    if name == "JetIterableDataset":  # torch (the `train` extra) only when asked for
        from .torchdata import JetIterableDataset

        return JetIterableDataset
    raise AttributeError(f"module 'jetdata' has no attribute {name!r}")
