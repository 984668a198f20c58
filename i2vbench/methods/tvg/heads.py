"""Dense grounding head shared by the clip-level TVG methods (R²-Tuning, the adapter method).

Every clip predicts whether it lies inside the queried moment and how far the moment extends
to each side (the UniVTG/R²-Tuning formulation); decoding turns each clip into a scored window
and keeps the best after temporal NMS. The saliency hinge loss is shared with Moment-DETR.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from i2vbench.distributed import global_count, rank_and_world
from i2vbench.methods.tvg.base import TVGMethod
from i2vbench.methods.tvg.data import Batch
from i2vbench.methods.tvg.spans import iou_giou, pairwise_iou_giou, temporal_nms


def clip_centres(b: Batch, n_clips: int) -> torch.Tensor:
    """(B, T) clip centres normalised by each video's duration."""
    return (torch.arange(n_clips) + 0.5) * b.clip_len / b.duration[:, None]


def inside_mask(b: Batch, n_clips: int) -> torch.Tensor:
    """(B, T) True where a clip centre lies in one of the item's GT windows."""
    centres = clip_centres(b, n_clips)
    inside = torch.zeros(len(b.windows), n_clips, dtype=torch.bool)
    for i, gt in enumerate(b.windows):
        inside[i] = ((centres[i][:, None] >= gt[:, 0]) & (centres[i][:, None] <= gt[:, 1])).any(-1)
    return inside & ~b.video_pad


def saliency_hinge(saliency: torch.Tensor, b: Batch, margin: float = 0.2) -> torch.Tensor:
    """Hinge between a random in-window clip and a random out-of-window clip of each item."""
    pos = inside_mask(b, saliency.shape[1])
    neg = ~pos & ~b.video_pad
    usable = pos.any(1) & neg.any(1)
    distributed = rank_and_world()[1] > 1
    count = global_count(int(usable.sum())) if distributed else 0  # before any return: a collective
    if not usable.any():
        return saliency.new_zeros(())
    rand = torch.rand(saliency.shape)
    pos_idx = torch.where(pos, rand, -1.0).argmax(1)
    neg_idx = torch.where(neg, rand, -1.0).argmax(1)
    rows = torch.arange(len(saliency))
    gap = margin + saliency[rows, neg_idx] - saliency[rows, pos_idx]
    if distributed:  # the global batch's mean (DETR's normalisation, see distributed.global_count)
        return gap.clamp(min=0)[usable].sum() / count
    return gap.clamp(min=0)[usable].mean()


class BoundaryHead(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fg = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 1))
        self.reg = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, 2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, C) → foreground logits (B, T), distances to start/end in clips (B, T, 2)."""
        return self.fg(x).squeeze(-1), F.softplus(self.reg(x))

    @staticmethod
    def windows(dist: torch.Tensor, b: Batch) -> torch.Tensor:
        """(B, T, 2) distances in clips → (B, T, 2) normalised [start, end] windows."""
        centres = clip_centres(b, dist.shape[1])
        scale = b.clip_len / b.duration[:, None]
        return torch.stack([centres - dist[..., 0] * scale, centres + dist[..., 1] * scale], -1)

    def loss(self, fg: torch.Tensor, dist: torch.Tensor, b: Batch) -> dict[str, torch.Tensor]:
        inside = inside_mask(b, fg.shape[1])
        valid = ~b.video_pad
        if rank_and_world()[1] > 1:  # under DDP: the global batch's mean (see distributed.global_count)
            fg_loss = (F.binary_cross_entropy_with_logits(fg[valid], inside[valid].float(), reduction="sum")
                       / global_count(int(valid.sum())))
        else:
            fg_loss = F.binary_cross_entropy_with_logits(fg[valid], inside[valid].float())
        pred = self.windows(dist, b)
        reg = fg.new_zeros(())
        n = 0
        for i, gt in enumerate(b.windows):
            pos = inside[i]
            if not pos.any():
                continue
            iou, _ = pairwise_iou_giou(pred[i, pos], gt)
            target = gt[iou.argmax(1)]
            _, giou = iou_giou(pred[i, pos], target)
            scale = b.clip_len / float(b.duration[i])
            reg = reg + F.l1_loss(pred[i, pos] / scale, target / scale, reduction="sum") / 4
            reg = reg + (1 - giou).sum()
            n += int(pos.sum())
        return {"fg": fg_loss, "boundary": reg / max(global_count(n), 1)}

    def decode(self, fg: torch.Tensor, dist: torch.Tensor, b: Batch, top_k: int = 10) -> list[np.ndarray]:
        pred = self.windows(dist, b).clamp(0, 1) * b.duration[:, None, None]
        score = fg.sigmoid()
        out = []
        for i in range(len(pred)):
            valid = ~b.video_pad[i]
            rows = torch.cat([pred[i, valid], score[i, valid, None]], -1).double().numpy()
            out.append(temporal_nms(rows, iou_threshold=0.7, top_k=top_k))
        return out


class DenseGroundingMethod(TVGMethod):
    """A method whose ``forward`` gives per-clip (foreground logit, distances, saliency).

    The loss (boundary head + saliency hinge) and the decoding are the same for every such
    method; subclasses build ``self.head`` (a :class:`BoundaryHead`) and define ``forward``.
    """

    head: BoundaryHead
    w_saliency: float = 1.0

    def loss(self, b: Batch) -> dict[str, torch.Tensor]:
        fg, dist, sal = self(b)
        losses = self.head.loss(fg, dist, b)
        losses["saliency"] = self.w_saliency * saliency_hinge(sal, b)
        return losses

    def predict_batch(self, b: Batch) -> list[np.ndarray]:
        fg, dist, _ = self(b)
        return self.head.decode(fg, dist, b)
