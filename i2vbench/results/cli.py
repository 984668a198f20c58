"""Commands of `i2vbench.results` (see :mod:`i2vbench.cli`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``bench``."""
