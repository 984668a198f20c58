"""The open-vocabulary detector every OV-MOT method stands on (Grounding DINO's role).

Table II's OV-MOT rows track what a phrase-grounding image model finds: given a frame and a
list of phrases (the category names), boxes, a matching score per box and phrase, and a region
embedding per box. The suite's grounders (:func:`i2vbench.methods.backbones.grounding.load_grounder`:
the embedded ``tinyground``, or OWL-ViT from disk) answer each phrase with its own candidates;
:func:`frame_detections` turns them into one set of detections per frame. The detector is
frozen in every method (as Grounding DINO is in MASA and NetTrack): what the methods learn sits
on its outputs.

Also here: the crops the ILFM (tinyclip, CLIP's role) embeds, cut from the frames with one
batched ``grid_sample`` per frame batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FrameDetections:
    """One frame's detections: ``boxes`` (K, 4) x1, y1, x2, y2 in pixels; ``scores`` (K, P)
    matching score in [0, 1] of each box for each phrase; ``embeddings`` (K, E)."""

    boxes: np.ndarray
    scores: np.ndarray
    embeddings: np.ndarray


def detector_id(grounder) -> str:  # noqa: ANN001
    """The grounder's spec and a hash of its weights: part of every detection cache key."""
    import hashlib

    h = hashlib.sha256(str(getattr(grounder, "spec", type(grounder).__name__)).encode())
    model = getattr(grounder, "model", None)
    if model is not None and hasattr(model, "state_dict"):
        for k, v in sorted(model.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().float().contiguous().numpy().tobytes())
    return f"{getattr(grounder, 'spec', type(grounder).__name__)}-{h.hexdigest()[:12]}"


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices (ascending) kept by greedy non-maximum suppression at ``iou``."""
    from i2vbench.methods.ovmot.base import box_iou

    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    for i in order.tolist():
        if not keep or box_iou(boxes[[i]], boxes[keep]).max() < iou:
            keep.append(i)
    return np.array(sorted(keep), np.int64)


def frame_detections(boxes: np.ndarray, scores: np.ndarray, embeddings: np.ndarray, keep_score: float,
                     nms_iou: float) -> FrameDetections:
    """One frame's detections from a grounder's per-phrase candidates.

    A grounding model answers each phrase with its own Q candidate boxes (``boxes`` (P, Q, 4),
    ``scores`` (P, Q), ``embeddings`` (P, Q, E)), as Grounding DINO does for a prompt of category
    names. Candidates scoring ``keep_score`` or more for their phrase are pooled over phrases and
    suppressed class-agnostically at ``nms_iou``; a kept box scores each phrase with the best
    candidate of that phrase overlapping it at ``nms_iou`` (0 if none), so each detection has a
    score for every name; its embedding is its own candidate's.
    """
    from i2vbench.methods.ovmot.base import box_iou

    p, q = scores.shape
    b, s, e = boxes.reshape(p * q, 4), scores.reshape(p * q), embeddings.reshape(p * q, -1)
    ok = np.flatnonzero(s >= keep_score)
    if len(ok) == 0:
        return FrameDetections(np.zeros((0, 4), np.float32), np.zeros((0, p), np.float32),
                               np.zeros((0, e.shape[1]), np.float32))
    kept = ok[nms(b[ok], s[ok], nms_iou)]
    over = box_iou(b[kept], b) >= nms_iou  # (K, P*Q)
    per = np.where(over, s[None, :], 0).reshape(len(kept), p, q).max(2)
    return FrameDetections(b[kept].astype(np.float32), per.astype(np.float32), e[kept].astype(np.float32))


def crop_batch(frames: torch.Tensor, frame_of: np.ndarray, boxes: np.ndarray, size: int,  # noqa: F821
               context: float = 0.1) -> torch.Tensor:  # noqa: F821
    """Crops (K, 3, size, size) float in [0, 255] of ``boxes`` (K, 4) xyxy pixels, each from
    frame ``frame_of[k]`` of ``frames`` (N, H, W, 3) uint8, enlarged by ``context`` per side
    (bilinear, zeros outside the frame)."""
    import torch
    import torch.nn.functional as F

    n, h, w, _ = frames.shape
    b = torch.as_tensor(boxes, dtype=torch.float32)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    bw = (b[:, 2] - b[:, 0]).clamp(min=1) * (1 + 2 * context)
    bh = (b[:, 3] - b[:, 1]).clamp(min=1) * (1 + 2 * context)
    theta = torch.zeros(len(b), 2, 3)
    theta[:, 0, 0] = bw / w
    theta[:, 0, 2] = 2 * cx / w - 1
    theta[:, 1, 1] = bh / h
    theta[:, 1, 2] = 2 * cy / h - 1
    grid = F.affine_grid(theta, [len(b), 3, size, size], align_corners=False)
    src = torch.as_tensor(frames).permute(0, 3, 1, 2).float()[torch.as_tensor(frame_of, dtype=torch.long)]
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
