"""The TVG method interface and the one training loop every trained TVG method shares."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from i2vbench.methods.paradigms.common import count_parameters
from i2vbench.methods.tvg.data import Batch, FeatureStats, TVGSplit, make_batch
from i2vbench.parallel import worker_slot

Predictions = dict[str, np.ndarray]  # qid → (k, 3) [start_s, end_s, score], best first


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 1e-4
    warmup_frac: float = 0.05
    grad_clip: float = 0.1


class TVGMethod(nn.Module):
    """A TVG method: ``fit`` on a training split, then ``predict`` windows for every query."""

    train_config: TrainConfig
    needs_layers: bool = False  # cannot run without the ILFM's per-layer tokens (side-tuning)
    uses_layers: bool = False  # reads the per-layer tokens when the features have them
    needs_frames: bool = False  # trains through the ILFM on decoded frames (adapted features)

    def parameter_counts(self) -> tuple[int, int]:
        return count_parameters(self)

    def loss(self, batch: Batch) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def predict_batch(self, batch: Batch) -> list[np.ndarray]:
        raise NotImplementedError

    def epoch_order(self, train: TVGSplit, rng: np.random.Generator) -> np.ndarray:
        """The order queries are visited in one epoch (batches are consecutive runs of it).

        Videos in random order, each with all its queries together: a batch prepares (or
        encodes) each of its videos once, and a video's other queries are the hardest negatives.
        """
        by_video: dict[str, list[int]] = {}
        for i, q in enumerate(train.queries):
            by_video.setdefault(q.vid, []).append(i)
        groups = list(by_video.values())
        return np.concatenate([rng.permutation(groups[j]) for j in rng.permutation(len(groups))])

    stats: FeatureStats | None = None  # set from the training split at the start of fit()

    def steps_per_epoch(self, n_queries: int) -> int:
        """Optimiser steps one epoch over ``n_queries`` training queries takes."""
        return math.ceil(n_queries / self.train_config.batch_size)

    def batch(self, split: TVGSplit, idx: np.ndarray) -> Batch:
        layers = self.needs_layers or (self.uses_layers and split.has_layers)
        return make_batch(split, idx, with_layers=layers, stats=self.stats)

    def fit(self, train: TVGSplit, seed: int = 0, progress: bool = True) -> list[float]:
        """The shared loop: AdamW, linear warm-up then cosine decay, grad clipping; returns losses."""
        cfg = self.train_config
        rng = np.random.default_rng(seed)
        self.stats = FeatureStats.of(train)
        params = [p for p in self.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        steps_per_epoch = self.steps_per_epoch(len(train))
        total = cfg.epochs * steps_per_epoch
        warmup = max(1, int(cfg.warmup_frac * total))

        def lr_at(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
        self.train()
        history = []
        bar = tqdm(total=total, desc=f"train {type(self).__name__}", unit="step", disable=not progress,
                   leave=False, position=worker_slot())
        for _ in range(cfg.epochs):
            order = self.epoch_order(train, rng)
            epoch_loss = 0.0
            for start in range(0, len(order), cfg.batch_size):
                losses = self.loss(self.batch(train, order[start:start + cfg.batch_size]))
                total_loss = sum(losses.values())
                opt.zero_grad(set_to_none=True)
                total_loss.backward()
                if cfg.grad_clip:
                    nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                opt.step()
                sched.step()
                epoch_loss += float(total_loss.detach())
                bar.update(1)
                bar.set_postfix(loss=f"{float(total_loss.detach()):.3f}")
            history.append(epoch_loss / steps_per_epoch)
        bar.close()
        self.eval()
        return history

    @torch.no_grad()
    def predict(self, split: TVGSplit, batch_size: int = 64) -> Predictions:
        self.eval()
        out: Predictions = {}
        for start in range(0, len(split), batch_size):
            idx = np.arange(start, min(start + batch_size, len(split)))
            for i, windows in zip(idx, self.predict_batch(self.batch(split, idx)), strict=True):
                out[split.queries[i].qid] = windows
        return out
