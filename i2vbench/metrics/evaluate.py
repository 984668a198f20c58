"""Per-task evaluators behind ``bench eval``: read the official GT/prediction formats, call the metric.

Each metric module registers one evaluator for its task::

    @register_evaluator("tvg")
    def evaluate_files(gt: Path, pred: Path, **options) -> dict[str, float]: ...

returning metric name → value (scores in percent, ranks as plain ranks). Options are the
command-line extras of ``bench eval`` (e.g. ``durations``, ``allow_missing``); an evaluator
ignores the ones it does not use and raises :class:`~i2vbench.errors.BenchError` for bad input.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from i2vbench.registry import Registry

Evaluator = Callable[..., dict[str, float]]
EVALUATORS: Registry[Evaluator] = Registry("evaluator")

EVALUATOR_MODULES = {
    "tvg": "i2vbench.metrics.tvg",
    "vtr": "i2vbench.metrics.vtr",
    "var": "i2vbench.metrics.var",
    "videoqa": "i2vbench.metrics.videoqa",
    "captioning": "i2vbench.metrics.captioning",
    "stvg": "i2vbench.metrics.stvg",
    "ovmot": "i2vbench.metrics.teta",
}


def register_evaluator(task: str) -> Callable[[Evaluator], Evaluator]:
    return EVALUATORS.register(task)


def get_evaluator(task: str) -> Evaluator:
    """Import the task's metric module on demand (so one task's heavy deps never slow another)."""
    from i2vbench.tasks import TASKS

    TASKS.get(task)  # unknown task → BenchError listing the known ones
    if task not in EVALUATORS:
        importlib.import_module(EVALUATOR_MODULES[task])
    return EVALUATORS.get(task)


def evaluate(task: str, gt: str | Path, pred: str | Path, **options: object) -> dict[str, float]:
    return get_evaluator(task)(Path(gt), Path(pred), **options)
