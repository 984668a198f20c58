"""Where the suite keeps generated data, caches and results."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Generated datasets and extracted features: ``$I2VBENCH_CACHE`` or ``~/.cache/i2vbench``."""
    return Path(os.environ.get("I2VBENCH_CACHE", Path.home() / ".cache" / "i2vbench"))


def results_dir() -> Path:
    """The results tree (reported/, runs/, submissions/): ``$I2VBENCH_RESULTS`` or ``./results``."""
    return Path(os.environ.get("I2VBENCH_RESULTS", "results"))


ASSETS = Path(__file__).resolve().parent / "assets"
