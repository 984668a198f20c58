"""A classical point tracker: pyramidal Lucas-Kanade with a forward-backward check.

NetTrack follows fine-grained points with CoTracker (a learned point tracker, the "extra
model"); here the part is played by Lucas-Kanade optical flow (Bouguet's pyramidal form), which
needs no training. Vectorised over points; frames are small grey images.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    out = [img.astype(np.float32)]
    for _ in range(levels - 1):
        a = ndimage.gaussian_filter(out[-1], 1.0)[::2, ::2]
        out.append(a)
    return out


def _sample(img: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return ndimage.map_coordinates(img, [y.ravel(), x.ravel()], order=1, mode="nearest").reshape(y.shape)


def lucas_kanade(prev: np.ndarray, nxt: np.ndarray, pts: np.ndarray, window: int = 7, levels: int = 2,
                 iters: int = 6) -> np.ndarray:
    """Positions in ``nxt`` of points ``pts`` (P, 2) x, y of ``prev`` (both (H, W) grey)."""
    if len(pts) == 0:
        return pts.copy()
    pp, pn = _pyramid(prev, levels), _pyramid(nxt, levels)
    r = window // 2
    oy, ox = np.mgrid[-r:r + 1, -r:r + 1]
    oy, ox = oy.ravel()[None].astype(np.float32), ox.ravel()[None].astype(np.float32)
    d = np.zeros_like(pts, dtype=np.float32)
    for lev in range(levels - 1, -1, -1):
        s = 2.0 ** lev
        a, b = pp[lev], pn[lev]
        gy, gx = np.gradient(a)
        x0, y0 = pts[:, :1] / s + ox, pts[:, 1:] / s + oy
        ix, iy, i0 = _sample(gx, y0, x0), _sample(gy, y0, x0), _sample(a, y0, x0)
        gxx, gxy, gyy = (ix * ix).sum(1), (ix * iy).sum(1), (iy * iy).sum(1)
        det = gxx * gyy - gxy ** 2
        ok = det > 1e-3
        dl = d / s
        for _ in range(iters):
            i1 = _sample(b, y0 + dl[:, 1:], x0 + dl[:, :1])
            e = i0 - i1
            bx, by = (e * ix).sum(1), (e * iy).sum(1)
            step_x = np.where(ok, (gyy * bx - gxy * by) / np.where(ok, det, 1), 0)
            step_y = np.where(ok, (gxx * by - gxy * bx) / np.where(ok, det, 1), 0)
            dl = dl + np.stack([step_x, step_y], 1)
        d = dl * s
    return pts + d


def track_points(prev: np.ndarray, nxt: np.ndarray, pts: np.ndarray, fb_tol: float = 1.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(new positions, reliable) with the forward-backward check: a point is reliable if
    tracking it back lands within ``fb_tol`` pixels of where it started."""
    fwd = lucas_kanade(prev, nxt, pts)
    back = lucas_kanade(nxt, prev, fwd)
    h, w = prev.shape
    inside = (fwd[:, 0] >= 0) & (fwd[:, 0] < w) & (fwd[:, 1] >= 0) & (fwd[:, 1] < h)
    return fwd, inside & (np.linalg.norm(back - pts, axis=1) <= fb_tol)
