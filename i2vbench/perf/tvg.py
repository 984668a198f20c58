"""TVG metric speed: our vectorised ``tvg_metrics`` vs the reference's per-query logic.

The input is Charades-STA-test scale (3720 queries × 10 predicted windows). The reference is
UniVTG's ``eval/eval.py`` when it is importable (put a checkout's root on ``$I2VBENCH_UNIVTG``;
it needs scikit-learn); otherwise a faithful per-query re-statement of its ``compute_mr_r1`` /
``compute_mr_r5`` written here, which is also what the tests compare against on random input.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from i2vbench.perf import Case

THRESHOLDS = (0.3, 0.5, 0.7)


def _cross(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    inter = np.clip(np.minimum(p[:, None, 1], g[None, :, 1]) - np.maximum(p[:, None, 0], g[None, :, 0]),
                    0, None)
    union = (p[:, 1] - p[:, 0])[:, None] + (g[:, 1] - g[:, 0])[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / union


def _paired(p: Sequence[float], g: Sequence[float]) -> float:
    inter = max(0.0, min(p[1], g[1]) - max(p[0], g[0]))
    hull = max(p[1], g[1]) - min(p[0], g[0])
    return inter / hull if hull != 0 else 0.0


def per_query_reference(ground_truth: list[dict], submission: list[dict]) -> dict[str, float]:
    """UniVTG's R1/R5/mIoU logic, one query at a time, unrounded (records in its jsonl form)."""
    preds = {d["qid"]: [list(map(float, w[:2])) for w in d["pred_relevant_windows"]] for d in submission}
    iou1, iou5 = [], []
    for d in ground_truth:
        g = np.array(d["relevant_windows"], dtype=float)
        p = preds[d["qid"]]
        top1 = np.array(p[:1])
        j = int(np.argmax(_cross(top1, g)[0]))
        iou1.append(_paired(p[0], g[j]))
        c = _cross(np.array(p[:5]), g)
        c[np.isnan(c)] = 0
        k, j = (int(a[0]) for a in np.where(c == np.max(c)))
        iou5.append(_paired(p[k], g[j]))
    a1, a5 = np.array(iou1), np.array(iou5)
    out = {f"R1@{t}": float(np.mean(a1 >= t) * 100) for t in THRESHOLDS}
    out.update({f"R5@{t}": float(np.mean(a5 >= t) * 100) for t in THRESHOLDS})
    out["mIoU"] = float(np.mean(a1) * 100)
    return out


def _official() -> Any | None:
    """UniVTG's eval module if a checkout is on $I2VBENCH_UNIVTG and importable, else None."""
    root = os.environ.get("I2VBENCH_UNIVTG")
    if not root:
        return None
    sys.path.insert(0, root)
    try:
        return importlib.import_module("eval.eval")
    except Exception:  # missing checkout or its dependencies: time the re-statement instead
        return None
    finally:
        sys.path.remove(root)


def synthetic_charades(n: int = 3720, k: int = 10, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Charades-like GT (one window in a ~30 s video) and k noisy predictions per query."""
    rng = np.random.default_rng(seed)
    dur = rng.uniform(20, 40, n)
    st = np.round(rng.uniform(0, 0.7, n) * dur, 1)
    ed = np.round(np.minimum(st + rng.uniform(2, 12, n), dur), 1)
    noise = rng.normal(0, 3, (n, k, 2))
    ps, pe = np.round(st[:, None] + noise[..., 0], 1), np.round(ed[:, None] + noise[..., 1], 1)
    sc = rng.random((n, k))
    gt = [{"qid": f"test{i}", "relevant_windows": [[float(st[i]), float(ed[i])]]} for i in range(n)]
    sub = [{"qid": f"test{i}", "pred_relevant_windows": np.stack([ps[i], pe[i], sc[i]], 1).tolist()}
           for i in range(n)]
    return gt, sub


def cases(quick: bool) -> list[Case]:
    from i2vbench.metrics.tvg import tvg_metrics

    n = 400 if quick else 3720
    gt, sub = synthetic_charades(n, 10)
    preds = {d["qid"]: np.asarray(d["pred_relevant_windows"]) for d in sub}
    official = _official()
    if official is not None:
        def reference() -> Any:
            return official.compute_mr_r1(sub, gt), official.compute_mr_r5(sub, gt)
        note = "reference: UniVTG eval/eval.py compute_mr_r1 + compute_mr_r5"
    else:
        def reference() -> Any:
            return per_query_reference(gt, sub)
        note = "reference: per-query re-statement of UniVTG's logic (set I2VBENCH_UNIVTG for the real one)"
    return [Case("tvg R1/R5/mIoU (Charades-STA test scale)", f"{n} queries x 10 windows",
                 lambda: tvg_metrics(gt, preds), reference, note)]
