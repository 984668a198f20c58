"""Per-task evaluators behind ``bench eval``: read the official GT/prediction formats, call the metric.

One entry point shape for every task (as torchmetrics' functional forms)::

    @register_evaluator("tvg", keys=("R1@0.3", ..., "mIoU", "MR-*"))
    def evaluate_files(gt: Path, pred: Path, *, durations=None, allow_missing=False) -> dict[str, float]

returning metric name → value (scores in percent, ranks as plain ranks). ``keys`` declares what
the evaluator may return (``fnmatch`` patterns where a breakdown depends on the data, e.g.
per question type); the keyword parameters are its options, and :func:`evaluate` refuses any
other option with the list of valid ones (a typo in ``--option`` used to be silently ignored).
Bad input raises :class:`~i2vbench.errors.BenchError`.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from i2vbench.errors import BenchError
from i2vbench.registry import Registry

Evaluator = Callable[..., dict[str, float]]


@dataclass(frozen=True)
class EvaluatorSpec:
    """A task's evaluator with what it declares: metric keys (patterns) and option names."""

    task: str
    fn: Evaluator
    keys: tuple[str, ...]
    options: tuple[str, ...]

    def __call__(self, gt: Path | None, pred: Path, **options: object) -> dict[str, float]:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise BenchError(f"{self.task} evaluator: unknown option(s) {', '.join(map(repr, unknown))}; "
                             f"valid: {', '.join(self.options) or '(none)'}")
        out = self.fn(gt, pred, **options)
        undeclared = [k for k in out if not any(fnmatch.fnmatchcase(k, p) for p in self.keys)]
        if undeclared:  # a bug in the evaluator, not in the user's files
            raise RuntimeError(f"{self.task} evaluator returned undeclared metric keys {undeclared}")
        return out


EVALUATORS: Registry[EvaluatorSpec] = Registry("evaluator")

EVALUATOR_MODULES = {
    "tvg": "i2vbench.metrics.tvg",
    "vtr": "i2vbench.metrics.vtr",
    "var": "i2vbench.metrics.var",
    "videoqa": "i2vbench.metrics.videoqa",
    "captioning": "i2vbench.metrics.captioning",
    "stvg": "i2vbench.metrics.stvg",
    "ovmot": "i2vbench.metrics.teta",
}


def register_evaluator(task: str, keys: tuple[str, ...]) -> Callable[[Evaluator], Evaluator]:
    """Register ``fn(gt, pred, *, option=default, ...)``; its keyword parameters are its options."""

    def deco(fn: Evaluator) -> Evaluator:
        params = list(inspect.signature(fn).parameters.values())
        if [p.name for p in params[:2]] != ["gt", "pred"] or any(
                p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in params):
            raise TypeError(f"{task} evaluator: expected fn(gt, pred, *, options...), got {fn.__qualname__}"
                            f"{inspect.signature(fn)}")
        EVALUATORS.add(task, EvaluatorSpec(task, fn, tuple(keys), tuple(p.name for p in params[2:])))
        return fn

    return deco


def get_evaluator(task: str) -> EvaluatorSpec:
    """Import the task's metric module on demand (so one task's heavy deps never slow another)."""
    from i2vbench.tasks import TASKS

    TASKS.get(task)  # unknown task → BenchError listing the known ones
    if task not in EVALUATORS:
        importlib.import_module(EVALUATOR_MODULES[task])
    return EVALUATORS.get(task)


def evaluate(task: str, gt: str | Path | None, pred: str | Path, **options: object) -> dict[str, float]:
    """Score ``pred`` against ``gt`` with the task's evaluator (``gt`` None: VTR's bare matrix, TAO)."""
    return get_evaluator(task)(None if gt is None else Path(gt), Path(pred), **options)
