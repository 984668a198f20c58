"""Speed and memory benchmarks that print figures: ``python -m i2vbench.perf metrics [--quick]``.

Each module in :data:`SUITES` exposes ``cases(quick: bool) -> list[Case]``; a case times our
implementation and, where it can run here, the reference on the same input, and the harness prints
one table of times, peak memory and the ours-vs-reference ratio measured in the same run.
Absolute times are noisy on shared machines; ratios are what to quote.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Case:
    name: str  # e.g. "teta (TAO-val scale)"
    size: str  # human-readable input size
    ours: Callable[[], Any]
    reference: Callable[[], Any] | None = None  # None where the reference cannot run here
    note: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class Timing:
    seconds: float
    peak_mb: float
    result: Any


def measure(fn: Callable[[], Any], trace_memory: bool = True) -> Timing:
    """Wall time and peak Python-heap memory (tracemalloc; numpy buffers are traced) of one call."""
    gc.collect()
    if trace_memory:
        tracemalloc.start()
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    peak = 0.0
    if trace_memory:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return Timing(seconds, peak, result)
