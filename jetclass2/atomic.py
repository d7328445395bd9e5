"""Write a file under a temporary name and rename it on success: no half-written file ever
stands under a final name, and a failure removes the temporary file."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path


def temporary_name(path: str | os.PathLike) -> Path:
    """The hidden temporary name beside ``path`` used while it is written (``.NAME.PID.tmp``)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    >>> with atomic_output("out.json") as tmp:
    ...     tmp.write_text("{}")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
