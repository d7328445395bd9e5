"""Shared pytest fixtures: locations of the read-only reference data in ../shared."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO.parent / "shared").resolve()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only reference data directory (../shared next to the checkout)."""
    if not (SHARED / "reference").is_dir():
        pytest.fail(f"reference data not found at {SHARED} (expected ../shared beside the checkout)")
    return SHARED / "reference"


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO
