"""HOTA / DetA / AssA on TAO, as the ``trackeval`` package's TAO dataset computes them.

Agrees with ``trackeval`` 1.3.0 (``trackeval.datasets.TAO`` defaults + ``trackeval.metrics.HOTA``,
class-averaged ``cls_comb_cls_av``) to 1e-6, vectorised over all boxes like our TETA instead of
looping over every class of every video. TrackEval's TAO rules, per video and evaluated class c:

* at most 300 results per image (``MAX_DETECTIONS``), the highest scores;
* the GT rows are the class-c GT boxes, the predictions the boxes *labelled* c;
* in a frame without class-c GT, predictions of c are dropped unless c is in the video's
  ``neg_category_ids`` (then they are false positives) and not in its
  ``not_exhaustive_category_ids``;
* if c is in the video's ``not_exhaustive_category_ids``, predictions not matched (Hungarian on
  IoU, IoU >= 0.5) to a class-c GT box of their frame are dropped;
* HOTA (Luiten et al. 2020) over the rest: alphas 0.05..0.95, global alignment + per-frame
  Hungarian, HOTA = sqrt(DetA * AssA) per alpha; per class summed over videos, then averaged
  over all evaluated classes, then over alphas.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from i2vbench.datasets.tao import TaoGT, TaoResults, load_tao_gt, load_tao_results
from i2vbench.metrics.tao_matching import (
    EPS,
    Frames,
    association,
    block_pairs,
    class_index,
    cluster_match,
    cumulative_at_alpha,
    dense_ids,
    frame_pairs,
    runs,
)

HOTA_ALPHAS = np.arange(0.05, 0.99, 0.05)
_THRESH = HOTA_ALPHAS - EPS
TRACKEVAL_MAX_DETS = 300  # trackeval's TAO default MAX_DETECTIONS
HOTA_FIELDS = ("HOTA", "DetA", "AssA")


def _id_matrix(gt: TaoGT, lists: dict[int, list[int]], classes: np.ndarray) -> np.ndarray:
    """(videos, classes) bool: class listed for the video in ``lists`` (neg / not exhaustive)."""
    out = np.zeros((len(gt.video_ids), len(classes)), bool)
    for v, vid in enumerate(gt.video_ids.tolist()):
        ids = np.array(lists.get(vid, []), np.int64)
        out[v] = np.isin(classes, ids)
    return out


def compute_hota(gt: TaoGT, res: TaoResults, frames: Frames | None = None) -> dict[str, float]:
    """HOTA, DetA, AssA in percent (``res`` already limited to 300 results per image)."""
    from scipy.optimize import linear_sum_assignment

    classes = np.sort(np.array(gt.evaluated_category_ids, np.int64))
    n_cls, n_vid, n_frames = len(classes), len(gt.video_ids), len(gt.image_ids)
    g_frame, p_frame = gt.box_frame, res.box_frame
    if frames is None:
        frames = frame_pairs(n_frames, g_frame, gt.boxes, p_frame, res.boxes)
    g_vid, p_vid = gt.frame_video[g_frame], gt.frame_video[p_frame]
    g_cls = class_index(classes, gt.box_category)
    p_cls = class_index(classes, res.box_category)
    g_inst = np.where(g_cls >= 0, g_vid * n_cls + g_cls, -1)
    p_inst = np.where(p_cls >= 0, p_vid * n_cls + p_cls, -1)

    # class-c GT rows and class-c predictions, both sorted by (cluster, frame, file order)
    rows = np.flatnonzero(g_inst >= 0)
    rows = rows[np.argsort(g_inst[rows], kind="stable")]
    r_grp = g_inst[rows] * n_frames + g_frame[rows]
    cols = np.flatnonzero(p_inst >= 0)
    cols = cols[np.argsort(p_inst[cols], kind="stable")]
    c_grp = p_inst[cols] * n_frames + p_frame[cols]
    has_gt = np.isin(c_grp, r_grp)
    neg = _id_matrix(gt, gt.neg_category_ids, classes).ravel()
    nexh = _id_matrix(gt, gt.not_exhaustive_category_ids, classes).ravel()
    # TrackEval's order of rules: no GT and not negative -> drop; else not exhaustive -> drop the
    # unmatched (all of them in a frame without GT); else keep
    keep = has_gt | (neg[p_inst[cols]] & ~nexh[p_inst[cols]])
    # not exhaustively labelled: drop predictions the IoU >= 0.5 Hungarian leaves unmatched
    check = has_gt & nexh[p_inst[cols]]
    if check.any():
        rs, rn, rkey = runs(r_grp)
        sub = np.flatnonzero(check)
        cs, cn, ckey = runs(c_grp[sub])
        _, ri, ci = np.intersect1d(rkey, ckey, assume_unique=True, return_indices=True)
        r, c, off = block_pairs(rs[ri], rn[ri], cs[ci], cn[ci])
        iou = frames.lookup(rows[r], cols[sub[c]], ckey[ci][np.repeat(np.arange(len(ci)),
                                                                        rn[ri] * cn[ci])] % n_frames)
        score = np.where(iou < 0.5 - EPS, 0.0, iou)
        matched = np.zeros(len(sub), bool)
        for b, (o, nr, nc) in enumerate(zip(off[:-1].tolist(), rn[ri].tolist(), cn[ci].tolist(),
                                            strict=True)):
            s = score[o:o + nr * nc].reshape(nr, nc)
            mr, mc = linear_sum_assignment(-s)
            hit = s[mr, mc] > EPS
            matched[cs[ci[b]] + mc[hit]] = True
        keep[sub[~matched]] = False
    cols, c_grp = cols[keep], c_grp[keep]

    c_inst = c_grp // n_frames
    p_trk_all, _ = dense_ids(p_vid, res.box_track)
    c_trk, n_ctrk = dense_ids(c_inst, p_trk_all[cols])
    g_trk_all, _ = dense_ids(g_vid, gt.box_track)
    r_trk, _ = dense_ids(g_inst[rows], g_trk_all[rows])
    n_alpha = len(HOTA_ALPHAS)
    n_inst = n_vid * n_cls
    if len(cols) and len(rows):
        m = cluster_match(rows, r_trk, r_grp, cols, c_trk, c_grp, n_ctrk,
                           lambda grp: grp % n_frames, frames)
        n_pass = np.searchsorted(_THRESH, m.iou, side="right")
        m_inst = r_grp[m.row] // n_frames
        assoc = association(m.key, m_inst, n_pass, np.bincount(r_trk)[m.key_row_trk],
                            np.bincount(c_trk, minlength=n_ctrk)[m.key_col_trk],
                            n_inst, n_cls, n_alpha)
        tp = cumulative_at_alpha(m_inst % n_cls, n_pass, n_cls, n_alpha)
    else:
        assoc = {"AssA": np.zeros((n_cls, n_alpha))}
        tp = np.zeros((n_cls, n_alpha))
    n_gt = np.bincount(g_cls[g_cls >= 0], minlength=n_cls).astype(float)[:, None]
    n_pr = np.bincount(c_inst % n_cls, minlength=n_cls).astype(float)[:, None]
    fn, fp = n_gt - tp, n_pr - tp
    det_a = tp / np.maximum(1, tp + fn + fp)
    ass_a = assoc["AssA"]
    hota = np.sqrt(det_a * ass_a)
    return {"HOTA": 100 * float(np.mean(np.mean(hota, axis=0))),
            "DetA": 100 * float(np.mean(np.mean(det_a, axis=0))),
            "AssA": 100 * float(np.mean(np.mean(ass_a, axis=0)))}


def hota(gt: TaoGT, res: TaoResults, max_dets: int = TRACKEVAL_MAX_DETS) -> dict[str, float]:
    """HOTA, DetA, AssA (percent) with TrackEval's TAO defaults."""
    return compute_hota(gt, res.limit_per_image(max_dets))


def hota_files(gt: str | Path, pred: str | Path, max_dets: int = TRACKEVAL_MAX_DETS
               ) -> dict[str, float]:
    g = load_tao_gt(gt)
    return hota(g, load_tao_results(pred, g), max_dets)
