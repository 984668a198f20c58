"""The TVG method interface: how TVG splits are batched and how windows are predicted.

The training loop, schedule and parameter counts are every task's
(:class:`~i2vbench.methods.trainable.TrainableMethod`); this adds what is TVG's own.
"""

from __future__ import annotations

import numpy as np
import torch

from i2vbench.methods.trainable import TrainableMethod
from i2vbench.methods.tvg.data import Batch, FeatureStats, TVGSplit, make_batch

Predictions = dict[str, np.ndarray]  # qid → (k, 3) [start_s, end_s, score], best first


class TVGMethod(TrainableMethod):
    """A TVG method: ``fit`` on a training split, then ``predict`` windows for every query."""

    stats: FeatureStats | None = None  # set from the training split at the start of fit()

    def predict_batch(self, batch: Batch) -> list[np.ndarray]:
        raise NotImplementedError

    def epoch_order(self, train: TVGSplit, rng: np.random.Generator) -> np.ndarray:
        """Videos in random order, each with all its queries together: a batch prepares (or
        encodes) each of its videos once, and a video's other queries are the hardest negatives.
        """
        by_video: dict[str, list[int]] = {}
        for i, q in enumerate(train.queries):
            by_video.setdefault(q.vid, []).append(i)
        groups = list(by_video.values())
        return np.concatenate([rng.permutation(groups[j]) for j in rng.permutation(len(groups))])

    def start_fit(self, train: TVGSplit) -> None:
        self.stats = FeatureStats.of(train)

    def batch(self, split: TVGSplit, idx: np.ndarray) -> Batch:
        layers = "layers" in self.needs or ("layers" in self.uses and split.has_layers)
        return make_batch(split, idx, with_layers=layers, stats=self.stats)

    @torch.no_grad()
    def predict(self, split: TVGSplit, batch_size: int = 64) -> Predictions:
        self.eval()
        out: Predictions = {}
        for start in range(0, len(split), batch_size):
            idx = np.arange(start, min(start + batch_size, len(split)))
            for i, windows in zip(idx, self.predict_batch(self.batch(split, idx)), strict=True):
                out[split.queries[i].qid] = windows
        return out
