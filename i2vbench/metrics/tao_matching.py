"""The TAO matching that TETA and HOTA share: per-frame IoU tables, Hungarian matches inside
(video, class) clusters, alignment scores between tracks, cumulative counts over thresholds.

Lifted out of ``teta.py`` so that both metrics import one module (HOTA used to import TETA's
private names). Flat box arrays throughout, vectorised: see ``teta.py`` for the definitions these
pieces implement, and the parity tests for their agreement with SysCV/tet and trackeval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = np.finfo(float).eps


# ---------------------------------------------------------------------------------------------
# building blocks


def dense_ids(*keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense ids 0..n-1 of the tuples (keys[0][i], keys[1][i], ...), in sorted tuple order."""
    n = len(keys[0])
    if n == 0:
        return np.empty(0, np.int64), 0
    o = np.lexsort(keys[::-1])
    new = np.zeros(n, bool)
    new[0] = True
    for k in keys:
        ks = k[o]
        new[1:] |= ks[1:] != ks[:-1]
    ids = np.empty(n, np.int64)
    ids[o] = np.cumsum(new) - 1
    return ids, int(new.sum())


def runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, length and key of each run of equal values in a sorted array."""
    if len(sorted_keys) == 0:
        e = np.empty(0, np.int64)
        return e, e, e
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    return starts, np.diff(np.r_[starts, len(sorted_keys)]), sorted_keys[starts]


def block_pairs(rs: np.ndarray, rn: np.ndarray, cs: np.ndarray, cn: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (row, col) pairs of each block, row-major within a block; and each block's offset."""
    size = rn * cn
    off = np.r_[0, np.cumsum(size)]
    blk = np.repeat(np.arange(len(size)), size)
    local = np.arange(off[-1]) - off[:-1][blk]
    ncol = cn[blk]
    return rs[blk] + local // ncol, cs[blk] + local % ncol, off


def corners(boxes: np.ndarray) -> tuple[np.ndarray, ...]:
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    return x0, y0, x1, y1, (x1 - x0) * (y1 - y0)


def pair_iou(a: np.ndarray, b: np.ndarray, ia: np.ndarray | None = None,
             ib: np.ndarray | None = None) -> np.ndarray:
    """IoU of a[ia[k]] with b[ib[k]] (default: a[k] with b[k]) for xywh boxes, with the
    official evaluator's exact float steps.

    Corners are x+w, y+h and areas come from the corners (not w*h), so that a box whose IoU is
    exactly on a threshold lands on the same side as in the official code.
    """
    ca, cb = corners(a), corners(b)
    if ia is not None:
        ca = tuple(c[ia] for c in ca)
    if ib is not None:
        cb = tuple(c[ib] for c in cb)
    ax0, ay0, ax1, ay1, aa = ca
    bx0, by0, bx1, by1, ba = cb
    iw = np.minimum(ax1, bx1)
    iw -= np.maximum(ax0, bx0)
    np.maximum(iw, 0, out=iw)
    ih = np.minimum(ay1, by1)
    ih -= np.maximum(ay0, by0)
    np.maximum(ih, 0, out=ih)
    inter = iw * ih
    union = aa + ba
    union -= inter
    inter[(aa <= EPS) | (ba <= EPS) | (union <= EPS)] = 0
    union[union <= EPS] = 1
    return inter / union


@dataclass
class Frames:
    """All GT x prediction box pairs of every frame, row-major per frame, with their IoU."""

    g_start: np.ndarray
    g_count: np.ndarray
    p_start: np.ndarray
    p_count: np.ndarray
    off: np.ndarray
    gi: np.ndarray
    pi: np.ndarray
    iou: np.ndarray

    def lookup(self, g: np.ndarray, p: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """IoU of GT box g with predicted box p (both in ``frame``)."""
        return self.iou[self.off[frame] + (g - self.g_start[frame]) * self.p_count[frame]
                        + (p - self.p_start[frame])]


def frame_pairs(n_frames: int, g_frame: np.ndarray, g_boxes: np.ndarray, p_frame: np.ndarray,
                 p_boxes: np.ndarray) -> Frames:
    f = np.arange(n_frames)
    gs = np.searchsorted(g_frame, f)
    gc = np.searchsorted(g_frame, f, side="right") - gs
    ps = np.searchsorted(p_frame, f)
    pc = np.searchsorted(p_frame, f, side="right") - ps
    gi, pi, off = block_pairs(gs, gc, ps, pc)
    return Frames(gs, gc, ps, pc, off, gi, pi, pair_iou(g_boxes, p_boxes, gi, pi))


@dataclass
class Matches:
    row: np.ndarray  # index into the rows array of each match
    col: np.ndarray  # index into the cols array
    iou: np.ndarray
    key: np.ndarray  # dense (row track, col track) id of each match
    key_row_trk: np.ndarray  # per dense key
    key_col_trk: np.ndarray


def cluster_match(row_box: np.ndarray, row_trk: np.ndarray, row_grp: np.ndarray,
                   col_box: np.ndarray, col_trk: np.ndarray, col_grp: np.ndarray,
                   n_col_trk: int, frame_of_grp: np.ndarray, frames: Frames) -> Matches:
    """Global alignment + per-frame Hungarian matching, as TETA's ``compute_matches``.

    Rows are GT boxes and cols predicted boxes, both sorted by group (a frame of one cluster);
    each group becomes one score matrix ``alignment[gt_track, pred_track] * IoU`` with rows and
    columns in file order, exactly the matrix the official code hands to the Hungarian solver.
    ``row_trk``/``col_trk`` are track ids within the cluster (dense), whose box counts over the
    whole cluster (also frames without GT) enter the alignment score.
    """
    from scipy.optimize import linear_sum_assignment

    gc_trk = np.bincount(row_trk)
    tc_trk = np.bincount(col_trk, minlength=n_col_trk)
    rs, rn, rkey = runs(row_grp)
    cs, cn, ckey = runs(col_grp)
    common, ri_, ci_ = np.intersect1d(rkey, ckey, assume_unique=True, return_indices=True)
    rs, rn, cs, cn = rs[ri_], rn[ri_], cs[ci_], cn[ci_]
    r, c, off = block_pairs(rs, rn, cs, cn)
    blk_frame = frame_of_grp(common)
    iou = frames.lookup(row_box[r], col_box[c], np.repeat(blk_frame, rn * cn))
    # HOTA-style soft matches: IoU / (row sum + col sum - IoU) within each frame's matrix
    rowsum = np.bincount(r, weights=iou, minlength=len(row_box))
    colsum = np.bincount(c, weights=iou, minlength=len(col_box))
    denom = colsum[c] + rowsum[r] - iou
    soft = np.zeros_like(iou)
    ok = denom > EPS
    soft[ok] = iou[ok] / denom[ok]
    pair_key = row_trk[r] * n_col_trk + col_trk[c]
    ukey, inv = np.unique(pair_key, return_inverse=True)
    num = np.bincount(inv, weights=soft, minlength=len(ukey))
    k_row, k_col = ukey // n_col_trk, ukey % n_col_trk
    align = num / (gc_trk[k_row] + tc_trk[k_col] - num)
    score = -(align[inv] * iou)  # the solver minimises
    mr = []
    offl, rnl, cnl = off.tolist(), rn.tolist(), cn.tolist()
    for b in range(len(rnl)):
        nr, nc = rnl[b], cnl[b]
        o = offl[b]
        if nr == 1 and nc == 1:
            mr.append(o)
            continue
        rr, cc = linear_sum_assignment(score[o:o + nr * nc].reshape(nr, nc))
        mr.append(o + rr * nc + cc)
    m = np.concatenate([np.atleast_1d(x) for x in mr]) if mr else np.empty(0, np.int64)
    m = m.astype(np.int64)
    return Matches(r[m], c[m], iou[m], inv[m], k_row, k_col)


# ---------------------------------------------------------------------------------------------
# the metric


def cumulative_at_alpha(idx: np.ndarray, n_pass: np.ndarray, n: int, n_alpha: int,
                       weights: np.ndarray | None = None) -> np.ndarray:
    """(n, n_alpha) sums over matches grouped by ``idx`` of [match counts at alpha a], where a
    match with ``n_pass`` counts at alphas 0..n_pass-1."""
    h = np.bincount(idx * (n_alpha + 1) + n_pass, weights=weights,
                    minlength=n * (n_alpha + 1)).reshape(n, n_alpha + 1)
    return np.cumsum(h[:, ::-1], axis=1)[:, ::-1][:, 1:].astype(float)


def association(match_key: np.ndarray, match_inst: np.ndarray, n_pass: np.ndarray,
                key_gt_count: np.ndarray | None, key_pred_count: np.ndarray | None,
                n_inst: int, n_cls: int, n_alpha: int) -> dict[str, np.ndarray]:
    """HOTA's AssA/AssRe/AssPr per class (n_cls, n_alpha), as TETA and TrackEval combine them.

    Per cluster (instance = video x class): sum over (GT track, predicted track) pairs of
    ``m * m / max(1, gt_count + pred_count - m)`` (m = frames matched at alpha) over
    ``max(1, TP)``; per class, the clusters' values weighted by their TP. ``match_key`` is the
    dense (GT track, predicted track) id of each match, with per-key box counts.
    """
    tp_inst = cumulative_at_alpha(match_inst, n_pass, n_inst, n_alpha)
    out = {}
    if len(match_key):
        ukey, kinv = np.unique(match_key, return_inverse=True)
        key_inst = np.zeros(len(ukey), np.int64)
        key_inst[kinv] = match_inst
        m = cumulative_at_alpha(kinv, n_pass, len(ukey), n_alpha)
        g = key_gt_count[ukey].astype(float)[:, None]
        t = key_pred_count[ukey].astype(float)[:, None]
        terms = {"AssA": m * (m / np.maximum(1, g + t - m)), "AssRe": m * (m / np.maximum(1, g)),
                 "AssPr": m * (m / np.maximum(1, t))}
    else:
        key_inst = np.empty(0, np.int64)
        terms = {k: np.zeros((0, n_alpha)) for k in ("AssA", "AssRe", "AssPr")}
    inst_cls = np.arange(n_inst) % n_cls
    tp_cls = group_sum(inst_cls, tp_inst, n_cls)
    for name, t in terms.items():
        per_inst = group_sum(key_inst, t, n_inst) / np.maximum(1, tp_inst)
        out[name] = group_sum(inst_cls, per_inst * tp_inst, n_cls) / np.maximum(1.0, tp_cls)
    return out


def group_sum(idx: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Row sums of a (rows, k) array grouped by ``idx`` into (n, k)."""
    return np.stack([np.bincount(idx, weights=values[:, j], minlength=n)
                     for j in range(values.shape[1])], axis=1)


def class_index(classes: np.ndarray, cats: np.ndarray) -> np.ndarray:
    """Position of each category in the sorted evaluated-class array, or -1."""
    if len(classes) == 0 or len(cats) == 0:
        return np.full(len(cats), -1, np.int64)
    pos = np.minimum(np.searchsorted(classes, cats), len(classes) - 1)
    return np.where(classes[pos] == cats, pos, -1)
