"""Logging set-up shared by the console scripts: time-stamped lines a person can follow."""
from __future__ import annotations

import logging


def setup_cli_logging(quiet: bool = False) -> None:
    """INFO lines with time and source on stderr (WARNING and above with ``quiet``)."""
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s: %(message)s")
