"""OVTR (Li et al., ICLR 2025) in miniature: post-network tuning on the frozen detector.

The mechanism kept: a small transformer decoder trained on top of frozen features (the
post-network paradigm), with two branches, as OVTR's dual-branch decoder: **track queries**
carried from one frame to the next cross-attend to the current frame's detections and point at
the detection that continues them (or at none), and a **category branch** over the detections
aligned to the frozen ILFM: distilled towards the ILFM's crop embeddings and trained against the
base category names, compared with every name at test (novel included). It is trained on stills
in two augmented views (OVTR's static-image training with simulated motion): view-0 detections
are the track queries, view-1 detections the next frame.

What it drops: OVTR's end-to-end detection (its queries also find new objects; here the frozen
detector does), its multi-frame query memory (a track query is the state of its last matched
detection), CLIP's text-aware attention isolation and the protective strategies of its decoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from i2vbench.methods.ovmot.base import (
    OVMOTMethod,
    OVMOTSplit,
    StillBatch,
    TrackerConfig,
    VideoDetections,
    still_batch,
)
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig


@dataclass
class OVTRConfig(TrackerConfig):
    width: int = 128
    heads: int = 4
    distill_weight: float = 1.0
    cls_weight: float = 1.0
    track_weight: float = 1.0
    iou_weight: float = 0.5
    extra_weight: float = 1.0  # the track queries' match probability
    match_thresh: float = 0.5
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, batch_size=16, lr=1e-3,
                                                                   grad_clip=1.0))


class DualBranchDecoder(nn.Module):
    """Track queries x detections cross-attention (the tracking branch) and a category branch."""

    def __init__(self, region_dim: int, embed_dim: int, width: int, heads: int) -> None:
        super().__init__()
        self.inp = nn.Sequential(nn.LayerNorm(region_dim), nn.Linear(region_dim, width))
        self.ctx = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0, batch_first=True)
        self.cross = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln = nn.LayerNorm(width)
        self.key = nn.Linear(width, width)
        self.null = nn.Parameter(torch.zeros(width))  # "no detection continues this track"
        self.category = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, embed_dim))

    def detections(self, region: torch.Tensor) -> torch.Tensor:
        """(K, W) features of one frame's detections, each in the context of the others."""
        return self.ctx(self.inp(region)[None])[0]

    def match_logits(self, track: torch.Tensor, dets: torch.Tensor) -> torch.Tensor:
        """(T, K + 1) logits of each track query for each detection and for none (last)."""
        q = track[None]
        q = self.ln(q + self.cross(q, dets[None], dets[None], need_weights=False)[0])[0]
        keys = torch.cat([self.key(dets), self.null[None]], 0)
        return q @ keys.T / q.shape[-1] ** 0.5


@register_method("ovtr", task="ovmot", paradigm="post_network_tuning", display="OVTR", survey_row="OVTR", ref=43,
                 paper="OVTR: End-to-end open-vocabulary multiple object tracking with transformer")
class OVTR(OVMOTMethod):
    """A dual-branch decoder on frozen detector features: track queries carried across frames,
    and a category branch aligned to the frozen ILFM."""

    config_class = OVTRConfig

    def __init__(self, region_dim: int, embed_dim: int, config: OVTRConfig | None = None) -> None:
        super().__init__()
        self.tracker = self.config = c = config or OVTRConfig()
        self.train_config = c.train
        self.decoder = DualBranchDecoder(region_dim, embed_dim, c.width, c.heads)

    def start_fit(self, train: OVMOTSplit) -> None:
        self._text = torch.as_tensor(train.text[train.base]).float()
        self._scale = train.logit_scale
        self._base_index = torch.as_tensor(np.where(train.base, np.cumsum(train.base) - 1, -1))

    def batch(self, split: OVMOTSplit, idx: np.ndarray) -> StillBatch:
        return still_batch(split, idx)

    def loss(self, b: StillBatch) -> dict[str, torch.Tensor]:
        c = self.config
        track_terms, distill, cls = [], [], []
        for s in torch.unique(b.still).tolist():
            v0 = torch.flatten(torch.nonzero((b.still == s) & (b.view == 0)))
            v1 = torch.flatten(torch.nonzero((b.still == s) & (b.view == 1)))
            if len(v0) == 0 or len(v1) == 0:
                continue
            f0, f1 = self.decoder.detections(b.region[v0]), self.decoder.detections(b.region[v1])
            logits = self.decoder.match_logits(f0, f1)
            same = b.obj[v0][:, None] == b.obj[v1][None, :]
            same &= (b.obj[v0] >= 0)[:, None]
            target = torch.where(same.any(1), same.float().argmax(1), torch.full_like(v0, len(v1)))
            track_terms.append(F.cross_entropy(logits, target, reduction="sum"))
            for rows, feats in ((v0, f0), (v1, f1)):
                e = F.normalize(self.decoder.category(feats), dim=-1)
                distill.append((e - b.crop[rows]).abs().sum(-1))
                lab = b.label[rows] >= 0
                if lab.any():
                    cls.append(F.cross_entropy(self._scale * e[lab] @ self._text.T,
                                               self._base_index[b.label[rows][lab]], reduction="none"))
        zero = b.region.sum() * 0
        n_q = max(1, int((b.view == 0).sum()))
        out = {"track": c.track_weight * (torch.stack(track_terms).sum() / n_q if track_terms else zero),
               "distill": c.distill_weight * (torch.cat(distill).mean() if distill else zero)}
        if cls:
            out["cls"] = c.cls_weight * torch.cat(cls).mean()
        return out

    def _frame_features(self, v: VideoDetections) -> torch.Tensor:
        starts = np.searchsorted(v.frame, np.arange(v.n_frames + 1))
        region = torch.as_tensor(v.region).float()
        feats = [self.decoder.detections(region[a:b]) for a, b in zip(starts[:-1], starts[1:], strict=True) if b > a]
        return torch.cat(feats) if feats else torch.zeros(0, self.config.width)

    @torch.no_grad()
    def class_probs(self, split: OVMOTSplit, v: VideoDetections) -> np.ndarray:
        e = F.normalize(self.decoder.category(self._frame_features(v)), dim=-1)
        return torch.softmax(split.logit_scale * e @ torch.as_tensor(split.text).float().T, -1).numpy()

    @torch.no_grad()
    def extra_similarity(self, split: OVMOTSplit, v: VideoDetections):  # noqa: ANN201
        feats = self._frame_features(v)

        def match(t: int, track_rows: list[int], det_rows: np.ndarray) -> np.ndarray:
            dets = feats[torch.as_tensor(det_rows)]
            logits = self.decoder.match_logits(feats[torch.as_tensor(track_rows)], dets)
            return torch.softmax(logits, -1)[:, :-1].numpy()

        return match
