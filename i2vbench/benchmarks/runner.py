"""What every task runner shares: the run config, the runner registry, the train-and-score loop
over methods and seeds, aggregation over seeds, and the run folder with its records.

A task adds a :class:`RunConfig` subclass and a run function, registered together::

    @register_runner("tvg", TVGRunConfig)
    def run_tvg(cfg: TVGRunConfig, progress: bool = True) -> RunResult: ...

The run function loads its data and features and hands each dataset to
:func:`train_and_evaluate` as a :class:`TaskData` (training split, val/test splits, the inputs
the features offer, the constructor arguments they determine, and how to score a split); the
loop builds every selected method of the task once per training seed and dataset, trains them
side by side in forked workers (one pool for all of the run's datasets), and scores each on
every evaluation split. Data (``data_seed``) and
features are shared by all training seeds.

A run folder ``results/runs/<run id>/`` holds ``run.json`` (resolved config, seeds, code
version, package versions, hardware, timings, per-dataset stats, every result, and one
:class:`~i2vbench.results.schema.ResultRecord` per (method, dataset, split) under
``"records"``), ``predictions/<dataset>/<split>/<method>-seed<s>.jsonl`` and ``table.md``. It is
built in a temporary sibling and moved into place only when the whole run succeeded.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from i2vbench.errors import BenchError
from i2vbench.registry import Registry


class RunConfig(BaseModel):
    """What every task's run depends on; a task's subclass adds its own fields. The resolved
    config is embedded whole in the run record."""

    model_config = ConfigDict(extra="forbid")

    task: str
    dataset: str
    data_root: Path | None = None  # a real dataset on disk (the task's runner says what it expects)
    backbone: str = "tinyclip"
    pretrained: str | None = None  # weights file/dir on disk for the backbone
    methods: list[str] | None = None  # default: every registered method of the task
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)  # training seeds (init, order)
    data_seed: int | None = 0  # seed of generated data, fixed across training seeds; None: seeds[0]
    threads: int = Field(2, ge=1)
    device: str = "cpu"  # cpu | cuda | cuda:N | mps (see i2vbench.devices)
    # (method, seed, dataset) jobs trained at once (default: one per method), each with
    # max(1, threads // jobs) threads
    jobs: int | None = Field(None, ge=1)
    # method → settings: any field of its config (architecture included) and of its train recipe
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"seeds must be distinct, got {v}")
        return v

    @model_validator(mode="after")
    def _absolute_paths(self) -> RunConfig:
        """Every path field made absolute, so the config recorded with the results still says which
        files were read when the record is read from elsewhere (a relative path would not)."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, Path):
                setattr(self, name, value.expanduser().absolute())
        if self.pretrained is not None and Path(self.pretrained).expanduser().exists():  # a file, not a tag
            self.pretrained = str(Path(self.pretrained).expanduser().absolute())
        return self

    @property
    def resolved_data_seed(self) -> int:
        return self.seeds[0] if self.data_seed is None else self.data_seed


@dataclass(frozen=True)
class Runner:
    task: str
    config_class: type[RunConfig]
    run: Callable[..., RunResult]


RUNNERS: Registry[Runner] = Registry("runnable task")
RUNNER_MODULES = (
    "i2vbench.benchmarks.stvg",
    "i2vbench.benchmarks.tvg",
    "i2vbench.benchmarks.var",
    "i2vbench.benchmarks.vtr",
    "i2vbench.benchmarks.videoqa",
    "i2vbench.benchmarks.captioning",
    "i2vbench.benchmarks.ovmot",
)
_loaded = False


def register_runner(task: str, config_class: type[RunConfig]) -> Callable[[Callable[..., RunResult]],
                                                                         Callable[..., RunResult]]:
    """Register ``run(cfg, progress=True) -> RunResult`` as task ``task``'s runner."""
    from i2vbench.tasks import TASKS

    TASKS.get(task)
    if not issubclass(config_class, RunConfig):
        raise TypeError(f"{config_class.__name__} must subclass RunConfig")

    def deco(fn: Callable[..., RunResult]) -> Callable[..., RunResult]:
        RUNNERS.add(task, Runner(task, config_class, fn))
        return fn

    return deco


# task → features(cfg, progress) -> [FeatureJob]: the feature extraction its run does, which
# `bench extract` runs (sharded or not) ahead of `bench run`
FEATURE_PLANS: Registry[Callable[..., list]] = Registry("feature plan")


def register_features(task: str) -> Callable[[Callable[..., list]], Callable[..., list]]:
    """Register ``features(cfg, progress=True) -> list[FeatureJob]`` for task ``task``: the
    videos its run encodes and how (the run must extract through the same jobs)."""
    return FEATURE_PLANS.register(task)


def features_for(task: str) -> Callable[..., list]:
    """The registered feature plan of ``task`` (loading the runners first)."""
    runner_for(task)
    if task not in FEATURE_PLANS:
        raise BenchError(f"`bench extract`: task {task!r} declares no feature extraction; "
                         f"tasks that do: {', '.join(FEATURE_PLANS.names())}")
    return FEATURE_PLANS.get(task)


def _load_runners() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for m in RUNNER_MODULES:
            importlib.import_module(m)


def runnable_tasks() -> list[str]:
    """Every task with a registered runner, in registration order."""
    _load_runners()
    return RUNNERS.names()


def runner_for(task: str) -> Runner:
    """The registered runner of ``task``; otherwise one error naming the runnable tasks."""
    _load_runners()
    if task not in RUNNERS:
        from i2vbench.tasks import TASKS

        what = "has no runner yet" if task in TASKS else "is not a task"
        raise BenchError(f"`bench run`: task {task!r} {what}; runnable: {', '.join(RUNNERS.names())}")
    return RUNNERS.get(task)


# --- results -------------------------------------------------------------------------------

@dataclass
class SeedResult:
    """One method trained with one seed and scored on every evaluation split."""

    seed: int
    metrics: dict[str, dict[str, float]]  # split → metric → value
    predictions: dict[str, list[dict]]  # split → rows of its predictions file
    train_s: float
    eval_s: float
    loss_curve: list[float] = field(default_factory=list)  # every optimiser step's loss (global batch)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and *sample* standard deviation (ddof=1) over seeds; std is 0 for a single seed."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


@dataclass
class MethodResult:
    method: str  # registry name within the task
    display: str
    paradigm: str | None  # None for a baseline without transfer
    survey_row: str | None
    trainable_params: int
    total_params: int
    seeds: list[SeedResult]
    config: dict[str, Any] = field(default_factory=dict)  # the method's resolved config on this dataset

    @property
    def splits(self) -> list[str]:
        return list(self.seeds[0].metrics)

    def _agg(self, split: str) -> dict[str, tuple[float, float]]:
        keys = self.seeds[0].metrics[split]
        return {k: mean_std([s.metrics[split][k] for s in self.seeds]) for k in keys}

    def metrics(self, split: str) -> dict[str, float]:
        """Mean over training seeds."""
        return {k: m for k, (m, _) in self._agg(split).items()}

    def metrics_std(self, split: str) -> dict[str, float]:
        """Sample std over training seeds (ddof=1; 0 with one seed)."""
        return {k: s for k, (_, s) in self._agg(split).items()}

    def per_seed(self, split: str) -> list[dict[str, Any]]:
        return [{"seed": s.seed, "metrics": s.metrics[split]} for s in self.seeds]

    @property
    def train_s(self) -> float:
        return statistics.fmean(s.train_s for s in self.seeds)

    @property
    def eval_s(self) -> float:
        return statistics.fmean(s.eval_s for s in self.seeds)


@dataclass
class DatasetResult:
    dataset: str
    stats: dict[str, Any]  # data sizes and feature time, for the run record
    methods: list[MethodResult]
    skipped: dict[str, str]  # method → why it could not run on this input
    prediction_format: str = "jsonl"
    table_metrics: tuple[str, ...] = ()  # metrics the table shows beside the survey's columns

    def predictions_path(self, split: str, method: str, seed: int) -> str:
        """Where a seed's predictions go, relative to the run folder."""
        from i2vbench.paths import safe_name

        return (f"predictions/{safe_name(self.dataset)}/{safe_name(split)}/{safe_name(method)}-seed{seed}"
                f".{self.prediction_format}")


@dataclass
class RunResult:
    task: str
    ilfm: str  # the backbone id (weights hash), or what the pre-extracted features say
    datasets: list[DatasetResult]
    run_dir: Path | None = None


# --- the shared loop -------------------------------------------------------------------------

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


def held_out(keys: list[str], fraction: float, salt: str = "val") -> set[str]:
    """The keys (e.g. video ids) in a deterministic held-out ``fraction``: chosen by a stable
    hash of the key alone, so the choice never depends on order, seed or the other keys."""
    def u(key: str) -> float:
        return int.from_bytes(hashlib.sha256(f"{salt}:{key}".encode()).digest()[:8], "big") / 2**64

    return {k for k in keys if u(k) < fraction}


def select_methods(cfg: RunConfig) -> list:
    """The run's methods (``cfg.methods``, default the task's methods that are in its default
    run), after checking that every override names a method of the task and only keys it has:
    before any data is built."""
    from i2vbench.methods.registry import get_method, methods_for

    for name, over in cfg.overrides.items():
        get_method(cfg.task, name).make_config(over)
    if cfg.methods is None:
        specs = [s for s in methods_for(cfg.task) if s.in_default_run]
    else:
        specs = [get_method(cfg.task, name) for name in cfg.methods]
    if not specs:
        raise BenchError(f"task {cfg.task!r} has no registered methods")
    return specs


@dataclass
class TaskData:
    """One dataset of a run, prepared by the task's runner for :func:`train_and_evaluate`."""

    dataset: str
    train: Any  # handed to each method's fit()
    eval_splits: dict[str, Any]  # split name → split; every method is scored on each
    inputs: set[str]  # what the features offer (see i2vbench.datasets.features.INPUTS)
    missing_why: str  # why an input not offered is missing, for the skip reason
    provided: dict[str, Any]  # constructor arguments (values, or methods.registry.Lazy)
    # (method, split name, split) → (metrics, the predictions as written to disk: JSON-able rows
    # for "jsonl", any JSON-able value for "json", an array for "npy")
    score: Callable[[Any, str, Any], tuple[dict[str, float], Any]]
    stats: dict[str, Any] = field(default_factory=dict)
    # the official prediction format of the task, which `bench eval` reads back
    prediction_format: Literal["jsonl", "json", "npy"] = "jsonl"
    # metrics the table shows beside the survey's columns (e.g. NExT-QA's per-type accuracies)
    table_metrics: tuple[str, ...] = ()


def train_and_evaluate(cfg: RunConfig, datasets: list[TaskData], progress: bool = True) -> list[DatasetResult]:
    """Every selected method × every training seed × every dataset: built, trained, scored on
    every eval split of its dataset.

    All datasets' jobs share one pool of workers, longest first: a task with several datasets
    (VideoQA's four, VAR's two) is not held up by one long job per dataset running alone.
    """
    from i2vbench.datasets.features import INPUTS
    from i2vbench.parallel import map_in_workers

    specs = select_methods(cfg)
    runnable: list[list[Any]] = []
    skipped: list[dict[str, str]] = []
    for data in datasets:
        runnable.append([s for s in specs if not s.needs - data.inputs])
        skipped.append({s.name: f"needs {' and '.join(INPUTS[x] for x in sorted(s.needs - data.inputs))}, "
                                f"{data.missing_why}" for s in specs if s.needs - data.inputs})
    built = {}
    for d, data in enumerate(datasets):
        for seed in cfg.seeds:
            for spec in runnable[d]:
                seed_everything(seed)  # the same init whichever other methods, seeds and datasets run
                built[d, seed, spec.name] = spec.build(data.provided, cfg.overrides.get(spec.name), data.dataset)

    from i2vbench.distributed import all_gather_object, rank_and_world

    rank, world = rank_and_world()

    def train_and_score(item: tuple[int, int, Any]) -> SeedResult:
        d, seed, spec = item
        data, method = datasets[d], built[d, seed, spec.name]
        seed_everything(seed)  # the same random stream whichever worker trains it, and when
        t1 = time.perf_counter()
        method.fit(data.train, seed=seed, progress=progress)
        t2 = time.perf_counter()
        # under torchrun the ranks share out the evaluation splits (val on one, test on another)
        # and gather every split's metrics and predictions; one process scores them all
        names = list(data.eval_splits)
        scored = {}
        for part in all_gather_object({n: data.score(method, n, data.eval_splits[n]) for n in names[rank::world]}):
            scored.update(part)
        metrics, preds = {n: scored[n][0] for n in names}, {n: scored[n][1] for n in names}
        return SeedResult(seed, metrics, preds, t2 - t1, time.perf_counter() - t2,
                          [round(v, 6) for v in getattr(method, "loss_curve", [])])

    items = [(d, seed, spec) for d in range(len(datasets)) for seed in cfg.seeds for spec in runnable[d]]
    # longest first, so that none starts last and alone
    items.sort(key=lambda it: built[it[0], it[1], it[2].name].train_steps(len(datasets[it[0]].train)), reverse=True)
    # under torchrun every rank trains the same methods in the same order, one at a time (each
    # step is a collective over the ranks); forked side-by-side workers are for one process
    jobs = 1 if world > 1 else cfg.jobs or max([1, *map(len, runnable)])
    done = map_in_workers(train_and_score, items, jobs, max(1, cfg.threads // jobs))
    by_key = {(d, seed, spec.name): r for (d, seed, spec), r in zip(items, done, strict=True)}
    out = []
    for d, data in enumerate(datasets):
        results = []
        for spec in runnable[d]:
            method = built[d, cfg.seeds[0], spec.name]
            trainable, total = method.parameter_counts()
            config = getattr(method, "config", None)
            results.append(MethodResult(spec.name, spec.display, spec.paradigm, spec.survey_row, trainable, total,
                                        [by_key[d, seed, spec.name] for seed in cfg.seeds],
                                        asdict(config) if is_dataclass(config) else {}))
        out.append(DatasetResult(data.dataset, data.stats, results, skipped[d], data.prediction_format,
                                 data.table_metrics))
    return out


# --- records and the run folder --------------------------------------------------------------

def results_json(result: RunResult, detail: bool = False) -> list[dict[str, Any]]:
    """One entry per (dataset, method, split): mean, sample std and every seed's metrics;
    ``detail`` adds what the run record keeps (parameters, timings, prediction files)."""
    out = []
    for ds in result.datasets:
        for m in ds.methods:
            for split in m.splits:
                entry: dict[str, Any] = {"dataset": ds.dataset, "split": split, "method": m.method,
                                         "paradigm": m.paradigm, "metrics": m.metrics(split),
                                         "metrics_std": m.metrics_std(split), "per_seed": m.per_seed(split)}
                if detail:
                    entry.update(display=m.display, survey_row=m.survey_row, trainable_params=m.trainable_params,
                                 total_params=m.total_params, method_config=m.config)
                    for row, s in zip(entry["per_seed"], m.seeds, strict=True):
                        row.update(train_s=round(s.train_s, 2), eval_s=round(s.eval_s, 2),
                                   predictions=ds.predictions_path(split, m.method, s.seed),
                                   loss_curve=s.loss_curve)
                out.append(entry)
    return out


def method_records(result: RunResult, provenance: dict[str, Any]) -> list[dict]:
    """The run's :class:`ResultRecord` per (method, dataset, split), validated, as JSON."""
    from i2vbench.methods.registry import get_method
    from i2vbench.results.schema import OTHER_PARADIGM, ResultRecord

    # an ILFM without pretrained weights (backbone id "...-random") measures the method's head on
    # random features: a control, not a reproduction of the paper's row
    kind = "random-init" if result.ilfm.endswith("-random") else "reproduced"
    records = []
    for ds in result.datasets:
        for m in ds.methods:
            spec = get_method(result.task, m.method)
            for split in m.splits:
                record = ResultRecord(
                    task=result.task, dataset=ds.dataset, split=split, method=m.display, method_id=m.method,
                    paradigm=m.paradigm or OTHER_PARADIGM, ilfm=result.ilfm,
                    paradigm_description=None if m.paradigm else f"baseline without a transfer paradigm: {spec.summary}",
                    citation={"ref": spec.ref, "title": spec.paper or f"i2vbench {m.display}"},
                    metrics=m.metrics(split), metrics_std=m.metrics_std(split),
                    per_seed=[{**row, "predictions": ds.predictions_path(split, m.method, row["seed"])}
                              for row in m.per_seed(split)],
                    kind=kind, provenance=provenance,
                )
                records.append(record.model_dump(mode="json"))
    return records


def write_predictions(path: Path, predictions: Any, fmt: str) -> None:
    from i2vbench.io import dump_json, dumps_jsonl

    if fmt == "jsonl":
        path.write_text(dumps_jsonl(predictions), encoding="utf-8")
    elif fmt == "json":
        path.write_text(dump_json(predictions), encoding="utf-8")
    else:
        with path.open("wb") as f:
            np.save(f, np.asarray(predictions), allow_pickle=False)


def write_run(result: RunResult, run_json: dict[str, Any], out_root: Path, table_md: str) -> Path:
    """Write the run folder atomically: either all of it appears, or nothing does."""
    from i2vbench.io import atomic_dir, claim_dir, dump_json

    stamp = run_json["provenance"]["created"].replace("-", "").replace(":", "").replace("T", "-").rstrip("Z")
    seeds = run_json["config"]["seeds"]
    seed_tag = f"seed{seeds[0]}" if len(seeds) == 1 else f"seeds{seeds[0]}-{seeds[-1]}x{len(seeds)}"
    names = "+".join(ds.dataset for ds in result.datasets)
    final = claim_dir(out_root, f"{stamp}-{result.task}-{names}-{seed_tag}")
    with atomic_dir(final, claimed=True) as tmp:
        for ds in result.datasets:
            for m in ds.methods:
                for s in m.seeds:
                    for split, rows in s.predictions.items():
                        path = tmp / ds.predictions_path(split, m.method, s.seed)
                        path.parent.mkdir(parents=True, exist_ok=True)
                        write_predictions(path, rows, ds.prediction_format)
        (tmp / "table.md").write_text(table_md, encoding="utf-8")
        (tmp / "run.json").write_text(dump_json(run_json), encoding="utf-8")
    result.run_dir = final
    return final
