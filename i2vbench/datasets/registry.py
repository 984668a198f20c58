"""The dataset registry: one entry per benchmark dataset the suite can read."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from i2vbench.registry import Registry


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    tasks: tuple[str, ...]
    summary: str
    load: Callable[..., Any] | None = None  # the loader `bench run` calls, where there is one


DATASETS: Registry[DatasetSpec] = Registry("dataset")

DATASET_MODULES = (
    "i2vbench.datasets.charades_sta",
    "i2vbench.datasets.synthvid",
    "i2vbench.datasets.msrvtt",
    "i2vbench.datasets.kinetics",
    "i2vbench.datasets.ssv2",
    "i2vbench.datasets.nextqa",
    "i2vbench.datasets.msvd_qa",
    "i2vbench.datasets.how2qa",
    "i2vbench.datasets.vidstg",
    "i2vbench.datasets.tao",
)
_loaded = False


def load_all() -> Registry[DatasetSpec]:
    global _loaded
    if not _loaded:
        for m in DATASET_MODULES:
            importlib.import_module(m)
        _loaded = True
    return DATASETS


def register_dataset(name: str, tasks: tuple[str, ...], summary: str,
                     load: Callable[..., Any] | None = None) -> DatasetSpec:
    spec = DatasetSpec(name, tasks, summary, load)
    DATASETS.add(name, spec)
    return spec
