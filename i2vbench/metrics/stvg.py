"""STVG metrics with TubeDETR parity: m_vIoU, vIoU@0.3, vIoU@0.5 and m_tIoU (VidSTG).

Definitions, as in TubeDETR ``datasets/vidstg_eval.py`` (antoyang/TubeDETR d70c0ee) with its
defaults (5 fps sampling, at most 200 frames, ``tmp_loc=True``):

* frames: the sampled frames of the used segment (:func:`~i2vbench.datasets.vidstg.sample_frames`);
  GT frames are the sampled frames with ``tube_start <= f < tube_end``.
* tIoU: on the raw ``[start, end)`` frame numbers of the predicted and GT moments (not on sampled
  frames); 0 when ``min(end) <= max(start)``.
* vIoU: the sum, over GT frames inside the predicted moment, of the IoU between the **first**
  predicted box and the GT box, divided by the number of sampled frames in the **hull**
  ``[min(start), max(end))`` of the two moments (TubeDETR's "union", which also counts the gap
  between disjoint moments), at least 1. Frames with a prediction but no GT box only enlarge the
  denominator; box predictions outside the GT moment are never read.
* vIoU@R counts queries with vIoU **> R** (strict), m_* are means over queries; everything is
  reported in percent, over all queries and per question type (``declarative/...``).

Where TubeDETR crashes we decide (documented, tested): an empty ``boxes`` list scores IoU 0
(TubeDETR: IndexError); two zero-area boxes score IoU 0 (TubeDETR: nan). A predicted ``qtype`` must
match the GT one (TubeDETR trusts the prediction's). Missing predictions are an error unless
``allow_missing``, which scores a missing moment as tIoU = vIoU = 0 and a missing box as IoU 0.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from i2vbench.datasets.vidstg import (
    DEFAULT_FPS,
    DEFAULT_MAX_LEN,
    QTYPES,
    VidSTGAnnotations,
    gt_boxes,
    load_vidstg,
    sample_frames,
)
from i2vbench.errors import BenchError, where
from i2vbench.io import read_json
from i2vbench.metrics.evaluate import register_evaluator

THRESHOLDS = (0.3, 0.5)


def box_iou_aligned(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``a[i]`` with ``b[i]`` (xyxy, pixels, no +1), TubeDETR's ``np_box_iou`` formula.

    A pair whose union is 0 (two zero-area boxes) scores 0 instead of TubeDETR's nan.
    """
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    wh = np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0, None)
    inter = wh[:, 0] * wh[:, 1]
    union = area_a + area_b - inter
    out = np.zeros(len(a), np.float64)
    np.divide(inter, union, out=out, where=union != 0)
    return out


def temporal_iou(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """tIoU of ``[start, end)`` moments, row by row (``(n, 2)`` arrays), 0 when they do not overlap."""
    max_start = np.maximum(gt[:, 0], pred[:, 0])
    min_end = np.minimum(gt[:, 1], pred[:, 1])
    inter = min_end - max_start
    union = (gt[:, 1] - gt[:, 0]) + (pred[:, 1] - pred[:, 0]) - inter
    out = np.zeros(len(gt), np.float64)
    np.divide(inter, union, out=out, where=min_end > max_start)
    return out


@dataclass
class STVGScores:
    """Per-query scores (fractions in [0, 1]); ``missing`` counts what ``allow_missing`` scored as 0."""

    tiou: np.ndarray
    viou: np.ndarray
    gt_viou: np.ndarray  # mean IoU over GT frames regardless of the predicted moment (TubeDETR's gt_viou)
    qtypes: np.ndarray
    missing_moments: int = 0
    missing_boxes: int = 0


def score_queries(gt_sted: np.ndarray, pred_sted: np.ndarray, frames: np.ndarray, offsets: np.ndarray,
                  gt_index: np.ndarray, gt_iou: np.ndarray, qtypes: np.ndarray,
                  has_pred: np.ndarray | None = None) -> STVGScores:
    """Per-query tIoU and vIoU, vectorised over all frames of all queries.

    ``frames``/``offsets``: sampled frames per query; ``gt_index`` indexes ``frames`` at GT frames
    and ``gt_iou`` holds the box IoU there; ``has_pred`` (default all True) marks queries with a
    predicted moment (the others score 0).
    """
    n = len(gt_sted)
    gt_sted = np.asarray(gt_sted, np.float64).reshape(n, 2)
    pred_sted = np.asarray(pred_sted, np.float64).reshape(n, 2)
    has = np.ones(n, bool) if has_pred is None else np.asarray(has_pred, bool)
    q = np.repeat(np.arange(n), np.diff(offsets))
    f = frames.astype(np.float64)
    lo = np.minimum(gt_sted[:, 0], pred_sted[:, 0])
    hi = np.maximum(gt_sted[:, 1], pred_sted[:, 1])
    in_hull = (lo[q] <= f) & (f < hi[q])
    hull = np.bincount(q, weights=in_hull, minlength=n)
    gq = q[gt_index]
    gf = f[gt_index]
    in_pred = (np.maximum(gt_sted[gq, 0], pred_sted[gq, 0]) <= gf) & (gf < np.minimum(gt_sted[gq, 1], pred_sted[gq, 1]))
    viou = np.bincount(gq, weights=np.where(in_pred, gt_iou, 0.0), minlength=n) / np.maximum(hull, 1)
    n_gt = np.bincount(gq, minlength=n)
    gt_viou = np.bincount(gq, weights=gt_iou, minlength=n) / np.maximum(n_gt, 1)
    tiou = temporal_iou(gt_sted, pred_sted)
    tiou[~has] = 0.0
    viou[~has] = 0.0
    return STVGScores(tiou, viou, gt_viou, np.asarray(qtypes))


def summarize(scores: STVGScores, thresholds: tuple[float, ...] = THRESHOLDS) -> dict[str, float]:
    """Means over queries, in percent: overall, then per question type present (TubeDETR's order)."""
    out: dict[str, float] = {}
    groups: list[tuple[str, np.ndarray]] = [("", np.ones(len(scores.tiou), bool))]
    groups += [(f"{t}/", scores.qtypes == t) for t in QTYPES if np.any(scores.qtypes == t)]
    for prefix, m in groups:
        if not m.any():
            continue
        viou = scores.viou[m]
        out[f"{prefix}m_vIoU"] = 100.0 * float(np.mean(viou))
        for t in thresholds:
            out[f"{prefix}vIoU@{t:g}"] = 100.0 * float(np.mean(viou > t))
        out[f"{prefix}m_tIoU"] = 100.0 * float(np.mean(scores.tiou[m]))
    return out


@dataclass
class STVGPredictions:
    """Parsed prediction file: moments per query id and the first box per ``"<query>_<frame>"``."""

    path: Path
    steds: dict[str, tuple[float, float]]
    qtypes: dict[str, str]
    boxes: dict[str, Any]  # image_id -> list of boxes (validated lazily, only where scored)


def load_predictions(path: str | Path) -> STVGPredictions:
    """Read ``{"videos": [{video_id, sted, qtype}], "boxes": [{image_id, boxes}]}``.

    This is TubeDETR's evaluator input with its two dicts written as lists: ``videos`` is its
    ``video_predictions`` (``{video_id: {sted, qtype}}``) and ``boxes`` its ``predictions``
    (``{"<video_id>_<frame>": {"boxes": [[x1, y1, x2, y2], ...]}}``, pixels of the original video;
    only the first box of a frame is scored). A dict in either place is accepted as is.
    """
    p = Path(path)
    data = read_json(p, "STVG prediction json")
    if not isinstance(data, dict) or "videos" not in data:
        raise BenchError(f"{p}: expected {{\"videos\": [{{video_id, sted, qtype}}], "
                         "\"boxes\": [{image_id, boxes}]}")
    videos = data["videos"]
    if isinstance(videos, dict):
        videos = [{"video_id": k, **v} if isinstance(v, dict) else v for k, v in videos.items()]
    if not isinstance(videos, list):
        raise BenchError(f"{where(p, key='videos')}: expected a list of {{video_id, sted, qtype}}")
    steds: dict[str, tuple[float, float]] = {}
    qtypes: dict[str, str] = {}
    for i, v in enumerate(videos):
        key = f"videos[{i}]"
        if not isinstance(v, dict) or "video_id" not in v or "sted" not in v:
            raise BenchError(f"{where(p, key=key)}: expected {{video_id, sted: [start, end_exclusive], qtype}}")
        vid = str(v["video_id"])
        sted = v["sted"]
        if (not isinstance(sted, (list, tuple)) or len(sted) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in sted)):
            raise BenchError(f"{where(p, key=f'{key}.sted')}: expected [start, end_exclusive] frame numbers, "
                             f"got {sted!r}")
        if vid in steds:
            raise BenchError(f"{where(p, key=f'{key}.video_id')}: duplicate prediction for video {vid!r}")
        steds[vid] = (float(sted[0]), float(sted[1]))
        if "qtype" in v:
            qtypes[vid] = v["qtype"]
    boxes = raw_boxes = data.get("boxes", [])
    if isinstance(boxes, dict):
        boxes = {str(k): (b.get("boxes") if isinstance(b, dict) else b) for k, b in boxes.items()}
    elif isinstance(boxes, list):
        try:
            boxes = dict(zip(map(str, map(itemgetter("image_id"), boxes)), map(itemgetter("boxes"), boxes),
                             strict=True))
        except (TypeError, KeyError):
            bad = next(i for i, b in enumerate(boxes) if not (isinstance(b, dict) and "image_id" in b and "boxes" in b))
            raise BenchError(f"{where(p, key=f'boxes[{bad}]')}: expected {{image_id: \"<video_id>_<frame>\", "
                             "boxes: [[x1, y1, x2, y2]]}") from None
        if len(boxes) != len(raw_boxes):
            raise BenchError(f"{where(p, key='boxes')}: an image_id appears more than once")
    else:
        raise BenchError(f"{where(p, key='boxes')}: expected a list of {{image_id, boxes}}")
    return STVGPredictions(p, steds, qtypes, boxes)


def _first_boxes(pred: STVGPredictions, image_ids: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First predicted box per image id: ``(boxes (n, 4), present, empty)``; malformed → BenchError."""
    n = len(image_ids)
    vals = list(map(pred.boxes.get, image_ids))
    try:  # fast path: every frame has a well-formed list of boxes
        arr = np.array([v[0] for v in vals])
        fast = arr.shape == (n, 4) and arr.dtype.kind in "iuf"
    except (TypeError, IndexError, KeyError, ValueError):
        fast = False
    if fast:
        out = arr.astype(np.float64)
        present, empty = np.ones(n, bool), np.zeros(n, bool)
        rows = np.arange(n)
    else:
        out = np.zeros((n, 4), np.float64)
        present = np.array([v is not None for v in vals], bool)
        empty = np.array([isinstance(v, list) and len(v) == 0 for v in vals], bool)
        rows = np.flatnonzero(present & ~empty)
        for i in rows.tolist():
            b = vals[i]
            first = b[0] if isinstance(b, list) and isinstance(b[0], list) else None
            if first is None or len(first) != 4 or not all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in first):
                raise BenchError(f"{where(pred.path, key=f'boxes[{image_ids[i]!r}]')}: expected "
                                 f"[[x1, y1, x2, y2], ...] with 4 finite numbers per box, got {b!r}")
            out[i] = first
    sub = out[rows]
    if not np.isfinite(sub).all():
        bad = int(rows[np.argmax(~np.isfinite(sub).all(1))])
        raise BenchError(f"{where(pred.path, key=f'boxes[{image_ids[bad]!r}]')}: expected [[x1, y1, x2, y2], ...] "
                         f"with 4 finite numbers per box, got {vals[bad]!r}")
    reversed_ = (sub[:, 2] < sub[:, 0]) | (sub[:, 3] < sub[:, 1])
    if reversed_.any():
        bad = int(rows[np.argmax(reversed_)])
        raise BenchError(f"{where(pred.path, key=f'boxes[{image_ids[bad]!r}]')}: expected x1 <= x2 and "
                         f"y1 <= y2 (xyxy pixels), got {vals[bad]!r}")
    return out, present, empty


def _list_some(items: list[str], k: int = 5) -> str:
    return ", ".join(repr(x) for x in items[:k]) + (f", ... ({len(items)} in all)" if len(items) > k else "")


def evaluate_stvg(gt: VidSTGAnnotations, pred: STVGPredictions, *, allow_missing: bool = False,
                  sample_fps: float = DEFAULT_FPS, video_max_len: int = DEFAULT_MAX_LEN) -> STVGScores:
    """Score every GT query; box metrics need ``gt.has_boxes`` (else vIoU is left at 0)."""
    index = gt.index()
    unknown = [v for v in pred.steds if v not in index]
    if unknown:
        raise BenchError(f"{pred.path}: predictions for video ids not in {gt.path}: {_list_some(unknown)}")
    wrong_q = [v for v, t in pred.qtypes.items() if t != gt.qtypes[index[v]]]
    if wrong_q:
        v = wrong_q[0]
        raise BenchError(f"{where(pred.path, key=f'videos[video_id={v!r}].qtype')}: {pred.qtypes[v]!r} but "
                         f"{gt.path} says {gt.qtypes[index[v]]!r} ({len(wrong_q)} such)")
    n = len(gt)
    has = np.array([v in pred.steds for v in gt.video_ids], bool)
    missing_moments = int(n - has.sum())
    if missing_moments and not allow_missing:
        miss = [v for v, h in zip(gt.video_ids, has, strict=True) if not h]
        raise BenchError(f"{pred.path}: no predicted moment (videos[].sted) for {missing_moments} GT queries of "
                         f"{gt.path}: {_list_some(miss)}; use --allow-missing to score them as 0")
    pred_sted = np.array([pred.steds.get(v, (0.0, 0.0)) for v in gt.video_ids], np.float64).reshape(n, 2)
    gt_sted = np.stack([gt.tube_start, gt.tube_end], 1).astype(np.float64)
    if np.any(gt.fps < sample_fps):
        i = int(np.argmax(gt.fps < sample_fps))
        raise BenchError(f"{where(gt.path, key=f'video {gt.video_ids[i]!r}')}: fps {gt.fps[i]} is below the "
                         f"sampling rate {sample_fps} (TubeDETR only downsamples)")
    frames, offsets = sample_frames(gt.start_frame, gt.end_frame, gt.fps, sample_fps, video_max_len)
    missing_boxes = 0
    if gt.has_boxes:
        gt_index, gt_box = gt_boxes(gt, frames, offsets)
        q = np.repeat(np.arange(n), np.diff(offsets))[gt_index]
        ids = [f"{gt.video_ids[i]}_{f}" for i, f in zip(q.tolist(), frames[gt_index].tolist(), strict=True)]
        pbox, present, empty = _first_boxes(pred, ids)
        need = present | ~has[q]  # queries without a moment score 0 anyway: their boxes are not required
        if not need.all():
            miss = [ids[i] for i in np.flatnonzero(~need)]
            missing_boxes = len(miss)
            if not allow_missing:
                raise BenchError(f"{pred.path}: no predicted box for {len(miss)} sampled GT frames "
                                 f"(boxes[].image_id \"<video_id>_<frame>\"): {_list_some(miss)}; "
                                 "use --allow-missing to score them as IoU 0")
        iou = box_iou_aligned(pbox, gt_box)
        iou[~present | empty] = 0.0
    else:
        gt_index, iou = np.zeros(0, np.int64), np.zeros(0, np.float64)
    scores = score_queries(gt_sted, pred_sted, frames, offsets, gt_index, iou, gt.qtypes, has)
    scores.missing_moments, scores.missing_boxes = missing_moments, missing_boxes
    return scores


@register_evaluator("stvg", keys=tuple(f"{p}{k}" for p in ("", "declarative/", "interrogative/")
                                      for k in ("m_vIoU", "vIoU@0.3", "vIoU@0.5", "m_tIoU")) + ("n_missing",))
def evaluate_files(gt: Path, pred: Path, *, allow_missing: bool = False, trajectories: str | Path | None = None,
                   sample_fps: float = DEFAULT_FPS, video_max_len: int = DEFAULT_MAX_LEN) -> dict[str, float]:
    """``bench eval --task stvg``: TubeDETR-parity metrics in percent (see the module docstring).

    ``trajectories`` (``--option trajectories=PATH``: a VidOR annotation folder or TubeDETR's
    ``vidor_*.json``) gives boxes to the original VidSTG json; without them only m_tIoU can be
    scored and the vIoU metrics are left out, with a warning.
    """
    allow = allow_missing if isinstance(allow_missing, bool) else str(allow_missing).lower() in ("1", "true", "yes")
    ann = load_vidstg(gt, trajectories=trajectories)
    if len(ann) == 0:
        raise BenchError(f"{gt}: no VidSTG queries")
    preds = load_predictions(pred)
    scores = evaluate_stvg(ann, preds, allow_missing=allow, sample_fps=float(sample_fps),
                           video_max_len=int(video_max_len))
    out = summarize(scores)
    if not ann.has_boxes:
        out = {k: v for k, v in out.items() if k.endswith("m_tIoU")}
        warnings.warn(f"{gt} has no boxes (original VidSTG json): only m_tIoU is scored; add "
                      "--option trajectories=VIDOR_ANNOTATIONS for the vIoU metrics", stacklevel=2)
    if scores.missing_moments or scores.missing_boxes:
        warnings.warn(f"{pred}: {scores.missing_moments} of {len(ann)} queries have no predicted moment and "
                      f"{scores.missing_boxes} sampled GT frames no box; scored as 0", stacklevel=2)
    return out
