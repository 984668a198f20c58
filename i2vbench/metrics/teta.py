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

import numpy as np

from i2vbench.datasets.tao import TaoGT, TaoResults, load_tao_gt, load_tao_results
from i2vbench.errors import BenchError
from i2vbench.metrics.evaluate import register_evaluator
from i2vbench.metrics.tao_matching import (
    EPS,
    Frames,
    association,
    class_index,
    cluster_match,
    cumulative_at_alpha,
    dense_ids,
    frame_pairs,
)

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


def compute_teta(gt: TaoGT, res: TaoResults, frames: Frames | None = None) -> TetaResult:
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
    g_trk, _ = dense_ids(g_vid, gt.box_track)
    p_trk, n_ptrk = dense_ids(p_vid, res.box_track)
    n_p = len(p_frame)
    if frames is None:
        frames = frame_pairs(n_frames, g_frame, gt.boxes, p_frame, res.boxes)

    # --- global assignment over all categories (per video) --------------------------------
    over = frames.iou >= OVERLAP_IOU
    kept_trk = np.zeros(n_ptrk, bool)
    kept_trk[p_trk[frames.pi[over]]] = True
    cols = np.flatnonzero(kept_trk[p_trk]) if n_p else np.empty(0, np.int64)
    rows = np.arange(len(g_frame))
    assigned_cat = np.full(n_p, _NONE, np.int64)
    if len(cols):
        m = cluster_match(rows, g_trk, g_frame, cols, p_trk[cols], p_frame[cols], n_ptrk,
                           lambda grp: grp, frames)
        ok = m.iou >= OVERLAP_IOU - EPS
        assigned_cat[cols[m.col[ok]]] = gt.box_category[rows[m.row[ok]]]

    # --- local clusters: one per (video, evaluated class) --------------------------------
    n_cls = len(classes)
    g_cls = class_index(classes, gt.box_category)
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
    r_trk, _ = dense_ids(r_inst, g_trk[c_rows])

    n_alpha = len(ALPHAS)
    if len(m_p):
        mt = cluster_match(c_rows, r_trk, r_inst * n_frames + g_frame[c_rows],
                            m_p, m_k, m_inst * n_frames + p_frame[m_p], len(k_key),
                            lambda grp: grp % n_frames, frames)
        m_inst_of = r_inst[mt.row]
        m_cls = m_inst_of % n_cls
        m_pred = m_p[mt.col]
        n_pass = np.searchsorted(_THRESH, mt.iou, side="right")  # matched at alphas[:n_pass]
        m_ov = m_is_ov[mt.col]
        m_pcat = res.box_category[m_pred]
        correct = m_pcat == classes[m_cls]
        m_pcls = class_index(classes, m_pcat)
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


SUBSET_FIELDS = ("TETA", "LocA", "AssocA", "ClsA")


def ov_class_split(gt: TaoGT) -> dict[str, list[int]]:
    """OVTrack's open-vocabulary split of the GT's categories: ``novel`` are LVIS-rare
    (``frequency == "r"``), ``base`` the others ("c", "f"), exactly as OVTrack's
    ``TaoDataset.evaluate`` builds its base and novel name sets. Categories without a
    ``frequency`` are in neither (a file without the field has no split)."""
    out: dict[str, list[int]] = {"base": [], "novel": []}
    for c in gt.categories:
        freq = c.get("frequency")
        if freq is not None:
            out["novel" if freq == "r" else "base"].append(int(c["id"]))
    return out


def subset_summary(result: TetaResult, class_ids: list[int] | set[int]) -> dict[str, float] | None:
    """TETA fields averaged over the evaluated classes among ``class_ids``, in percent.

    OVTrack's ``compute_teta_on_ovsetup``: one evaluation over all classes (the global
    assignment sees every category), then the per-class rows of the subset's classes averaged.
    Over all evaluated classes this is the full summary (evaluated classes have GT boxes, so none
    is dropped as empty). ``None`` when no class of the subset is evaluated (OVTrack prints
    "No Novel classes to evaluate!").
    """
    rows = [result.per_class[c] for c in sorted(set(class_ids)) if c in result.per_class]
    if not rows:
        return None
    return {f: float(np.mean([r[f] for r in rows])) for f in FIELDS}


def ov_subsets(gt: TaoGT, result: TetaResult) -> dict[str, float]:
    """``base/<field>`` and ``novel/<field>`` (TETA, LocA, AssocA, ClsA) as OVTrack reports them."""
    out = {}
    for name, ids in ov_class_split(gt).items():
        summary = subset_summary(result, ids)
        if summary is not None:
            out.update({f"{name}/{f}": summary[f] for f in SUBSET_FIELDS})
    return out


def teta(gt: TaoGT, res: TaoResults) -> dict[str, float]:
    """TETA and its nine parts, in percent, class-averaged as the official TAO evaluation."""
    return compute_teta(gt, res).summary


@register_evaluator("ovmot", keys=(*FIELDS, "HOTA", "DetA", "AssA",
                                   *(f"{s}/{f}" for s in ("base", "novel") for f in SUBSET_FIELDS)))
def evaluate_files(gt: Path | None, pred: Path, max_dets: int = 0, hota: bool = True,
                   hota_max_dets: int = 300, strict: bool = False) -> dict[str, float]:
    """``bench eval --task ovmot``: TETA and its parts, then HOTA/DetA/AssA, in percent.

    ``max_dets`` is TETA's ``MAX_DETECTIONS`` (official default 0: all results);
    ``hota_max_dets`` TrackEval's (default 300). ``--option hota=false`` skips HOTA. When the
    categories carry LVIS' ``frequency``, ``base/*`` and ``novel/*`` add TETA, LocA, AssocA and
    ClsA on each side of OVTrack's split (:func:`ov_subsets`).
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
    frames = frame_pairs(len(g.image_ids), g.box_frame, g.boxes, rt.box_frame, rt.boxes)
    result = compute_teta(g, rt, frames)
    out = {**result.summary, **ov_subsets(g, result)}
    if hota:
        from i2vbench.metrics.hota import compute_hota

        rh = r.limit_per_image(int(hota_max_dets))
        out.update(compute_hota(g, rh, frames if rh is rt else None))
    return out
