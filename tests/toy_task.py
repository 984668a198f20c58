"""A toy task defined entirely here, to prove `bench run` is generic: importing this module
registers a task, its run config + runner and its methods, without any TVG code.

"Does the video contain a 'grow' event?" on SynthVid scenes (sampled, not rendered: the toy's
"features" are each scene's per-motion event counts plus noise). Imported by
tests/test_toy_task.py in a subprocess, so the registrations never leak into other tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from i2vbench.benchmarks.runner import (
    RunConfig,
    RunResult,
    TaskData,
    register_runner,
    train_and_evaluate,
)
from i2vbench.datasets.synthvid.world import MOTIONS, SceneConfig, sample_scene
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainableMethod, TrainConfig
from i2vbench.tasks import Column, TaskSpec, register_task

register_task(TaskSpec("toy", "Toy", "Does the video contain a 'grow' event", "III", ("synthvid-toy",),
                       (Column("Acc", "synthvid-toy", "Acc"),), "Acc"))


@dataclass
class ToySplit:
    x: np.ndarray  # (N, len(MOTIONS)) float32
    y: np.ndarray  # (N,) 0/1

    def __len__(self) -> int:
        return len(self.y)


def make_split(seed: int, split: str, n: int) -> ToySplit:
    rng = np.random.default_rng([seed, ("train", "val", "test").index(split)])
    xs, ys = [], []
    for _ in range(n):
        scene = sample_scene(rng, SceneConfig())
        counts = np.array([sum(e.motion == m for e in scene.events) for m in MOTIONS], np.float32)
        xs.append(counts + rng.normal(0, 0.1, len(MOTIONS)).astype(np.float32))
        ys.append(int(counts[MOTIONS.index("grow")] > 0))
    return ToySplit(np.stack(xs), np.array(ys))


class ToyRunConfig(RunConfig):
    task: Literal["toy"] = "toy"
    dataset: str = "synthvid"
    n_train: int = Field(64, ge=1)
    n_eval: int = Field(32, ge=1)
    n_sets: int = Field(1, ge=1)  # toy sets in one run (data seeds data_seed, data_seed + 1, ...)


class ToyMethod(TrainableMethod):
    def predict(self, split: ToySplit) -> np.ndarray:
        raise NotImplementedError


@dataclass
class ProbeConfig:
    hidden: int = 8
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, lr=3e-2, batch_size=16))


@register_method("probe", task="toy", paradigm="post_network_tuning", display="Feature probe")
class Probe(ToyMethod):
    """A small MLP on the pooled features."""

    config_class = ProbeConfig
    needs = frozenset({"pooled"})

    def __init__(self, dim: int, config: ProbeConfig | None = None) -> None:
        super().__init__()
        self.config = config or ProbeConfig()
        self.train_config = self.config.train
        self.net = torch.nn.Sequential(torch.nn.Linear(dim, self.config.hidden), torch.nn.ReLU(),
                                       torch.nn.Linear(self.config.hidden, 1))

    def batch(self, split: ToySplit, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(split.x[idx]), torch.from_numpy(split.y[idx]).float()

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        return {"bce": torch.nn.functional.binary_cross_entropy_with_logits(self.net(x).squeeze(-1), y)}

    @torch.no_grad()
    def predict(self, split: ToySplit) -> np.ndarray:
        return (self.net(torch.from_numpy(split.x)).squeeze(-1) > 0).numpy().astype(int)


@dataclass
class PriorConfig:
    pass


@register_method("prior", task="toy", paradigm=None, display="Majority class")
class Majority(ToyMethod):
    """Training-free: the training set's majority answer (same name as TVG's prior, other task)."""

    config_class = PriorConfig

    def __init__(self, config: PriorConfig | None = None) -> None:
        super().__init__()
        self.train_config = TrainConfig(epochs=0)
        self.answer = 0

    def fit(self, train: ToySplit, seed: int = 0, progress: bool = True) -> list[float]:
        self.answer = int(train.y.mean() >= 0.5)
        return []

    def predict(self, split: ToySplit) -> np.ndarray:
        return np.full(len(split), self.answer)


@register_method("pixels", task="toy", paradigm="adapter", display="Needs frames")
class NeedsFrames(ToyMethod):
    """Declares an input the toy features never have: skipped with the reason."""

    needs = frozenset({"frames"})

    def __init__(self) -> None:  # pragma: no cover - never built
        super().__init__()


def toy_set(cfg: ToyRunConfig, k: int) -> TaskData:
    """The k-th toy set: ``synthvid-toy`` for k = 0, ``synthvid-toy-<k>`` after it."""
    seed = cfg.resolved_data_seed + k
    splits = {"train": make_split(seed, "train", cfg.n_train), "val": make_split(seed, "val", cfg.n_eval),
              "test": make_split(seed, "test", cfg.n_eval)}

    def score(method: ToyMethod, name: str, split: ToySplit) -> tuple[dict[str, float], list[dict]]:
        pred = method.predict(split)
        rows = [{"index": i, "pred": int(p), "label": int(y)} for i, (p, y) in enumerate(zip(pred, split.y, strict=True))]
        return {"Acc": 100.0 * float((pred == split.y).mean())}, rows

    return TaskData(dataset="synthvid-toy" + (f"-{k}" if k else ""), train=splits["train"],
                    eval_splits={"test": splits["test"], "val": splits["val"]}, inputs={"pooled"},
                    missing_why="which the toy's event-count features do not have",
                    provided={"dim": len(MOTIONS)}, score=score,
                    stats={f"n_{s}": len(v) for s, v in splits.items()})


@register_runner("toy", ToyRunConfig)
def run_toy(cfg: ToyRunConfig, progress: bool = True) -> RunResult:
    return RunResult("toy", "none", train_and_evaluate(cfg, [toy_set(cfg, k) for k in range(cfg.n_sets)], progress))
