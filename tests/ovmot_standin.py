"""A classical stand-in for the grounding detector, for OV-MOT tests only (never a method).

SynthVid objects are saturated shapes on a dark gradient, so connected components of bright or
saturated pixels are its objects (merged where they touch). Each component is one candidate per
phrase with the same box; its "region embedding" is its mean colour and fill ratio, its score
for every phrase 0.9: enough for the tracking pipeline, nothing to learn classes from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class StandInDetections:
    boxes: torch.Tensor
    scores: torch.Tensor
    embeddings: torch.Tensor


class BlobGrounder:
    spec = "blob-standin"

    def detect(self, frames: np.ndarray, phrases: list[str]) -> StandInDetections:
        from scipy import ndimage

        f = np.asarray(frames).astype(np.float32)
        q, p = 6, len(phrases)
        boxes = np.zeros((len(f), p, q, 4), np.float32)
        scores = np.zeros((len(f), p, q), np.float32)
        emb = np.zeros((len(f), p, q, 8), np.float32)
        for t, img in enumerate(f):
            mask = (img.max(-1) - img.min(-1) > 70) | (img.min(-1) > 150)
            lab, n = ndimage.label(mask)
            for k, sl in enumerate(ndimage.find_objects(lab)[:q]):
                ys, xs = sl
                m = lab[sl] == k + 1
                if m.sum() < 6:
                    continue
                box = [xs.start, ys.start, xs.stop, ys.stop]
                col = img[sl][m].mean(0) / 255
                e = np.r_[col, m.mean(), (xs.stop - xs.start) / 64, (ys.stop - ys.start) / 64, 0.5, 0.5]
                boxes[t, :, k] = box
                scores[t, :, k] = 0.9
                emb[t, :, k] = e / np.linalg.norm(e)
        return StandInDetections(torch.as_tensor(boxes), torch.as_tensor(scores), torch.as_tensor(emb))
