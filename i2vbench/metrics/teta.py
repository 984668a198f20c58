"""TETA (Track Every Thing Accuracy, Li et al. ECCV 2022) for open-vocabulary MOT on TAO.

Agrees with SysCV/tet ``teta/`` (commit a62a9c0, TAO dataset, ``TETA(exhaustive=False)``) to
1e-6, but computes everything at once over flat box arrays instead of looping over every class
for every frame of every video (the official code's cost). The definition, as the official code
implements it:

* Similarity is box IoU (xywh boxes turned into corners; zero-area boxes have IoU 0).
* **Global assignment** (per video, all classes together): a predicted track is *kept* if any of
  its boxes has IoU >= 0.5 with some GT box (any category); all boxes of kept tracks take part.
  HOTA-style global alignment scores between GT and predicted tracks weight the IoU; a
  Hungarian match per frame (``scipy.optimize.linear_sum_assignment``) with IoU >= 0.5 - eps
  assigns predicted boxes to GT boxes.
* **Local clusters** (per video and evaluated class c): a predicted box *overlaps* class c in a
  frame if its IoU with some class-c GT box is >= 0.5 and it was not assigned above to a GT box
  of another category. Tracks with an overlapping box are kept (all their boxes); alignment
  scores and a per-frame Hungarian match (class-c GT rows x kept boxes) follow, thresholded at
  each alpha in ``arange(0, 0.99, 0.05)`` with ``IoU >= alpha - eps`` (alpha 0 counts every
  Hungarian pair, even at IoU 0, as the official code does).
* LocA = TP/(TP+FN+FP) with FP = overlapping boxes left unmatched; AssocA is HOTA's AssA over
  the matches; ClsA (alphas >= 0.5) counts a match as a class TP if the predicted category is c,
  else a class FN for c and a class FP for the predicted category (if it is evaluated).
  Classes are evaluated if listed in ``categories`` and present in the GT; per class, counts
  are summed over videos, then every field is averaged over classes and over alphas.
  TETA = (LocA + AssocA + ClsA) / 3. ``not_exhaustive_category_ids`` and ``neg_category_ids``
  do not enter (``exhaustive=False``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from i2vbench.datasets.tao import TaoGT, TaoResults, load_tao_gt, load_tao_results
from i2vbench.errors import BenchError
from i2vbench.metrics.evaluate import register_evaluator

EPS = np.finfo(float).eps
ALPHAS = np.arange(0.0, 0.99, 0.05)  # localization thresholds (20), as in the official code
_THRESH = ALPHAS - EPS  # a match counts at alpha if IoU >= alpha - eps
_CLS_SLOTS = np.flatnonzero(ALPHAS >= 0.5)  # alphas that score classification (0.5 .. 0.95)
OVERLAP_IOU = 0.5  # a box "overlaps" a GT box (joins its local cluster) at IoU >= 0.5
FIELDS = ("TETA", "LocA", "AssocA", "ClsA", "LocRe", "LocPr", "AssocRe", "AssocPr", "ClsRe", "ClsPr")
_NONE = np.iinfo(np.int64).min


@dataclass
class TetaResult:
    """Class-averaged TETA fields in percent, and each evaluated class's own fields (percent)."""

    summary: dict[str, float]
    per_class: dict[int, dict[str, float]]


# ---------------------------------------------------------------------------------------------
# building blocks


def _dense_ids(*keys: np.ndarray) -> tuple[np.ndarray, int]:
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


def _runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, length and key of each run of equal values in a sorted array."""
    if len(sorted_keys) == 0:
        e = np.empty(0, np.int64)
        return e, e, e
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    return starts, np.diff(np.r_[starts, len(sorted_keys)]), sorted_keys[starts]


def _block_pairs(rs: np.ndarray, rn: np.ndarray, cs: np.ndarray, cn: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (row, col) pairs of each block, row-major within a block; and each block's offset."""
    size = rn * cn
    off = np.r_[0, np.cumsum(size)]
    blk = np.repeat(np.arange(len(size)), size)
    local = np.arange(off[-1]) - off[:-1][blk]
    ncol = cn[blk]
    return rs[blk] + local // ncol, cs[blk] + local % ncol, off


def _corners(boxes: np.ndarray) -> tuple[np.ndarray, ...]:
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
    ca, cb = _corners(a), _corners(b)
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
class _Frames:
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


def _frame_pairs(n_frames: int, g_frame: np.ndarray, g_boxes: np.ndarray, p_frame: np.ndarray,
                 p_boxes: np.ndarray) -> _Frames:
    f = np.arange(n_frames)
    gs = np.searchsorted(g_frame, f)
    gc = np.searchsorted(g_frame, f, side="right") - gs
    ps = np.searchsorted(p_frame, f)
    pc = np.searchsorted(p_frame, f, side="right") - ps
    gi, pi, off = _block_pairs(gs, gc, ps, pc)
    return _Frames(gs, gc, ps, pc, off, gi, pi, pair_iou(g_boxes, p_boxes, gi, pi))


@dataclass
class _Matches:
    row: np.ndarray  # index into the rows array of each match
    col: np.ndarray  # index into the cols array
    iou: np.ndarray
    key: np.ndarray  # dense (row track, col track) id of each match
    key_row_trk: np.ndarray  # per dense key
    key_col_trk: np.ndarray


def _cluster_match(row_box: np.ndarray, row_trk: np.ndarray, row_grp: np.ndarray,
                   col_box: np.ndarray, col_trk: np.ndarray, col_grp: np.ndarray,
                   n_col_trk: int, frame_of_grp: np.ndarray, frames: _Frames) -> _Matches:
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
    rs, rn, rkey = _runs(row_grp)
    cs, cn, ckey = _runs(col_grp)
    common, ri_, ci_ = np.intersect1d(rkey, ckey, assume_unique=True, return_indices=True)
    rs, rn, cs, cn = rs[ri_], rn[ri_], cs[ci_], cn[ci_]
    r, c, off = _block_pairs(rs, rn, cs, cn)
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
    return _Matches(r[m], c[m], iou[m], inv[m], k_row, k_col)


# ---------------------------------------------------------------------------------------------
# the metric


def compute_teta(gt: TaoGT, res: TaoResults, frames: _Frames | None = None) -> TetaResult:
    """TETA on TAO columns (see the module docstring for the definition).

    ``frames`` (the GT x prediction IoU table) may be passed in to share it with HOTA.
    """
    classes = np.sort(np.array(gt.evaluated_category_ids, np.int64))
    if len(classes) == 0:
        raise BenchError(f"{gt.path}: no GT box has a category listed in 'categories'; "
                         "nothing to evaluate")
    n_frames = len(gt.image_ids)
    g_frame, p_frame = gt.box_frame, res.box_frame
    g_vid = gt.frame_video[g_frame]
    p_vid = gt.frame_video[p_frame]
    g_trk, _ = _dense_ids(g_vid, gt.box_track)
    p_trk, n_ptrk = _dense_ids(p_vid, res.box_track)
    n_p = len(p_frame)
    if frames is None:
        frames = _frame_pairs(n_frames, g_frame, gt.boxes, p_frame, res.boxes)

    # --- global assignment over all categories (per video) --------------------------------
    over = frames.iou >= OVERLAP_IOU
    kept_trk = np.zeros(n_ptrk, bool)
    kept_trk[p_trk[frames.pi[over]]] = True
    cols = np.flatnonzero(kept_trk[p_trk]) if n_p else np.empty(0, np.int64)
    rows = np.arange(len(g_frame))
    assigned_cat = np.full(n_p, _NONE, np.int64)
    if len(cols):
        m = _cluster_match(rows, g_trk, g_frame, cols, p_trk[cols], p_frame[cols], n_ptrk,
                           lambda grp: grp, frames)
        ok = m.iou >= OVERLAP_IOU - EPS
        assigned_cat[cols[m.col[ok]]] = gt.box_category[rows[m.row[ok]]]

    # --- local clusters: one per (video, evaluated class) --------------------------------
    n_cls = len(classes)
    g_cls = _class_index(classes, gt.box_category)
    n_vid = len(gt.video_ids)
    g_inst = np.where(g_cls >= 0, g_vid * n_cls + g_cls, -1)
    # overlapping (cluster, box): IoU >= 0.5 with a class-c GT box, not assigned to another class
    og, op = frames.gi[over], frames.pi[over]
    c_of = gt.box_category[og]
    valid = (g_inst[og] >= 0) & ((assigned_cat[op] == _NONE) | (assigned_cat[op] == c_of))
    ov_key = np.unique(g_inst[og[valid]] * n_p + op[valid])
    ov_inst, ov_p = ov_key // max(n_p, 1), ov_key % max(n_p, 1)
    # kept (cluster, track) and their member boxes (every box of the track)
    k_key = np.unique(ov_inst * n_ptrk + p_trk[ov_p])
    k_inst, k_trk = k_key // max(n_ptrk, 1), k_key % max(n_ptrk, 1)
    trk_order = np.argsort(p_trk, kind="stable")
    trk_start = np.searchsorted(p_trk[trk_order], np.arange(n_ptrk))
    trk_count = np.bincount(p_trk, minlength=n_ptrk)
    mcount = trk_count[k_trk]
    m_k = np.repeat(np.arange(len(k_key)), mcount)
    local = np.arange(int(mcount.sum())) - np.repeat(np.cumsum(mcount) - mcount, mcount)
    m_p = trk_order[trk_start[k_trk][m_k] + local]
    m_inst = k_inst[m_k]
    o = np.lexsort((m_p, m_inst))
    m_p, m_inst, m_k = m_p[o], m_inst[o], m_k[o]
    m_is_ov = np.isin(m_inst * n_p + m_p, ov_key, assume_unique=False)
    # class GT rows, sorted by (cluster, frame, file order)
    c_rows = np.flatnonzero(g_inst >= 0)
    c_rows = c_rows[np.argsort(g_inst[c_rows], kind="stable")]
    r_inst = g_inst[c_rows]
    r_trk, _ = _dense_ids(r_inst, g_trk[c_rows])

    n_alpha = len(ALPHAS)
    if len(m_p):
        mt = _cluster_match(c_rows, r_trk, r_inst * n_frames + g_frame[c_rows],
                            m_p, m_k, m_inst * n_frames + p_frame[m_p], len(k_key),
                            lambda grp: grp % n_frames, frames)
        m_inst_of = r_inst[mt.row]
        m_cls = m_inst_of % n_cls
        m_pred = m_p[mt.col]
        n_pass = np.searchsorted(_THRESH, mt.iou, side="right")  # matched at alphas[:n_pass]
        m_ov = m_is_ov[mt.col]
        m_pcat = res.box_category[m_pred]
        correct = m_pcat == classes[m_cls]
        m_pcls = _class_index(classes, m_pcat)
    else:
        m_inst_of = m_cls = n_pass = m_pcls = np.empty(0, np.int64)
        m_ov = correct = np.empty(0, bool)

    def at_alpha(idx: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return cumulative_at_alpha(idx, n_pass, n_cls, n_alpha, weights)

    tp = at_alpha(m_cls)
    fn = np.bincount(g_cls[g_cls >= 0], minlength=n_cls).astype(float)[:, None] - tp
    # FP: overlapping boxes of the cluster left unmatched at alpha
    n_ov = np.bincount(ov_inst % n_cls, minlength=n_cls).astype(float)[:, None]
    fp = n_ov - at_alpha(m_cls, m_ov.astype(float))
    # classification at alphas >= 0.5: a wrong label is an FN of the GT class and, if that
    # label is an evaluated class, an FP of it
    s = _CLS_SLOTS
    cls_tp = at_alpha(m_cls, correct.astype(float))[:, s]
    cls_fn = tp[:, s] - cls_tp
    wrong = ~correct & (m_pcls >= 0)
    cls_fp = cumulative_at_alpha(m_pcls[wrong], n_pass[wrong], n_cls, n_alpha)[:, s]

    # association: HOTA's AssA per cluster, then weighted by TP over the videos of a class
    assoc = association(mt.key if len(n_pass) else np.empty(0, np.int64), m_inst_of, n_pass,
                        np.bincount(r_trk, minlength=1)[mt.key_row_trk] if len(n_pass) else None,
                        trk_count[k_trk][mt.key_col_trk] if len(n_pass) else None,
                        n_vid * n_cls, n_cls, n_alpha)
    assoc = {"AssocA": assoc["AssA"], "AssocRe": assoc["AssRe"], "AssocPr": assoc["AssPr"]}

    per_class: dict[int, dict[str, float]] = {}
    fields: dict[str, list] = {f: [] for f in FIELDS}
    for i, cid in enumerate(classes.tolist()):
        loc_re = tp[i] / np.maximum(1, tp[i] + fn[i])
        loc_pr = tp[i] / np.maximum(1, tp[i] + fp[i])
        loc_a = tp[i] / np.maximum(1, tp[i] + fn[i] + fp[i])
        cls_re = np.mean(cls_tp[i] / np.maximum(1, cls_tp[i] + cls_fn[i]))
        cls_pr = np.mean(cls_tp[i] / np.maximum(1, cls_tp[i] + cls_fp[i]))
        cls_a = np.mean(cls_tp[i] / np.maximum(1, cls_tp[i] + cls_fn[i] + cls_fp[i]))
        vals = {"LocA": loc_a, "AssocA": assoc["AssocA"][i], "ClsA": cls_a, "LocRe": loc_re,
                "LocPr": loc_pr, "AssocRe": assoc["AssocRe"][i], "AssocPr": assoc["AssocPr"][i],
                "ClsRe": cls_re, "ClsPr": cls_pr}
        vals["TETA"] = (loc_a + vals["AssocA"] + cls_a) / 3
        per_class[cid] = {f: 100 * float(np.mean(vals[f])) for f in FIELDS}
        if (tp[i] + fn[i] + fp[i] > EPS).any():  # the official ignore_empty rule
            for f in FIELDS:
                fields[f].append(vals[f])
    summary = {f: 100 * float(np.mean(np.mean(fields[f], axis=0))) for f in FIELDS}
    return TetaResult(summary, per_class)


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
    tp_cls = _group_sum(inst_cls, tp_inst, n_cls)
    for name, t in terms.items():
        per_inst = _group_sum(key_inst, t, n_inst) / np.maximum(1, tp_inst)
        out[name] = _group_sum(inst_cls, per_inst * tp_inst, n_cls) / np.maximum(1.0, tp_cls)
    return out


def _group_sum(idx: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Row sums of a (rows, k) array grouped by ``idx`` into (n, k)."""
    return np.stack([np.bincount(idx, weights=values[:, j], minlength=n)
                     for j in range(values.shape[1])], axis=1)


def _class_index(classes: np.ndarray, cats: np.ndarray) -> np.ndarray:
    """Position of each category in the sorted evaluated-class array, or -1."""
    if len(classes) == 0 or len(cats) == 0:
        return np.full(len(cats), -1, np.int64)
    pos = np.minimum(np.searchsorted(classes, cats), len(classes) - 1)
    return np.where(classes[pos] == cats, pos, -1)


def teta(gt: TaoGT, res: TaoResults) -> dict[str, float]:
    """TETA and its nine parts, in percent, class-averaged as the official TAO evaluation."""
    return compute_teta(gt, res).summary


@register_evaluator("ovmot")
def evaluate_files(gt: Path | None, pred: Path, max_dets: int = 0, hota: bool = True,
                   hota_max_dets: int = 300, strict: bool = False, **_: Any) -> dict[str, float]:
    """``bench eval --task ovmot``: TETA and its parts, then HOTA/DetA/AssA, in percent.

    ``max_dets`` is TETA's ``MAX_DETECTIONS`` (official default 0: all results);
    ``hota_max_dets`` TrackEval's (default 300). ``--option hota=false`` skips HOTA.
    """
    import warnings

    if gt is None:
        raise BenchError("ovmot needs --gt: a TAO ground-truth json")
    g = load_tao_gt(gt)
    r = load_tao_results(pred, g)
    if r.n_off_frames and str(strict).lower() in ("1", "true", "yes"):
        raise BenchError(f"{pred}: {r.n_off_frames} of {r.n_read} results are on images without GT boxes "
                         "(--strict refuses them; the official evaluators ignore them)")
    if r.n_off_frames:
        warnings.warn(f"{r.n_off_frames} of {r.n_read} results are on images without GT boxes "
                      "and were ignored, as the official evaluators do", stacklevel=2)
    rt = r.limit_per_image(int(max_dets))
    frames = _frame_pairs(len(g.image_ids), g.box_frame, g.boxes, rt.box_frame, rt.boxes)
    out = compute_teta(g, rt, frames).summary
    if hota:
        from i2vbench.metrics.hota import compute_hota

        rh = r.limit_per_image(int(hota_max_dets))
        out.update(compute_hota(g, rh, frames if rh is rt else None))
    return out
