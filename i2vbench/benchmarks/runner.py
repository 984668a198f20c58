"""What every task runner shares: the run registry, seeding, and the run folder with its record.

A run folder ``results/runs/<run id>/`` holds ``run.json`` (resolved config, seed, code version,
package versions, hardware, timings, and one :class:`~i2vbench.results.schema.ResultRecord` per
method under ``"records"``), ``predictions/<method>.jsonl`` and ``table.md``. It is built in a
temporary sibling and moved into place only when the whole run succeeded.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from i2vbench.registry import Registry

RUNNERS: Registry[Callable[..., RunResult]] = Registry("runnable task")


@dataclass
class MethodResult:
    method: str  # registry name
    display: str
    paradigm: str | None  # None for a baseline without transfer
    survey_row: str | None
    metrics: dict[str, float]
    trainable_params: int
    total_params: int
    train_s: float
    eval_s: float
    predictions: list[dict] = field(default_factory=list)  # rows of predictions/<method>.jsonl


@dataclass
class RunResult:
    task: str
    dataset: str
    stats: dict[str, Any]  # data sizes and feature time, for the run record
    methods: list[MethodResult]
    skipped: dict[str, str]  # method → why it could not run on this input
    run_dir: Path | None = None


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def configure_threads(threads: int) -> None:
    """Fixed intra-op threads: fewer slow outlier steps on small CPUs, and stable numerics."""
    import torch

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch.set_num_threads(threads)


def method_record(task: str, dataset: str, ilfm: str, m: MethodResult, provenance: dict[str, Any]) -> dict:
    """The run's :class:`ResultRecord` for one method (validated, as JSON)."""
    from i2vbench.methods.registry import load_all
    from i2vbench.results.schema import OTHER_PARADIGM, ResultRecord

    spec = load_all().get(m.method)
    record = ResultRecord(
        task=task, dataset=dataset, split="test", method=m.display, method_id=m.method,
        paradigm=m.paradigm or OTHER_PARADIGM, ilfm=ilfm,
        paradigm_description=None if m.paradigm else f"baseline without a transfer paradigm: {spec.summary}",
        citation={"ref": spec.ref, "title": spec.paper or f"i2vbench {m.display}"},
        metrics=m.metrics, kind="reproduced", provenance=provenance,
    )
    return record.model_dump(mode="json")


def write_run(result: RunResult, run_json: dict[str, Any], provenance: dict[str, Any], out_root: Path,
              table_md: str) -> Path:
    """Write the run folder atomically: either all of it appears, or nothing does."""
    from i2vbench.io import atomic_dir, dump_json, dumps_jsonl

    stamp = provenance["created"].replace("-", "").replace(":", "").replace("T", "-").rstrip("Z")
    run_id = f"{stamp}-{result.task}-{result.dataset}-seed{run_json['seed']}"
    final = out_root / run_id
    n = 1
    while final.exists():
        n += 1
        final = out_root / f"{run_id}-{n}"
    with atomic_dir(final) as tmp:
        (tmp / "predictions").mkdir()
        for m in result.methods:
            (tmp / "predictions" / f"{m.method}.jsonl").write_text(dumps_jsonl(m.predictions), encoding="utf-8")
        (tmp / "table.md").write_text(table_md, encoding="utf-8")
        (tmp / "run.json").write_text(dump_json(run_json), encoding="utf-8")
    result.run_dir = final
    return final
