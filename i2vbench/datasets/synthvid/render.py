"""Rasterise SynthVid frames: anti-aliased shapes composited over gradient backgrounds, each
object integrated over the camera's exposure.

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


def coverage(cx: np.ndarray, cy: np.ndarray, half: np.ndarray, shape: np.ndarray,
             xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """(F, len(ys), len(xs)) float32 anti-aliased coverage in [0, 1] of one object per frame,
    on the pixel grid whose pixel centres are ``xs`` x ``ys``.

    Coverage is 0.5 - signed distance in pixels, clipped: a one-pixel linear edge ramp.
    """
    out = np.empty((len(cx), len(ys), len(xs)), dtype=np.float32)
    for k, name in enumerate(SHAPES):
        idx = np.flatnonzero(shape == k)
        if idx.size == 0:
            continue
        sel = slice(None) if idx.size == len(cx) else idx
        h = half[sel].astype(np.float32)[:, None, None]
        x = (xs[None, None, :] - cx[sel].astype(np.float32)[:, None, None]) / h
        y = (ys[None, :, None] - cy[sel].astype(np.float32)[:, None, None]) / h
        out[sel] = np.clip(0.5 - sdf(name, x, y) * h, 0, 1)
    return out


def render_frames(cx: np.ndarray, cy: np.ndarray, half: np.ndarray, alpha: np.ndarray,
                  shape: np.ndarray, color: np.ndarray, bgs: Sequence[Background],
                  image_size: int, chunk: int = 256,
                  areas: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames (F, S, S, 3) uint8, and each object's visible and unoccluded area (F, K) in pixels.

    State inputs are (F, K) per frame and object slot, or (F, E, K) with E exposure samples per
    frame: the camera then integrates each object over its shutter (per-layer motion blur, as
    compositors do it): a slot's coverage is averaged over the E states before compositing, so
    a moving object leaves a streak along its path, a scaling one a soft rim, a fading one is
    translucent. Frames in which a slot's state is the same for all E samples cost one
    rasterisation. ``shape`` and ``color`` are (F, K). Slot k is drawn over slots < k. The
    visible area accounts for opacity, clipping at the border and occlusion by objects drawn
    later; the unoccluded area ignores occlusion. Each slot is rasterised only inside the
    rectangle its object sweeps over the chunk (small for a video, whose objects move smoothly).
    ``areas=False`` skips the area bookkeeping (returned as zeros).
    """
    if alpha.ndim == 2:
        cx, cy, half, alpha = (a[:, None, :] for a in (cx, cy, half, alpha))
    f, _, k = alpha.shape
    s = image_size
    frames = np.empty((f, s, s, 3), dtype=np.uint8)
    area = np.zeros((f, k), dtype=np.float32)
    full = np.zeros((f, k), dtype=np.float32)
    grid = np.arange(s, dtype=np.float32) + 0.5
    same_bg = all(b == bgs[0] for b in bgs)
    for a in range(0, f, chunk):
        b = min(a + chunk, f)
        if same_bg:
            img = np.repeat(backgrounds(bgs[:1], s), b - a, axis=0)
        else:
            img = backgrounds(bgs[a:b], s)
        covs = []
        for j in range(k):
            state = [v[a:b, :, j] for v in (cx, cy, half, alpha)]
            c = _exposed_coverage(*state, shape[a:b, j], grid, s)
            covs.append(c)
            if c is None:
                continue
            c, y0, y1, x0, x1 = c
            win = img[:, y0:y1, x0:x1]
            win += (RGB[color[a:b, j]][:, None, None, :] - win) * c[..., None]
        remaining = np.ones((b - a, s, s), dtype=np.float32) if areas else None
        for j in reversed(range(k) if areas else ()):
            if covs[j] is None:
                continue
            c, y0, y1, x0, x1 = covs[j]
            rem = remaining[:, y0:y1, x0:x1]
            area[a:b, j] = (c * rem).sum(axis=(1, 2))
            full[a:b, j] = c.sum(axis=(1, 2))
            rem *= 1 - c
        img += 0.5  # blends of in-range colours stay in [0, 255]: round by truncation
        frames[a:b] = img.astype(np.uint8)
    return frames, area, full


def _exposed_coverage(cx: np.ndarray, cy: np.ndarray, half: np.ndarray, alpha: np.ndarray,
                      shape: np.ndarray, grid: np.ndarray, s: int
                      ) -> tuple[np.ndarray, int, int, int, int] | None:
    """One slot's opacity-weighted coverage (F, y1 - y0, x1 - x0) averaged over its E exposure
    samples (inputs (F, E)), with the window it lives in; None if the slot is never drawn."""
    on = alpha > 0
    if not on.any():
        return None
    hj = np.where(on, half, 1.0)  # empty slots: any finite size, alpha hides them
    reach = (hj * 1.2 + 1.5)[on]
    x0 = int(np.clip(np.floor((cx[on] - reach).min()), 0, s))
    x1 = int(np.clip(np.ceil((cx[on] + reach).max()), 0, s))
    y0 = int(np.clip(np.floor((cy[on] - reach).min()), 0, s))
    y1 = int(np.clip(np.ceil((cy[on] + reach).max()), 0, s))
    xs, ys = grid[x0:x1], grid[y0:y1]
    mid = cx.shape[1] // 2
    c = coverage(cx[:, mid], cy[:, mid], hj[:, mid], shape, xs, ys) * alpha[:, mid, None, None]
    moving = np.flatnonzero(np.ptp(np.stack([cx, cy, hj, alpha]), axis=2).max(axis=0) > 0)
    if moving.size:
        e = cx.shape[1]
        sub = coverage(cx[moving].ravel(), cy[moving].ravel(), hj[moving].ravel(),
                       np.repeat(shape[moving], e), xs, ys)
        sub *= alpha[moving].reshape(-1)[:, None, None]
        c[moving] = sub.reshape(len(moving), e, len(ys), len(xs)).mean(axis=1)
    return c, y0, y1, x0, x1
