"""What a TVG method sees: queries with their GT windows, per-video features, text features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from i2vbench.datasets.features import TextFeatures, VideoFeatures


@dataclass(frozen=True)
class TVGQuery:
    qid: str
    vid: str
    query: str
    duration: float
    windows: tuple[tuple[float, float], ...]  # GT windows in seconds (empty at prediction time)


@dataclass
class TVGSplit:
    queries: list[TVGQuery]
    videos: dict[str, VideoFeatures]
    text: TextFeatures  # row i belongs to queries[i]
    fps: float  # clips per second of the video features

    def __len__(self) -> int:
        return len(self.queries)

    @property
    def has_layers(self) -> bool:
        return all(v.layers is not None for v in self.videos.values())

    @property
    def has_frames(self) -> bool:
        return all(v.frames is not None for v in self.videos.values())


@dataclass
class Batch:
    idx: np.ndarray  # rows of the split
    video: torch.Tensor  # (B, T, D) pooled frame features, zero-padded
    video_pad: torch.Tensor  # (B, T) True at padding clips
    text: torch.Tensor  # (B, L, W)
    text_pad: torch.Tensor  # (B, L) True at padding tokens
    text_pooled: torch.Tensor  # (B, D)
    duration: torch.Tensor  # (B,) seconds
    clip_len: float  # seconds per clip (1 / fps)
    windows: list[torch.Tensor]  # per item (G, 2) GT windows normalised by duration
    layers: torch.Tensor | None = None  # (B, T, K, N, W)
    vids: list[str] | None = None


def make_batch(split: TVGSplit, idx: np.ndarray, with_layers: bool = False) -> Batch:
    qs = [split.queries[i] for i in idx]
    feats = [split.videos[q.vid] for q in qs]
    t = max(f.pooled.shape[0] for f in feats)
    b = len(qs)
    video = np.zeros((b, t, feats[0].pooled.shape[1]), np.float32)
    pad = np.ones((b, t), bool)
    layers = None
    if with_layers:
        shape = feats[0].layers.shape[1:]
        layers = np.zeros((b, t, *shape), np.float32)
    for i, f in enumerate(feats):
        n = f.pooled.shape[0]
        video[i, :n] = f.pooled
        pad[i, :n] = False
        if layers is not None:
            layers[i, :n] = f.layers
    text = split.text.tokens[idx]
    keep = split.text.mask[idx]
    length = max(1, int(keep.sum(1).max()))
    durations = np.array([q.duration for q in qs], np.float32)
    windows = [torch.tensor(q.windows, dtype=torch.float32).reshape(-1, 2) / q.duration for q in qs]
    return Batch(
        idx=idx,
        video=torch.from_numpy(video),
        video_pad=torch.from_numpy(pad),
        text=torch.from_numpy(np.ascontiguousarray(text[:, :length])),
        text_pad=torch.from_numpy(~keep[:, :length]),
        text_pooled=torch.from_numpy(split.text.pooled[idx]),
        duration=torch.from_numpy(durations),
        clip_len=1.0 / split.fps,
        windows=[w.clamp(0, 1) for w in windows],
        layers=None if layers is None else torch.from_numpy(layers),
        vids=[q.vid for q in qs],
    )


def l2norm(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-6)
