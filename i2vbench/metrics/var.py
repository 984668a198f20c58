"""Video action recognition: Top-1, Top-5 and mean class accuracy with mmaction2's semantics.

Reference: mmaction2 1.2.0 ``mmaction/evaluation/functional/accuracy.py``:

* ``top_k_accuracy``: the top k of a row are ``np.argsort(scores)[:, -k:]`` — numpy's default
  (unstable) argsort, so which of several *tied* scores make the cut at the k-th place is
  whatever that sort leaves last. We reproduce that exactly: a row is a hit when fewer than
  k scores are ≥ the label's score would not do, so rows are split three ways — strictly more
  than k-1 larger scores: miss; at most k scores ≥ the label's: hit; otherwise (a tie block
  straddling place k, or NaN in the row) the row goes through the same ``np.argsort`` call
  as the reference. Labels outside ``[0, C)`` never match (a miss), as in the reference.
* ``mean_class_accuracy``: predictions are ``argmax`` (first maximum); the classes averaged over
  are the union of true and *predicted* labels, and a class that is predicted but never true
  counts as accuracy 0 in the mean.

The pure functions return fractions like the reference; :func:`var_metrics` and ``bench eval``
report percent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from i2vbench.errors import BenchError
from i2vbench.metrics.evaluate import register_evaluator


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s, y = np.asarray(scores), np.asarray(labels)
    if s.ndim != 2 or y.ndim != 1 or len(s) != len(y):
        raise ValueError(f"need scores N×C and labels N, got {s.shape} and {y.shape}")
    if len(y) == 0:
        raise ValueError("no samples to score")
    return s, y.astype(np.int64, copy=False)


def topk_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per-sample hit (bool) of mmaction2's top-k rule, ties resolved by the same argsort."""
    s, y = _check(scores, labels)
    n, c = s.shape
    valid = (y >= 0) & (y < c)
    hit = np.zeros(n, dtype=bool)
    rows = np.flatnonzero(valid)
    if rows.size == 0:
        return hit
    ls = s[rows, y[rows]][:, None]
    sub = s[rows]
    greater = np.count_nonzero(sub > ls, axis=1)
    geq = np.count_nonzero(sub >= ls, axis=1)
    ambiguous = (greater < k) & (geq > k)
    if np.issubdtype(s.dtype, np.floating):
        ambiguous |= np.isnan(sub).any(axis=1)
    hit[rows] = (geq <= k) & ~ambiguous
    amb = rows[ambiguous]
    if amb.size:
        top = np.argsort(s[amb], axis=1)[:, -k:]
        hit[amb] = (top == y[amb, None]).any(axis=1)
    return hit


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray, topk: tuple[int, ...] = (1,)) -> list[float]:
    """Fraction of samples whose label is among mmaction2's top k, for each k."""
    s, y = _check(scores, labels)
    return [float(np.count_nonzero(topk_hits(s, y, k))) / len(y) for k in topk]


def mean_class_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the union of true and predicted classes of per-class recall (0 if never true)."""
    s, y = _check(scores, labels)
    if y.min() < 0:
        raise ValueError("labels must be non-negative")
    pred = np.argmax(s, axis=1)
    size = int(max(pred.max(), y.max())) + 1
    cnt = np.bincount(y, minlength=size)
    hit = np.bincount(y[pred == y], minlength=size)
    present = (cnt > 0) | (np.bincount(pred, minlength=size) > 0)
    acc = np.divide(hit, cnt, out=np.zeros(size), where=cnt > 0)
    return float(np.mean(acc[present]))


def var_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Top-1, Top-5 and mean_class_accuracy in percent."""
    top1, top5 = top_k_accuracy(scores, labels, (1, 5))
    return {"Top-1": top1 * 100, "Top-5": top5 * 100,
            "mean_class_accuracy": mean_class_accuracy(scores, labels) * 100}


# ---------------------------------------------------------------------------------------- files

MAX_CLASSES = 1 << 20  # a label beyond this is an error in the file, not a class (K400: 400, SSv2: 174)


def load_labels(gt: Path, label_map: str | Path | None = None) -> tuple[list[str] | None, np.ndarray]:
    """``(clip ids or None, labels)`` from a labels .npy/.json, a Kinetics csv or an SSv2 json."""
    from i2vbench.io import load_npy, read_json, require_file

    p = require_file(gt, "labels file")
    if p.suffix == ".csv":
        from i2vbench.datasets.kinetics import load_kinetics_csv

        k = load_kinetics_csv(p, label_map)
        return k.ids, k.labels
    if p.suffix == ".npy":
        y = load_npy(p, "labels")
        ids = None
    elif p.suffix == ".json":
        data = read_json(p, "labels json")
        if isinstance(data, list) and data and isinstance(data[0], dict):
            from i2vbench.datasets.ssv2 import load_ssv2_json

            v = load_ssv2_json(p, label_map)
            return v.ids, v.labels
        if isinstance(data, dict):
            ids, data = [str(k) for k in data], list(data.values())
        elif isinstance(data, list):
            ids = None
        else:
            raise BenchError(f"{p}: expected a JSON list of labels or {{clip_id: label}}, got {type(data).__name__}")
        bad = next((i for i, v in enumerate(data)
                    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < MAX_CLASSES), None)
        if bad is not None:
            key = ids[bad] if ids else f"[{bad}]"
            shown = repr(data[bad]) if len(repr(data[bad])) < 40 else repr(data[bad])[:37] + "..."
            raise BenchError(f"{p} [{key}]: label {shown} is not an integer class index "
                             f"(0 <= label < {MAX_CLASSES})")
        y = np.asarray(data, dtype=np.int64)
    else:
        raise BenchError(f"{p}: expected labels as .npy, .json, a Kinetics .csv or an SSv2 .json")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise BenchError(f"{p}: expected a 1-D integer array of labels, got shape {y.shape} dtype {y.dtype}")
    return ids, y.astype(np.int64)


def load_scores(pred: Path, ids: list[str] | None) -> np.ndarray:
    """N × C scores in GT order: a .npy/.json matrix, or a json ``{clip_id: [C scores]}``."""
    from i2vbench.io import read_json
    from i2vbench.metrics.vtr import read_score_matrix

    if pred.suffix == ".json":
        data = read_json(pred, "scores json")
        if isinstance(data, dict):
            if ids is None:
                raise BenchError(f"{pred}: scores keyed by clip id need a GT file with ids "
                                 "(Kinetics csv, SSv2 json or a {id: label} json)")
            unknown = next((k for k in data if k not in set(ids)), None)
            if unknown is not None:
                raise BenchError(f"{pred} [{unknown}]: clip id not in the ground truth")
            missing = [i for i in ids if i not in data]
            if missing:
                raise BenchError(f"{pred}: no scores for {len(missing)} GT clips, e.g. {missing[0]!r}")
            bad = next((i for i in ids if not isinstance(data[i], list) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in data[i])), None)
            if bad is not None:  # numpy would read "1" as 1.0: numbers as strings are refused
                raise BenchError(f"{pred} [{bad}]: expected a list of numbers (not strings)")
            try:
                return np.asarray([data[i] for i in ids], dtype=np.float64)
            except (TypeError, ValueError, OverflowError):
                raise BenchError(f"{pred}: every clip needs a list of C numbers") from None
    return read_score_matrix(pred, "scores")


@register_evaluator("var", keys=("Top-1", "Top-5", "mean_class_accuracy"))
def evaluate_files(gt: Path, pred: Path, label_map: str | Path | None = None) -> dict[str, float]:
    """Score N × C class scores against labels (row i of the scores is GT item i)."""
    ids, labels = load_labels(gt, label_map)
    scores = load_scores(pred, ids)
    if scores.ndim != 2 or scores.shape[0] != len(labels):
        raise BenchError(f"{pred}: {scores.shape[0]} rows of scores for {len(labels)} GT clips in {gt}")
    if len(labels) == 0:
        raise BenchError(f"{gt}: no labelled clips")
    c = scores.shape[1]
    bad = np.flatnonzero((labels < 0) | (labels >= c))
    if bad.size:
        where_ = ids[bad[0]] if ids else f"[{bad[0]}]"
        raise BenchError(f"{gt} {where_}: label {labels[bad[0]]} outside the {c} score columns of {pred}")
    if np.issubdtype(scores.dtype, np.floating) and np.isnan(scores).any():
        i = int(np.argwhere(np.isnan(scores))[0][0])
        raise BenchError(f"{pred}: NaN score in row {i}" + (f" (clip {ids[i]})" if ids else ""))
    return var_metrics(scores, labels)
