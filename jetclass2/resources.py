"""Where the configuration and the cards live, in a checkout and in an installed wheel.

In a checkout (editable install) they are the repository's ``config/`` and ``cards/``; a wheel
ships copies of both inside this package (see ``pyproject.toml``). Paths written in configs
(``cards/pythia/qcd.cmnd``) are relative to that root unless they exist relative to the
working directory, so a user's edited copy in the working directory wins.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_root() -> Path:
    """Directory holding ``config/`` and ``cards/``."""
    checkout = _PACKAGE.parent
    if (checkout / "config" / "samples.yaml").is_file() and (checkout / "cards").is_dir():
        return checkout
    return _PACKAGE


def resource(relative: str) -> Path:
    """A shipped file by its repository-relative name, e.g. ``config/samples.yaml``."""
    return data_root() / relative


def shared_dir() -> Path:
    """The project's reference material (``shared/``: real Delphes files, reference ntuples, the
    toolchain sources): ``$JETCLASS2_SHARED``, else the nearest ``shared/`` above the checkout."""
    import os

    if os.environ.get("JETCLASS2_SHARED"):
        return Path(os.environ["JETCLASS2_SHARED"])
    checkout = _PACKAGE.parent
    for parent in checkout.parents:
        if (parent / "shared").is_dir():
            return parent / "shared"
    return checkout.parent / "shared"


def resolve(path: str | Path) -> Path:
    """A path as a user or config wrote it: absolute, relative to the working directory, or shipped."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    shipped = data_root() / p
    return shipped if shipped.exists() else p
