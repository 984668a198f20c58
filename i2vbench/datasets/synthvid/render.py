"""Rasterise SynthVid frames: anti-aliased shapes composited over gradient backgrounds.

One vectorised renderer for everything (video frames and the frame-caption set), so that
pretraining frames and video frames come from the same pixels. Work is vectorised over frames;
the only Python loops are over object slots and shape kinds (a handful each).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from i2vbench.datasets.synthvid.world import RGB, SHAPES, Background, sdf


def backgrounds(bgs: Sequence[Background], image_size: int) -> np.ndarray:
    """(F, S, S, 3) float32 gradient backgrounds."""
    s = image_size
    c0 = np.array([b.c0 for b in bgs], dtype=np.float32)
    c1 = np.array([b.c1 for b in bgs], dtype=np.float32)
    ang = np.array([b.angle for b in bgs], dtype=np.float32)
    g = (np.arange(s, dtype=np.float32) + 0.5 - s / 2) / s
    proj = (np.cos(ang)[:, None, None] * g[None, None, :] + np.sin(ang)[:, None, None] * g[None, :, None])
    w = np.clip(proj / np.float32(np.sqrt(2)) + 0.5, 0, 1)[..., None]
    return c0[:, None, None, :] * (1 - w) + c1[:, None, None, :] * w


def coverage(cx: np.ndarray, cy: np.ndarray, half: np.ndarray, shape: np.ndarray, image_size: int) -> np.ndarray:
    """(F, S, S) float32 anti-aliased coverage in [0, 1] of one object per frame.

    Coverage is 0.5 - signed distance in pixels, clipped: a one-pixel linear edge ramp.
    """
    s = image_size
    g = np.arange(s, dtype=np.float32) + 0.5
    out = np.zeros((len(cx), s, s), dtype=np.float32)
    for k, name in enumerate(SHAPES):
        idx = np.flatnonzero(shape == k)
        if idx.size == 0:
            continue
        h = half[idx].astype(np.float32)[:, None, None]
        x = (g[None, None, :] - cx[idx].astype(np.float32)[:, None, None]) / h
        y = (g[None, :, None] - cy[idx].astype(np.float32)[:, None, None]) / h
        out[idx] = np.clip(0.5 - sdf(name, x, y) * h, 0, 1)
    return out


def render_frames(cx: np.ndarray, cy: np.ndarray, half: np.ndarray, alpha: np.ndarray,
                  shape: np.ndarray, color: np.ndarray, bgs: Sequence[Background],
                  image_size: int, chunk: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames (F, S, S, 3) uint8, and each object's visible and unoccluded area (F, K) in pixels.

    Inputs are (F, K) per frame and object slot; slot k is drawn over slots < k. The visible area
    accounts for opacity, clipping at the border and occlusion by objects drawn later; the
    unoccluded area ignores occlusion.
    """
    f, k = alpha.shape
    frames = np.empty((f, image_size, image_size, 3), dtype=np.uint8)
    area = np.zeros((f, k), dtype=np.float32)
    full = np.zeros((f, k), dtype=np.float32)
    for a in range(0, f, chunk):
        b = min(a + chunk, f)
        img = backgrounds(bgs[a:b], image_size)
        covs = []
        for j in range(k):
            on = np.flatnonzero(alpha[a:b, j] > 0)
            c = np.zeros((b - a, image_size, image_size), dtype=np.float32)
            if on.size:
                c[on] = coverage(cx[a:b, j][on], cy[a:b, j][on], half[a:b, j][on],
                                 shape[a:b, j][on], image_size) * alpha[a:b, j][on, None, None]
                col = RGB[color[a:b, j][on]][:, None, None, :]
                cj = c[on][..., None]
                img[on] = img[on] * (1 - cj) + col * cj
            covs.append(c)
        remaining = np.ones((b - a, image_size, image_size), dtype=np.float32)
        for j in reversed(range(k)):
            area[a:b, j] = (covs[j] * remaining).sum(axis=(1, 2))
            full[a:b, j] = covs[j].sum(axis=(1, 2))
            remaining *= 1 - covs[j]
        frames[a:b] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return frames, area, full
