"""Box detection metrics: pairwise IoU / GIoU and COCO-style average precision at one IoU.

Used to report the grounding ILFM's held-out box AP (category phrases as detection prompts) and
referring accuracy. AP follows the COCO evaluator's recipe at a single threshold: detections of
one category over all images ranked by score, each greedily matched to the unmatched GT box of
its image with the highest IoU >= the threshold, precision made monotone, sampled at 101 recall
points.
"""

from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xyxy boxes; 0 where the union is empty."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def average_precision(image_ids: np.ndarray, scores: np.ndarray, boxes: np.ndarray,
                      gt: dict[int, np.ndarray], iou_threshold: float = 0.5) -> float:
    """AP of one category: detections ``(image_ids, scores, boxes)`` against ``gt[image] = (k, 4)``.

    Returns nan when the category has no GT box anywhere (COCO leaves it out of the mean).
    """
    n_gt = sum(len(g) for g in gt.values())
    if n_gt == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores), kind="stable")
    used = {i: np.zeros(len(g), bool) for i, g in gt.items()}
    tp = np.zeros(len(order), bool)
    for r, d in enumerate(order):
        img = int(image_ids[d])
        g = gt.get(img)
        if g is None or len(g) == 0:
            continue
        iou = box_iou(boxes[d], g)[0]
        iou[used[img]] = -1.0
        j = int(np.argmax(iou))
        if iou[j] >= iou_threshold:
            used[img][j] = True
            tp[r] = True
    ctp = np.cumsum(tp)
    recall = ctp / n_gt
    precision = ctp / np.arange(1, len(order) + 1)
    precision = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    points = np.linspace(0, 1, 101)
    idx = np.searchsorted(recall, points, side="left")
    return float(np.mean(np.where(idx < len(precision), precision[np.minimum(idx, len(precision) - 1)], 0.0)))
