"""Temporal adapters for TVG (survey III-B.4; stands for the adapter row, LLaViLo [112]).

Zero-initialised temporal adapters are inserted into the last blocks of the frozen ILFM
(:func:`~i2vbench.methods.paradigms.adapter.insert_adapters`), so the frame features themselves
learn cross-frame motion while the ILFM's weights stay fixed; a one-block temporal fusion with
the query's word tokens feeds the dense boundary head. Trained end to end on decoded frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from i2vbench.methods.backbones.base import ILFM
from i2vbench.methods.paradigms.adapter import TemporalAdapter, insert_adapters
from i2vbench.methods.paradigms.common import num_frames_context
from i2vbench.methods.paradigms.side import TemporalBlock
from i2vbench.methods.registry import register_method
from i2vbench.methods.tvg.base import TrainConfig
from i2vbench.methods.tvg.data import Batch, TVGSplit, make_batch
from i2vbench.methods.tvg.heads import BoundaryHead, DenseGroundingMethod


@dataclass
class AdapterConfig:
    adapted_blocks: int = 2  # adapters go into the last N blocks; earlier blocks need no backward
    bottleneck: int = 32
    kernel_size: int = 3
    hidden: int = 128
    heads: int = 4
    dropout: float = 0.1
    w_saliency: float = 1.0
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3, lr=1e-3, batch_size=24))


@dataclass
class FrameBatch(Batch):
    frames: torch.Tensor | None = None  # (V, T, H, W, 3) uint8, V unique videos, padded by repetition
    video_of: torch.Tensor | None = None  # (B,) index of each query's video in ``frames``


@register_method("temporal_adapter", task="tvg", paradigm="adapter", display="Temporal Adapter",
                 survey_row="LlaViLo", ref=112,
                 paper="LLaViLo: Boosting Video Moment Retrieval via Adapter-Based Multimodal Modeling")
class TemporalAdapterTVG(DenseGroundingMethod):
    """Zero-init temporal adapters in the frozen ILFM's last blocks, trained end to end on frames."""

    needs_frames = True

    def __init__(self, backbone: ILFM, text_dim: int, config: AdapterConfig | None = None,
                 **_: object) -> None:
        super().__init__()
        c = self.config = config or AdapterConfig()
        self.train_config = c.train
        self.w_saliency = c.w_saliency
        self.backbone = backbone
        n = len(backbone.visual_blocks)
        insert_adapters(backbone, lambda w: TemporalAdapter(w, c.bottleneck, c.kernel_size),
                        layers=range(n - c.adapted_blocks, n))
        self.video_proj = nn.Sequential(nn.LayerNorm(backbone.embed_dim), nn.Linear(backbone.embed_dim, c.hidden))
        self.text_proj = nn.Linear(text_dim, c.hidden)
        self.pos = nn.Parameter(torch.zeros(1, 512, c.hidden))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.fusion = TemporalBlock(c.hidden, c.heads, c.dropout)
        self.head = BoundaryHead(c.hidden)
        self.saliency = nn.Linear(c.hidden, 1)

    def epoch_order(self, train: TVGSplit, rng: np.random.Generator) -> np.ndarray:
        """Visit videos in random order with all their queries together: each video is encoded once."""
        by_video: dict[str, list[int]] = {}
        for i, q in enumerate(train.queries):
            by_video.setdefault(q.vid, []).append(i)
        groups = list(by_video.values())
        return np.concatenate([groups[j] for j in rng.permutation(len(groups))])

    def batch(self, split: TVGSplit, idx: np.ndarray) -> FrameBatch:
        base = make_batch(split, idx)
        vids = list(dict.fromkeys(base.vids))
        t = base.video.shape[1]
        clips = []
        for vid in vids:
            f = split.videos[vid].frames
            clips.append(np.concatenate([f, np.repeat(f[-1:], t - len(f), 0)]) if len(f) < t else f)
        return FrameBatch(**vars(base), frames=torch.from_numpy(np.stack(clips)),
                          video_of=torch.tensor([vids.index(v) for v in base.vids]))

    def forward(self, b: FrameBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        v, t = b.frames.shape[:2]
        x = self.backbone.preprocess(b.frames.flatten(0, 1))
        with num_frames_context(t), torch.autocast("cpu", dtype=torch.bfloat16):
            pooled = self.backbone.encode_frames(x).pooled
        pooled = pooled.float().view(v, t, -1)[b.video_of]
        if self.stats is not None:  # standardise like the frozen features (adapters start as identity)
            pooled = (pooled - torch.from_numpy(self.stats.pooled_mean)) / torch.from_numpy(self.stats.pooled_std)
        h = self.video_proj(pooled) + self.pos[:, :t]
        h = self.fusion(h, b.video_pad, self.text_proj(b.text), b.text_pad)
        fg, dist = self.head(h)
        return fg, dist, self.saliency(h).squeeze(-1)
