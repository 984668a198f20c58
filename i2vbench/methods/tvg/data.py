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
    vids: list[str]  # the batch's distinct videos, in order of first appearance
    video_of: torch.Tensor  # (B,) row of each item's video in ``vids`` (and in ``layers``)
    layers: torch.Tensor | None = None  # (V, T, K, N, W): per distinct video, not per item


@dataclass(frozen=True)
class FeatureStats:
    """Per-dimension mean/std of the frozen features over the training clips and query words.

    Frozen ILFM frame embeddings share a large constant component, and what changes within a
    video is ~8x smaller than what differs between videos (measured on SynthVid with tinyclip);
    standardising each dimension with training statistics puts that change on the scale the
    heads' initialisations expect. The same holds for word tokens: words the ILFM never saw in
    its captions (SynthVid's verbs of motion) differ from each other far less than the tokens'
    shared component.
    """

    pooled_mean: np.ndarray
    pooled_std: np.ndarray
    text_mean: np.ndarray
    text_std: np.ndarray
    layers_mean: np.ndarray | None = None
    layers_std: np.ndarray | None = None

    @classmethod
    def of(cls, split: TVGSplit) -> FeatureStats:
        """Statistics over the videos of ``split``'s queries only (never the test videos)."""
        videos = [split.videos[vid] for vid in dict.fromkeys(q.vid for q in split.queries)]
        pooled = np.concatenate([v.pooled for v in videos])
        words = split.text.tokens[split.text.mask].astype(np.float64)
        stats = {"pooled_mean": pooled.mean(0), "pooled_std": pooled.std(0) + 1e-6,
                 "text_mean": words.mean(0).astype(np.float32), "text_std": (words.std(0) + 1e-6).astype(np.float32)}
        if all(v.layers is not None for v in videos):
            n = sum(len(v.layers) for v in videos)
            mean = sum(v.layers.astype(np.float64).sum(0) for v in videos) / n
            sq = sum(((v.layers.astype(np.float64) - mean) ** 2).sum(0) for v in videos)
            stats.update(layers_mean=mean.astype(np.float32), layers_std=(np.sqrt(sq / n) + 1e-6).astype(np.float32))
        return cls(**stats)


def make_batch(split: TVGSplit, idx: np.ndarray, with_layers: bool = False,
               stats: FeatureStats | None = None) -> Batch:
    """Pad the items ``idx`` of ``split`` into one batch (features standardised with ``stats``).

    Per-layer tokens are gathered once per distinct video of the batch (``Batch.video_of`` maps
    items to them): a video's queries share its tokens, and side networks project them once.
    """
    qs = [split.queries[i] for i in idx]
    vids = list(dict.fromkeys(q.vid for q in qs))
    feats = [split.videos[q.vid] for q in qs]
    t = max(f.pooled.shape[0] for f in feats)
    b = len(qs)
    video = np.zeros((b, t, feats[0].pooled.shape[1]), np.float32)
    pad = np.ones((b, t), bool)
    for i, f in enumerate(feats):
        n = f.pooled.shape[0]
        video[i, :n] = f.pooled if stats is None else (f.pooled - stats.pooled_mean) / stats.pooled_std
        pad[i, :n] = False
    layers = None
    if with_layers:
        first = split.videos[vids[0]].layers
        layers = torch.zeros((len(vids), t, *first.shape[1:]))
        for j, vid in enumerate(vids):
            lay = torch.from_numpy(split.videos[vid].layers).float()
            if stats is not None:
                lay = (lay - torch.from_numpy(stats.layers_mean)) / torch.from_numpy(stats.layers_std)
            layers[j, :len(lay)] = lay
    keep = split.text.mask[idx]
    length = max(1, int(keep.sum(1).max()))
    text = split.text.tokens[idx, :length].astype(np.float32)
    if stats is not None:
        text = np.where(keep[:, :length, None], (text - stats.text_mean) / stats.text_std, 0).astype(np.float32)
    durations = np.array([q.duration for q in qs], np.float32)
    windows = [torch.tensor(q.windows, dtype=torch.float32).reshape(-1, 2) / q.duration for q in qs]
    return Batch(
        idx=idx,
        video=torch.from_numpy(video),
        video_pad=torch.from_numpy(pad),
        text=torch.from_numpy(text),
        text_pad=torch.from_numpy(~keep[:, :length]),
        text_pooled=torch.from_numpy(split.text.pooled[idx]),
        duration=torch.from_numpy(durations),
        clip_len=1.0 / split.fps,
        windows=[w.clamp(0, 1) for w in windows],
        vids=vids,
        video_of=torch.tensor([vids.index(q.vid) for q in qs]),
        layers=layers,
    )
