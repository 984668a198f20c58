"""The training-free prior: windows drawn from the training set's distribution of moments.

Every trained method must beat it: it knows where moments tend to be (start, length relative
to the video) but nothing about the query or the video.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainingFree
from i2vbench.methods.tvg.base import Predictions, TVGMethod
from i2vbench.methods.tvg.data import TVGSplit
from i2vbench.methods.tvg.spans import temporal_nms


@dataclass
class PriorConfig:
    bins: int = 20  # normalised start/end are histogrammed on a bins × bins grid
    top_k: int = 10


@register_method("prior", task="tvg", paradigm=None, display="Window prior")
class WindowPrior(TrainingFree, TVGMethod):
    """Training-free baseline: the most frequent normalised training windows, for every query."""

    config_class = PriorConfig

    def __init__(self, config: PriorConfig | None = None) -> None:
        super().__init__()
        self.config = config or PriorConfig()
        self.windows = np.zeros((0, 3))  # normalised [start, end, frequency], best first

    def start_fit(self, train: TVGSplit) -> None:
        bins = self.config.bins
        norm = np.array([(s / q.duration, e / q.duration) for q in train.queries for s, e in q.windows])
        norm = norm.clip(0, 1)
        si = np.minimum((norm[:, 0] * bins).astype(int), bins - 1)
        ei = np.minimum((norm[:, 1] * bins).astype(int), bins - 1)
        counts = np.zeros((bins, bins))
        np.add.at(counts, (si, ei), 1)
        # each occupied cell proposes the mean window of the training moments that fall in it
        cells = np.argwhere(counts > 0)
        rows = []
        for a, b in cells:
            sel = (si == a) & (ei == b)
            rows.append([*norm[sel].mean(0), counts[a, b] / len(norm)])
        self.windows = temporal_nms(np.array(rows), iou_threshold=0.7, top_k=self.config.top_k)

    def predict(self, split: TVGSplit, batch_size: int = 64) -> Predictions:
        return {q.qid: self.windows * [q.duration, q.duration, 1.0] for q in split.queries}
