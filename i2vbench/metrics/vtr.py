"""Video-text retrieval: R@1/5/10, R@sum, MdR, MnR with CLIP4Clip's ``compute_metrics`` semantics.

Reference: ArrowLuo/CLIP4Clip ``metrics.py`` (commit 508ffa3), ``compute_metrics(x)`` on the
texts × videos similarity matrix for text→video and on its transpose for video→text. What it
does, and so what we do:

* the rank of row ``i`` is the position of ``x[i, i]`` in the row sorted by descending
  similarity, 0-based; R@K = % of ranks ``< K``; MdR = median rank + 1; MnR = mean rank + 1.
* **ties**: it finds the diagonal value in the sorted row with ``np.where(sorted - d == 0)``,
  so a diagonal tied with ``t`` other entries yields ``t + 1`` ranks (every position of the tie
  block), and *all* of them enter the averages, whose denominator is the number of such ranks
  (not the number of rows). All-equal rows thus count as ranks 0..n-1.
* a row whose diagonal is NaN or ±inf yields no rank at all (``inf - inf`` is NaN) and silently
  drops out; the file evaluator refuses such input instead (a NaN similarity is a bug upstream).
* R@sum = R@1 + R@5 + R@10 is our addition (the survey's column); CLIP4Clip does not print it.

We get the same ranks without sorting: position of the tie block = number of strictly greater
entries, block length = number of equal entries — two vectorised comparisons, O(n·m).
Only square matrices are accepted by the evaluator: CLIP4Clip's single-sentence path needs
text i ↔ video i for both directions; its multi-sentence path (padded 3-D tensors) is not
covered here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from i2vbench.errors import BenchError
from i2vbench.metrics.evaluate import register_evaluator

KS = (1, 5, 10)


def diagonal_ranks(sim: np.ndarray) -> np.ndarray:
    """0-based ranks of each row's diagonal entry, one per tie-block position (CLIP4Clip's ``ind``)."""
    x = np.asarray(sim)
    if x.ndim != 2:
        raise ValueError(f"similarity matrix must be 2-D, got shape {x.shape}")
    if x.shape[0] > x.shape[1]:  # the reference fails to broadcast here too
        raise ValueError(f"more rows than columns ({x.shape}): rows past the diagonal have no match")
    d = np.diagonal(x)[:, None]
    greater = np.count_nonzero(x > d, axis=1)
    equal = np.count_nonzero(x == d, axis=1)
    equal[~np.isfinite(d[:, 0])] = 0  # reference: inf - inf is NaN, so no match in that row
    if np.all(equal == 1):  # no ties: one rank per row
        return greater.astype(np.int64)
    total = int(equal.sum())
    starts = np.repeat(np.cumsum(equal) - equal, equal)
    return np.repeat(greater, equal).astype(np.int64) + (np.arange(total) - starts)


def rank_metrics(ranks: np.ndarray, ks: tuple[int, ...] = KS) -> dict[str, float]:
    """R@K in percent, R@sum over ``ks``, MdR and MnR (rank + 1) from 0-based ranks."""
    r = np.asarray(ranks)
    if r.size == 0:
        raise BenchError("no rankable rows: the similarity matrix is empty or its diagonal is not finite")
    out = {f"R@{k}": float(np.count_nonzero(r < k)) * 100 / r.size for k in ks}
    out["R@sum"] = float(sum(out[f"R@{k}"] for k in ks))
    out["MdR"] = float(np.median(r)) + 1
    out["MnR"] = float(np.mean(r)) + 1
    return out


def retrieval_metrics(sim: np.ndarray) -> dict[str, float]:
    """``t2v/...`` from the texts × videos matrix and ``v2t/...`` from its transpose."""
    x = np.asarray(sim)
    out: dict[str, float] = {}
    for prefix, m in (("t2v", x), ("v2t", x.T)):
        out.update({f"{prefix}/{k}": v for k, v in rank_metrics(diagonal_ranks(m)).items()})
    return out


def read_score_matrix(path: Path, what: str) -> np.ndarray:
    """A 2-D numeric array from ``.npy`` (never unpickled) or ``.json`` (list of rows)."""
    from i2vbench.io import load_npy, read_json, require_file

    p = require_file(path, what)
    if p.suffix == ".npy":
        a = load_npy(p, what)
    elif p.suffix == ".json":
        data = read_json(p, what)
        if not isinstance(data, list) or not all(
                isinstance(r, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in r)
                for r in data):
            raise BenchError(f"{p}: expected a JSON list of equal-length lists of numbers")
        try:
            a = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise BenchError(f"{p}: expected a JSON list of equal-length lists of numbers") from None
    else:
        raise BenchError(f"{p}: expected a .npy or .json {what}, got suffix {p.suffix!r}")
    if a.ndim != 2 or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise BenchError(f"{p}: expected a 2-D numeric array, got shape {a.shape} dtype {a.dtype}")
    return a


def _check_gt(gt: Path | None, n: int, pred: Path) -> None:
    """Optional GT: a CLIP4Clip-style csv (one sentence per row, text i ↔ video i); check its size."""
    if gt is None or str(gt) in ("", "-"):
        return
    from i2vbench.datasets.msrvtt import load_retrieval_csv

    pairs = load_retrieval_csv(gt)
    if len(pairs) != n:
        raise BenchError(f"{pred}: similarity matrix is {n}×{n} but {gt} lists {len(pairs)} text-video pairs")


@register_evaluator("vtr", keys=tuple(f"{d}/{k}" for d in ("t2v", "v2t")
                                      for k in ("R@1", "R@5", "R@10", "R@sum", "MdR", "MnR")))
def evaluate_files(gt: Path | None, pred: Path) -> dict[str, float]:
    """Score a texts × videos similarity matrix; ``gt`` (optional) is the pair list it was built from."""
    sim = read_score_matrix(pred, "similarity matrix")
    n, m = sim.shape
    if n != m or n == 0:
        raise BenchError(f"{pred}: expected a square, non-empty texts × videos similarity matrix "
                         f"(text i matches video i), got shape {sim.shape}")
    if np.issubdtype(sim.dtype, np.floating):
        nan = np.argwhere(np.isnan(sim))
        if len(nan):
            i, j = nan[0]
            raise BenchError(f"{pred}: similarity [{i}, {j}] is NaN ({len(nan)} NaN entries)")
        bad = np.flatnonzero(~np.isfinite(np.diagonal(sim)))
        if len(bad):
            raise BenchError(f"{pred}: diagonal similarity [{bad[0]}, {bad[0]}] is infinite; "
                             "the matching pair must have a finite score")
    _check_gt(gt, n, pred)
    return retrieval_metrics(sim)
