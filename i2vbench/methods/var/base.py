"""The VAR method interface: labelled clips, how they are batched, and class scores.

The training loop, schedule and parameter counts are every task's
(:class:`~i2vbench.methods.trainable.TrainableMethod`); this adds what is VAR's own: a split
of labelled clips over shared per-video features, batches of ``num_frames`` frames sampled
uniformly from each clip (TSN-style segment centres, as mmaction2's test pipeline samples), a
cross-entropy loss, and ``predict`` returning one row of class scores per clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from i2vbench.datasets.features import VideoFeatures, frame_indices
from i2vbench.methods.trainable import TrainableMethod


@dataclass
class VARSplit:
    ids: list[str]  # clip ids (Kinetics youtube ids, SSv2 ids), in the annotation file's order
    labels: np.ndarray  # (N,) int64 class index
    classes: list[str]  # class names by index (the label map)
    videos: dict[str, VideoFeatures]  # clip id → features (shared by all splits of a run)
    num_frames: int  # frames per clip a method sees

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_layers(self) -> bool:
        return all(self.videos[i].layers is not None for i in self.ids)

    @property
    def has_frames(self) -> bool:
        return all(self.videos[i].frames is not None for i in self.ids)


@dataclass
class VARBatch:
    idx: np.ndarray  # rows of the split
    labels: torch.Tensor  # (B,)
    pooled: torch.Tensor  # (B, T, D) frozen joint-space frame embeddings
    layers: torch.Tensor | None = None  # (B, T, K, N, W) frozen last-K-layer tokens (cls + pooled grid)
    frames: torch.Tensor | None = None  # (B, T, H, W, 3) uint8
    ids: list[str] | None = None  # clip ids, for methods that keep per-clip state (adapters' frozen prefix)


@dataclass(frozen=True)
class FeatureStats:
    """Per-dimension mean/std of the frozen features over the training clips' frames.

    Frozen ILFM embeddings share a large constant component, and what differs between SynthVid
    classes is small beside it (the same reason TVG standardises): heads see standardised inputs.
    """

    pooled_mean: np.ndarray
    pooled_std: np.ndarray
    layers_mean: np.ndarray | None = None  # (K, N, W)
    layers_std: np.ndarray | None = None

    @classmethod
    def of(cls, split: VARSplit, with_layers: bool) -> FeatureStats:
        videos = [split.videos[i] for i in dict.fromkeys(split.ids)]
        pooled = np.concatenate([v.pooled for v in videos]).astype(np.float64)
        stats = {"pooled_mean": pooled.mean(0).astype(np.float32),
                 "pooled_std": (pooled.std(0) + 1e-6).astype(np.float32)}
        if with_layers:
            n = sum(len(v.layers) for v in videos)
            mean = sum(v.layers.astype(np.float64).sum(0) for v in videos) / n
            sq = sum(((v.layers.astype(np.float64) - mean) ** 2).sum(0) for v in videos)
            stats.update(layers_mean=mean.astype(np.float32), layers_std=(np.sqrt(sq / n) + 1e-6).astype(np.float32))
        return cls(**stats)


def _gather(arrays: list[np.ndarray], sel: list[np.ndarray]) -> np.ndarray:
    """``np.stack([a[s] for a, s in zip(arrays, sel)]).astype(np.float32)``, written once."""
    out = np.empty((len(arrays), len(sel[0]), *arrays[0].shape[1:]), dtype=np.float32)
    for j, (a, s) in enumerate(zip(arrays, sel, strict=True)):
        out[j] = a[s]
    return out


class VARMethod(TrainableMethod):
    """A VAR method: ``fit`` on a training split, then ``predict`` (N, C) class scores."""

    stats: FeatureStats | None = None  # set from the training split at the start of fit()

    def start_fit(self, train: VARSplit) -> None:
        self.stats = FeatureStats.of(train, self._wants("layers", train))

    def _wants(self, what: str, split: VARSplit) -> bool:
        has = split.has_layers if what == "layers" else split.has_frames
        return what in self.needs or (what in self.uses and has)

    # False: the method reads its clips' frames once per split, not in every batch (the adapters' frozen prefix)
    frames_per_step: ClassVar[bool] = True

    def batch(self, split: VARSplit, idx: np.ndarray) -> VARBatch:
        n = split.num_frames
        feats = [split.videos[split.ids[i]] for i in idx]
        sel = [frame_indices(len(f.pooled), n) for f in feats]
        # standardised in place, in the one float32 array the gather wrote (the same values as
        # converting, then subtracting and dividing into new arrays: a step of EVL or DiST spent
        # a third of its time making those copies of the (B, T, K, N, W) tokens)
        pooled = _gather([f.pooled for f in feats], sel)
        if self.stats is not None:
            pooled -= self.stats.pooled_mean
            pooled /= self.stats.pooled_std
        out = VARBatch(idx=idx, labels=torch.from_numpy(split.labels[idx]), pooled=torch.from_numpy(pooled))
        if self._wants("layers", split):
            lay = _gather([f.layers for f in feats], sel)
            if self.stats is not None and self.stats.layers_mean is not None:
                lay -= self.stats.layers_mean
                lay /= self.stats.layers_std
            out.layers = torch.from_numpy(lay)
        if self.frames_per_step and self._wants("frames", split):
            out.frames = torch.from_numpy(np.stack([f.frames[s] for f, s in zip(feats, sel, strict=True)]))
        return out

    def forward(self, b: VARBatch) -> torch.Tensor:
        """(B, C) class logits."""
        raise NotImplementedError

    def loss(self, b: VARBatch) -> dict[str, torch.Tensor]:
        return {"ce": nn.functional.cross_entropy(self(b).float(), b.labels)}

    @torch.no_grad()
    def predict(self, split: VARSplit, batch_size: int = 64) -> np.ndarray:
        """(N, C) class scores, row i for clip ``split.ids[i]``."""
        self.eval()
        rows = [self(self.batch(split, np.arange(s, min(s + batch_size, len(split))))).float()
                for s in range(0, len(split), batch_size)]
        return torch.cat(rows).numpy().astype(np.float64)
