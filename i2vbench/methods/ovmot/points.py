"""A classical point tracker: pyramidal Lucas-Kanade with a forward-backward check.

NetTrack follows fine-grained points with CoTracker (a learned point tracker, the "extra
model"); here the part is played by Lucas-Kanade optical flow (Bouguet's pyramidal form), which
needs no training. Vectorised over points; frames are small grey images.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


class Pyramid:
    """A grey frame's Gaussian pyramid and the gradients of each level (computed once)."""

    def __init__(self, img: np.ndarray, levels: int = 2) -> None:
        self.levels = [img.astype(np.float32)]
        for _ in range(levels - 1):
            self.levels.append(ndimage.gaussian_filter(self.levels[-1], 1.0)[::2, ::2])
        self.grads = [np.gradient(a) for a in self.levels]  # (gy, gx) per level


def _sample(img: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return ndimage.map_coordinates(img, [y.ravel(), x.ravel()], order=1, mode="nearest").reshape(y.shape)


def lucas_kanade(prev: Pyramid, nxt: Pyramid, pts: np.ndarray, window: int = 7, iters: int = 6) -> np.ndarray:
    """Positions in ``nxt`` of points ``pts`` (P, 2) x, y of ``prev``, coarse to fine."""
    if len(pts) == 0:
        return pts.copy()
    r = window // 2
    oy, ox = np.mgrid[-r:r + 1, -r:r + 1]
    oy, ox = oy.ravel()[None].astype(np.float32), ox.ravel()[None].astype(np.float32)
    d = np.zeros_like(pts, dtype=np.float32)
    for lev in range(len(prev.levels) - 1, -1, -1):
        s = 2.0 ** lev
        a, b = prev.levels[lev], nxt.levels[lev]
        gy, gx = prev.grads[lev]
        x0, y0 = pts[:, :1] / s + ox, pts[:, 1:] / s + oy
        ix, iy, i0 = _sample(gx, y0, x0), _sample(gy, y0, x0), _sample(a, y0, x0)
        gxx, gxy, gyy = (ix * ix).sum(1), (ix * iy).sum(1), (iy * iy).sum(1)
        det = gxx * gyy - gxy ** 2
        ok = det > 1e-3
        safe = np.where(ok, det, 1)
        dl = d / s
        for _ in range(iters):
            e = i0 - _sample(b, y0 + dl[:, 1:], x0 + dl[:, :1])
            bx, by = (e * ix).sum(1), (e * iy).sum(1)
            dl = dl + np.stack([np.where(ok, (gyy * bx - gxy * by) / safe, 0),
                                np.where(ok, (gxx * by - gxy * bx) / safe, 0)], 1)
        d = dl * s
    return pts + d


def track_points(prev: Pyramid, nxt: Pyramid, pts: np.ndarray, fb_tol: float = 1.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(new positions, reliable) with the forward-backward check: a point is reliable if
    tracking it back lands within ``fb_tol`` pixels of where it started."""
    fwd = lucas_kanade(prev, nxt, pts)
    back = lucas_kanade(nxt, prev, fwd)
    h, w = prev.levels[0].shape
    inside = (fwd[:, 0] >= 0) & (fwd[:, 0] < w) & (fwd[:, 1] >= 0) & (fwd[:, 1] < h)
    return fwd, inside & (np.linalg.norm(back - pts, axis=1) <= fb_tol)
