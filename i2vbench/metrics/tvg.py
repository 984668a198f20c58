"""Temporal video grounding metrics: R1/R5 at IoU 0.3/0.5/0.7 and mIoU, with UniVTG parity.

The reference is UniVTG's ``eval/eval.py`` (``compute_mr_r1``, ``compute_mr_r5``; showlab/UniVTG
at 32659ac), i.e. the moment_detr standalone evaluator extended with mIoU and R5. What it does,
and therefore what this module does (each point is pinned by a test):

* **Rank is list order.** The top-1 window is ``pred_relevant_windows[0]`` and the top-5 are the
  first five entries; the score (third column) is never looked at. Sort before writing if needed.
* **IoU** of the scored pair is ``max(0, min(e1, e2) - max(s1, s2)) / (max(e1, e2) - min(s1, s2))``
  (0 where that denominator is 0): the hull, not the union, which equals the usual IoU for
  well-formed windows and gives 0 for any inverted window. Nothing is clipped to the video;
  inverted predictions are not swapped.
* **Several GT windows:** R1 picks the GT window with the highest ``inter / (len1 + len2 - inter)``
  (first on ties; a 0/0 = NaN there is picked first, as ``np.argmax`` does, and then scores 0) and
  scores the top-1 window against it. R5 picks the first (prediction-major) pair of the ≤5
  predictions × GT windows with the highest such IoU (NaN counted as 0), and scores that pair.
* **Threshold test is** ``iou >= t``. **mIoU** is the mean of the R1 IoU over queries.
* **Fewer than 5 predictions:** R5 uses those there are. A query with no prediction (an empty
  list, or missing with ``allow_missing``) scores IoU 0; the reference crashes on the former and
  asserts on the latter.
* **Percent, unrounded.** The reference prints ``float(f"{100 * x:.2f}")``; we return ``100 * x``
  (see :func:`round_like_reference`).

**MR-mAP** (:func:`mr_map_metrics`; in ``bench eval`` by default) is moment_detr's ``compute_mr_ap``
(``standalone_eval/eval.py`` + ``utils.py``, jayleicn/moment_detr at b7e553a), which UniVTG
copies. Per query: the first 10 windows *in list order* (``max_pred_windows=10``), then sorted by
score, best first (Python's stable sort: ties keep list order); greedy matching at each IoU
threshold ``0.5, 0.55, ..., 0.95``: a prediction takes the unmatched GT window of highest
``inter / (len1 + len2 - inter)`` IoU (GT windows visited in ``argsort()[::-1]`` order; the walk
stops at the first window under the threshold, and a NaN IoU, 0/0, is never under it); AP is
VOC-2011 interpolated (precision made monotone from the right, summed at every recall change,
the recall ending at 1 with precision 0). ``MR-mAP`` is the mean over thresholds of the mean over
queries; ``MR-mAP@0.5`` / ``@0.75`` its columns. The window-length breakdown (``MR-short-mAP``,
``MR-middle-mAP``, ``MR-long-mAP``) keeps, per query, only the GT windows of length in
``(0, 10]``, ``(10, 30]``, ``(30, 150]`` seconds (queries with none left drop out; predictions
are not filtered) and recomputes the mAP; ``full`` (``[0, 150]``) is every query, unfiltered. A
range with no query is left out of the result (the reference crashes on it). Windows without a
score (two columns) cannot be ranked: mAP is then refused.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from i2vbench.errors import BenchError, where
from i2vbench.io import atomic_write_text, iter_jsonl
from i2vbench.metrics.evaluate import register_evaluator

THRESHOLDS = (0.3, 0.5, 0.7)
METRIC_NAMES = tuple(f"R{k}@{t}" for k in (1, 5) for t in THRESHOLDS) + ("mIoU",)
MAP_THRESHOLDS = tuple(float(f"{t:.2f}") for t in np.linspace(0.5, 0.95, 10))  # as the reference rounds them
MAP_MAX_PRED = 10  # moment_detr's max_pred_windows: the first 10 windows in list order
# moment_detr's length ranges (seconds), (lo, hi]: "full" is special-cased there as "no filter"
LENGTH_RANGES = {"short": (0.0, 10.0), "middle": (10.0, 30.0), "long": (30.0, 150.0)}
MAP_NAMES = ("MR-mAP", "MR-mAP@0.5", "MR-mAP@0.75", "MR-short-mAP", "MR-middle-mAP", "MR-long-mAP")


def _gt_windows(m: Any) -> Sequence[Sequence[float]]:
    if isinstance(m, Mapping):
        return m["relevant_windows"]
    wins = getattr(m, "windows", None)
    return wins if wins else ((m.start, m.end),)


def _qid(m: Any) -> str:
    return str(m["qid"] if isinstance(m, Mapping) else m.qid)


def _as_windows(x: Any) -> np.ndarray:
    """A prediction list as a float (k, >=2) array; an empty list gives (0, 2)."""
    a = np.asarray(x, dtype=float)
    if a.size == 0:
        return np.zeros((0, 2))
    if a.ndim != 2 or a.shape[1] < 2:
        raise BenchError(f"prediction windows must be (k, 2) or (k, 3) [start, end, score], got shape {a.shape}")
    return a


def _pad(rows: list[np.ndarray], width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack ragged (n_i, >=2) arrays into start/end (Q, width) arrays plus a validity mask."""
    q = len(rows)
    counts = np.fromiter((min(len(r), width) for r in rows), dtype=np.int64, count=q)
    st = np.zeros((q, width))
    ed = np.zeros((q, width))
    valid = np.arange(width)[None, :] < counts[:, None]
    if counts.sum():
        flat = np.concatenate([r[:width, :2] for r in rows if len(r)], axis=0).astype(float)
        st[valid], ed[valid] = flat[:, 0], flat[:, 1]
    return st, ed, valid


def _cross_iou(ps: np.ndarray, pe: np.ndarray, gs: np.ndarray, ge: np.ndarray) -> np.ndarray:
    """``inter / (len_p + len_g - inter)`` for broadcast windows: the GT-selection IoU of the reference."""
    inter = np.clip(np.minimum(pe, ge) - np.maximum(ps, gs), 0, None)
    union = (pe - ps) + (ge - gs) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / union


def _hull_iou(ps: np.ndarray, pe: np.ndarray, gs: np.ndarray, ge: np.ndarray) -> np.ndarray:
    """``inter / (max end - min start)``, 0 where that is 0: the IoU the reference thresholds."""
    inter = np.maximum(0, np.minimum(pe, ge) - np.maximum(ps, gs))
    hull = np.maximum(pe, ge) - np.minimum(ps, gs)
    return np.divide(inter, hull, out=np.zeros_like(inter), where=hull != 0)


def query_ious(gt: Sequence[Any], preds: Mapping[str, Any], allow_missing: bool = False
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per-query (R1 IoU, R5 IoU) in GT order; the two arrays every TVG number is averaged from."""
    qids = [_qid(m) for m in gt]
    if any(not isinstance(k, str) for k in preds):
        preds = {str(k): v for k, v in preds.items()}  # qids compare as text, as in the files
    missing = [q for q in qids if q not in preds]
    if missing and not allow_missing:
        raise BenchError(f"no prediction for {len(missing)} of {len(qids)} queries "
                         f"(first: {', '.join(missing[:5])})")
    prow = [_as_windows(preds[q]) if q in preds else np.zeros((0, 2)) for q in qids]
    grow = [np.asarray(_gt_windows(m), dtype=float).reshape(-1, 2) for m in gt]
    if any(len(g) == 0 for g in grow):
        bad = next(q for q, g in zip(qids, grow, strict=True) if len(g) == 0)
        raise BenchError(f"query {bad!r} has no ground-truth window")
    gmax = max((len(g) for g in grow), default=1)
    gs, ge, gvalid = _pad(grow, gmax)
    ps, pe, pvalid = _pad(prow, 5)
    has_pred = pvalid[:, 0]

    # R1: top-1 window vs the GT window of highest cross IoU (np.argmax: first max, NaN wins).
    cross1 = _cross_iou(ps[:, :1], pe[:, :1], gs, ge)  # (Q, G)
    cross1[~gvalid] = -np.inf
    g1 = np.argmax(cross1, axis=1)
    rows = np.arange(len(qids))
    iou1 = _hull_iou(ps[:, 0], pe[:, 0], gs[rows, g1], ge[rows, g1])
    iou1[~has_pred] = 0.0

    # R5: first (prediction-major) pair of highest cross IoU among <=5 predictions x GT windows.
    cross5 = _cross_iou(ps[:, :, None], pe[:, :, None], gs[:, None, :], ge[:, None, :])  # (Q, 5, G)
    cross5[np.isnan(cross5)] = 0.0
    cross5[~(pvalid[:, :, None] & gvalid[:, None, :])] = -np.inf
    flat = np.argmax(cross5.reshape(len(qids), -1), axis=1)
    k5, g5 = np.divmod(flat, gmax)
    iou5 = _hull_iou(ps[rows, k5], pe[rows, k5], gs[rows, g5], ge[rows, g5])
    iou5[~has_pred] = 0.0
    return iou1, iou5


def tvg_metrics(gt: Sequence[Any], preds: Mapping[str, Any], allow_missing: bool = False
                ) -> dict[str, float]:
    """R1@{0.3,0.5,0.7}, R5@{0.3,0.5,0.7} and mIoU in percent, as UniVTG's evaluator computes them.

    ``gt``: Moment-like records (``qid`` and ``windows`` or ``start``/``end``; or dicts with
    ``qid``/``relevant_windows``). ``preds``: qid → array-like (k, 3) ``[start, end, score]`` rows
    in rank order (a (k, 2) array works too: the score is not used). Averages run over ``gt``.
    """
    if not len(gt):
        raise BenchError("no ground-truth queries to score")
    iou1, iou5 = query_ious(gt, preds, allow_missing)
    out: dict[str, float] = {}
    for k, iou in (("R1", iou1), ("R5", iou5)):
        for t in THRESHOLDS:
            out[f"{k}@{t}"] = float(np.mean(iou >= t) * 100)
    out["mIoU"] = float(np.mean(iou1) * 100)
    return out


def _query_ap(gwin: np.ndarray, pwin: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """moment_detr's ``compute_average_precision_detection`` for the queries of one GT count.

    ``gwin``: (Q, G, 2) GT windows; ``pwin``: (Q, K, 3) predictions already cut to 10, sorted by
    score and padded with NaN rows (a padded row is neither TP nor FP). Returns (Q, T) AP. The
    greedy matching runs over the K ranks (at most 10), vectorised over queries and thresholds.
    """
    q, g = gwin.shape[:2]
    k = pwin.shape[1]
    t = len(thresholds)
    real = ~np.isnan(pwin[:, :, 0])  # (Q, K)
    locked = np.zeros((q, t, g), dtype=bool)
    tp = np.zeros((q, t, k))
    rows = np.arange(q)[:, None]
    for j in range(k):
        iou = _cross_iou(pwin[:, j, None, 0], pwin[:, j, None, 1], gwin[:, :, 0], gwin[:, :, 1])  # (Q, G)
        order = np.argsort(iou, axis=1)[:, ::-1]  # the reference's tiou_arr.argsort()[::-1], row by row
        iou_sorted = iou[rows, order]  # (Q, G), NaN first
        passes = ~(iou_sorted[:, None, :] < thresholds[None, :, None])  # (Q, T, G): NaN passes
        passes = np.logical_and.accumulate(passes, axis=2)  # the walk stops at the first miss
        free = ~np.take_along_axis(locked, np.broadcast_to(order[:, None, :], (q, t, g)), axis=2)
        cand = passes & free & real[:, j, None, None]
        hit = cand.any(axis=2)  # (Q, T)
        first = np.argmax(cand, axis=2)  # position in sorted order
        gidx = np.take_along_axis(np.broadcast_to(order[:, None, :], (q, t, g)), first[:, :, None], axis=2)[:, :, 0]
        qi, ti = np.nonzero(hit)
        locked[qi, ti, gidx[qi, ti]] = True
        tp[:, :, j] = hit
    fp = real[:, None, :] & (tp == 0)
    tp_c = np.cumsum(tp, axis=2)
    fp_c = np.cumsum(fp, axis=2)
    recall = tp_c / float(g)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp_c / (tp_c + fp_c)
    # padded ranks repeat the last real rank's recall/precision: no recall change, no new maximum
    n_real = real.sum(axis=1)
    last = np.maximum(n_real - 1, 0)
    pad = ~real[:, None, :]
    recall = np.where(pad, np.take_along_axis(recall, np.broadcast_to(last[:, None, None], (q, t, 1)), 2), recall)
    precision = np.where(pad, np.take_along_axis(precision, np.broadcast_to(last[:, None, None], (q, t, 1)), 2),
                         precision)
    mprec = np.concatenate([np.zeros((q, t, 1)), precision, np.zeros((q, t, 1))], axis=2)
    mrec = np.concatenate([np.zeros((q, t, 1)), recall, np.ones((q, t, 1))], axis=2)
    mprec = np.maximum.accumulate(mprec[:, :, ::-1], axis=2)[:, :, ::-1]
    step = mrec[:, :, 1:] - mrec[:, :, :-1]
    ap = np.sum(np.where(step != 0, step * mprec[:, :, 1:], 0.0), axis=2)
    ap[n_real == 0] = 0.0
    return ap


def _map(grow: list[np.ndarray], prow: list[np.ndarray]) -> np.ndarray:
    """Mean over queries of the per-threshold AP, (T,): queries grouped by their GT window count so
    that every argsort sees exactly the reference's row (no padding among GT windows)."""
    th = np.asarray(MAP_THRESHOLDS)
    total = np.zeros(len(th))
    by_g: dict[int, list[int]] = {}
    for i, gw in enumerate(grow):
        by_g.setdefault(len(gw), []).append(i)
    for g, idx in by_g.items():
        preds = [prow[i] for i in idx]
        kmax = max((len(p) for p in preds), default=0)
        pw = np.full((len(idx), max(kmax, 1), 3), np.nan)
        for r, p in enumerate(preds):
            pw[r, : len(p)] = p
        gw = np.stack([grow[i] for i in idx]).reshape(len(idx), g, 2)
        total += _query_ap(gw, pw, th).sum(axis=0)
    return total / len(grow)


def _ranked_for_map(p: np.ndarray) -> np.ndarray:
    """The first 10 windows in list order, then by score, best first (stable: ties keep order)."""
    p = p[:MAP_MAX_PRED]
    return p[np.argsort(-p[:, 2], kind="stable")]


def mr_map_metrics(gt: Sequence[Any], preds: Mapping[str, Any], allow_missing: bool = False) -> dict[str, float]:
    """moment_detr's MR-mAP (average over IoU 0.5:0.95, @0.5, @0.75) and its length breakdown, percent.

    ``preds``: qid → (k, 3) ``[start, end, score]`` rows in list order (see the module docstring).
    A query without a prediction (``allow_missing``) has AP 0. Ranges without a query are left out.
    """
    if not len(gt):
        raise BenchError("no ground-truth queries to score")
    qids = [_qid(m) for m in gt]
    if any(not isinstance(k, str) for k in preds):
        preds = {str(k): v for k, v in preds.items()}
    missing = [q for q in qids if q not in preds]
    if missing and not allow_missing:
        raise BenchError(f"no prediction for {len(missing)} of {len(qids)} queries "
                         f"(first: {', '.join(missing[:5])})")
    prow = []
    for q in qids:
        p = _as_windows(preds[q]) if q in preds else np.zeros((0, 3))
        if len(p) and (p.shape[1] < 3 or np.isnan(p[:MAP_MAX_PRED, 2]).any()):
            raise BenchError(f"query {q!r}: MR-mAP ranks windows by score; every window needs "
                             "[start, end, score]")
        prow.append(_ranked_for_map(p[:, :3]) if len(p) else np.zeros((0, 3)))
    grow = [np.asarray(_gt_windows(m), dtype=float).reshape(-1, 2) for m in gt]
    bad = next((q for q, g in zip(qids, grow, strict=True) if len(g) == 0), None)
    if bad is not None:
        raise BenchError(f"query {bad!r} has no ground-truth window")
    full = _map(grow, prow)
    out = {"MR-mAP": float(np.mean(full) * 100),
           "MR-mAP@0.5": float(full[MAP_THRESHOLDS.index(0.5)] * 100),
           "MR-mAP@0.75": float(full[MAP_THRESHOLDS.index(0.75)] * 100)}
    for name, (lo, hi) in LENGTH_RANGES.items():
        keep_g, keep_p = [], []
        for g, p in zip(grow, prow, strict=True):
            length = g[:, 1] - g[:, 0]
            inside = g[(lo < length) & (length <= hi)]
            if len(inside):
                keep_g.append(inside)
                keep_p.append(p)
        if keep_g:
            out[f"MR-{name}-mAP"] = float(np.mean(_map(keep_g, keep_p)) * 100)
    return out


def round_like_reference(metrics: Mapping[str, float]) -> dict[str, float]:
    """The 2-decimal values UniVTG prints: ``float(f"{v:.2f}")``."""
    return {k: float(f"{v:.2f}") for k, v in metrics.items()}


def load_predictions_jsonl(path: str | Path) -> dict[str, np.ndarray]:
    """qid → (k, 3) array ``[start, end, score]`` (score NaN where a window has only 2 numbers)."""
    p = Path(path)
    out: dict[str, np.ndarray] = {}
    first_line: dict[str, int] = {}
    for n, rec in iter_jsonl(p, "TVG prediction file"):
        if "qid" not in rec or "pred_relevant_windows" not in rec:
            raise BenchError(f"{where(p, n)}: expected keys 'qid' and 'pred_relevant_windows'")
        qid = str(rec["qid"])
        if qid in first_line:
            raise BenchError(f"{where(p, n)}: duplicate prediction for qid {qid!r} "
                             f"(first on line {first_line[qid]})")
        first_line[qid] = n
        wins = rec["pred_relevant_windows"]
        if not isinstance(wins, list):
            raise BenchError(f"{where(p, n)}: 'pred_relevant_windows' must be a list of "
                             "[start, end, score]")
        arr = np.full((len(wins), 3), np.nan)
        for i, w in enumerate(wins):
            if (not isinstance(w, list) or len(w) not in (2, 3)
                    or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in w)
                    or not all(math.isfinite(x) for x in w[:2])):
                raise BenchError(f"{where(p, n)}: qid {qid!r}: window {i} must be [start, end, score] "
                                 f"with finite numbers, got {w!r}")
            arr[i, : len(w)] = w
        out[qid] = arr
    return out


def write_predictions_jsonl(path: str | Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write moment_detr-format predictions atomically; windows are sorted by score, best first.

    Each row needs ``qid`` and ``pred_relevant_windows`` ((k, 3) array-like); other keys (``vid``,
    ``query``) pass through. Sorting here matters because the metric ranks by list order.
    """
    lines = []
    for r in rows:
        w = np.asarray(r["pred_relevant_windows"], dtype=float).reshape(-1, 3)
        w = w[np.argsort(-w[:, 2], kind="stable")]
        rec = {k: v for k, v in r.items() if k != "pred_relevant_windows"}
        rec["pred_relevant_windows"] = [[round(float(x), 4) for x in row] for row in w]
        lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
    return atomic_write_text(path, "".join(lines))


def _check_ids(gt: Sequence[Any], preds: Mapping[str, Any], pred_path: Path, allow_missing: bool) -> None:
    gt_ids = {_qid(m) for m in gt}
    unknown = [q for q in preds if q not in gt_ids]
    if unknown:
        raise BenchError(f"{pred_path}: {len(unknown)} prediction(s) for qids not in the ground truth "
                         f"(first: {', '.join(unknown[:5])})")
    missing = [_qid(m) for m in gt if _qid(m) not in preds]
    if missing and not allow_missing:
        raise BenchError(f"{pred_path}: no prediction for {len(missing)} of {len(gt_ids)} queries "
                         f"(first: {', '.join(missing[:5])}); pass --allow-missing to score them as misses")
    if missing:
        warnings.warn(f"{pred_path}: {len(missing)} of {len(gt_ids)} queries have no prediction; "
                      "scored as misses (IoU 0)", stacklevel=3)


def _has_scores(preds: Mapping[str, np.ndarray]) -> bool:
    return all(len(p) == 0 or (p.shape[1] >= 3 and not np.isnan(p[:MAP_MAX_PRED, 2]).any())
               for p in preds.values())


@register_evaluator("tvg", keys=("R1@0.3", "R1@0.5", "R1@0.7", "R5@0.3", "R5@0.5", "R5@0.7", "mIoU", "MR-*",
                                 "n_missing"))
def evaluate_files(gt: Path, pred: Path, durations: str | Path | None = None,
                   allow_missing: bool = False, mr_map: bool = True) -> dict[str, float]:
    """``bench eval --task tvg``: GT = Charades-STA txt (+ ``durations`` csv/json) or moment jsonl.

    R1/R5/mIoU, then moment_detr's MR-mAP and its length breakdown (``--option mr_map=false``
    leaves them out; predictions without scores leave them out with a warning).
    """
    from i2vbench.datasets.charades_sta import load_tvg_gt

    moments = load_tvg_gt(gt, durations)
    if not moments:
        raise BenchError(f"{gt}: no ground-truth queries")
    preds = load_predictions_jsonl(pred)
    allow = _flag(allow_missing)
    _check_ids(moments, preds, Path(pred), allow)
    out = tvg_metrics(moments, preds, allow_missing=True)
    if _flag(mr_map):
        if _has_scores(preds):
            out.update(mr_map_metrics(moments, preds, allow_missing=True))
        else:
            warnings.warn(f"{pred}: some windows have no score ([start, end] only): MR-mAP needs "
                          "[start, end, score] to rank them and is left out", stacklevel=2)
    return out


def _flag(value: object) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
