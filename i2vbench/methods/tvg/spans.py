"""Temporal span arithmetic shared by the TVG heads: IoU, gIoU, NMS, format conversion."""

from __future__ import annotations

import numpy as np
import torch


def cw_to_se(cw: torch.Tensor) -> torch.Tensor:
    """(..., 2) centre/width → start/end."""
    c, w = cw.unbind(-1)
    return torch.stack([c - 0.5 * w, c + 0.5 * w], dim=-1)


def se_to_cw(se: torch.Tensor) -> torch.Tensor:
    s, e = se.unbind(-1)
    return torch.stack([(s + e) / 2, e - s], dim=-1)


def iou_giou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU and generalised IoU of start/end spans ``a`` (..., 2) and ``b`` (..., 2), broadcasting."""
    inter = (torch.min(a[..., 1], b[..., 1]) - torch.max(a[..., 0], b[..., 0])).clamp(min=0)
    union = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - inter
    iou = inter / union.clamp_min(1e-6)
    hull = torch.max(a[..., 1], b[..., 1]) - torch.min(a[..., 0], b[..., 0])
    return iou, iou - (hull - union) / hull.clamp_min(1e-6)


def pairwise_iou_giou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU and gIoU between every span of ``a`` (N, 2) and ``b`` (M, 2): (N, M) each."""
    return iou_giou(a[:, None], b[None])


def temporal_nms(windows: np.ndarray, iou_threshold: float = 0.7, top_k: int = 10) -> np.ndarray:
    """Greedy NMS over (N, 3) [start, end, score] rows; returns kept rows by descending score."""
    order = np.argsort(-windows[:, 2], kind="stable")
    w = windows[order]
    keep: list[int] = []
    for i in range(len(w)):
        if len(keep) >= top_k:
            break
        if keep:
            k = w[keep]
            inter = np.clip(np.minimum(k[:, 1], w[i, 1]) - np.maximum(k[:, 0], w[i, 0]), 0, None)
            union = (k[:, 1] - k[:, 0]) + (w[i, 1] - w[i, 0]) - inter
            if np.any(inter / np.maximum(union, 1e-9) >= iou_threshold):
                continue
        keep.append(i)
    return w[keep]
