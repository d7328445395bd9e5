"""Shared pytest fixtures: locations of the read-only reference data in ../shared."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _find_shared() -> Path:
    """$JETCLASS2_SHARED, else the nearest ``shared/`` with a ``reference/`` beside the checkout
    or one of its parents (a git worktree sits deeper than the main checkout)."""
    if os.environ.get("JETCLASS2_SHARED"):
        return Path(os.environ["JETCLASS2_SHARED"]).resolve()
    for parent in REPO.parents:
        if (parent / "shared" / "reference").is_dir():
            return (parent / "shared").resolve()
    return (REPO.parent / "shared").resolve()


SHARED = _find_shared()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only reference data directory (../shared next to the checkout)."""
    if not (SHARED / "reference").is_dir():
        pytest.fail(f"reference data not found at {SHARED} (expected ../shared beside the checkout)")
    return SHARED / "reference"


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO
