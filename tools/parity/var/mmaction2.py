"""Regenerate the VAR parity literals from mmaction2's ``top_k_accuracy`` and ``mean_class_accuracy``.

    python tools/parity/var/mmaction2.py [--out FILE] [--check]

Run it with a Python where mmaction2 1.2.0 is installed (README.md gives the venv lines); the two
functions are imported from ``mmaction.evaluation``, nothing of them is copied here.

What it writes (``tests/data/var/mmaction2_parity.json``, read by ``tests/test_metrics_var.py``):
for each case the scores and labels (hand-built cases: their values; random cases: their seeded
generator, rebuilt by :func:`scores_and_labels`), and mmaction2's top-k accuracies for k in ``topk`` and its
mean class accuracy, as fractions. The random cases are integer-valued scores from a few levels
(ties between the label's score and others are the rule, so argsort's tie order matters), some with
NaNs sprinkled in, in float32, float64 and int64.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[3] / "tests" / "data" / "var" / "mmaction2_parity.json"


def scores_and_labels(case: dict) -> tuple[np.ndarray, np.ndarray]:
    """The scores and labels of a case record: its values, or its seeded generator."""
    if "scores" in case:
        return np.asarray(case["scores"], dtype=np.float64), np.asarray(case["labels"])
    g = case["generator"]
    rng = np.random.default_rng(g["seed"])
    s = rng.integers(0, g["levels"], size=(g["n"], g["c"])).astype(g["dtype"])
    if g["nan"]:
        s[rng.random(s.shape) < g["nan"]] = np.nan
    return s, rng.integers(0, g["c"], size=g["n"])


def cases() -> dict[str, dict]:
    out: dict[str, dict] = {
        # argsort's order among tied columns: the later column ranks higher
        "ties": {"scores": [[0.5, 0.5, 0.1], [0.2, 0.2, 0.2], [0.1, 0.9, 0.9], [0.3, 0.3, 0.3]],
                 "labels": [0, 2, 1, 0], "topk": [1, 2]},
        # a class only predicted (never true) enters the mean with accuracy 0
        "predicted_only_class": {"scores": [[1.0, 0, 0], [1, 0, 0], [0, 0, 1]], "labels": [0, 1, 1],
                                 "topk": [1, 2]},
        # a label beyond the score columns is a miss at every k
        "label_out_of_range": {"scores": [[0.1, 0.9], [0.8, 0.2]], "labels": [5, 0], "topk": [1, 2]},
        "k_beyond_classes": {"scores": [[0.1, 0.9], [0.8, 0.2]], "labels": [1, 1], "topk": [1, 5]},
    }
    rng = np.random.default_rng(20261201)
    for i in range(420):
        n, c = int(rng.integers(1, 41)), int(rng.integers(1, 31))
        dtype = ("float32", "float64", "int64")[i % 3]
        nan = 0.1 if dtype != "int64" and i % 5 == 1 else 0.0
        g = {"seed": int(rng.integers(2**31)), "n": n, "c": c, "levels": int(rng.integers(1, 5)),
             "dtype": dtype, "nan": nan}
        out[f"random_{i:03d}"] = {"generator": g, "topk": sorted({1, 5, int(rng.integers(1, 13))})}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="also print ours vs the reference")
    args = ap.parse_args()
    import mmaction
    from mmaction.evaluation import mean_class_accuracy, top_k_accuracy  # the official functions

    result: dict = {"reference": {"package": "mmaction2", "version": mmaction.__version__,
                                  "numpy": np.__version__,
                                  "code": "mmaction.evaluation.top_k_accuracy, mean_class_accuracy"},
                    "cases": {}}
    for name, case in cases().items():
        s, y = scores_and_labels(case)
        expected = {"top_k": [float(v) for v in top_k_accuracy(s, y, tuple(case["topk"]))]}
        if y.max() < s.shape[1]:  # mmaction2's confusion matrix refuses labels beyond the columns
            expected["mean_class_accuracy"] = float(mean_class_accuracy(s, y))
        result["cases"][name] = {**case, "expected": expected}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} ({len(result['cases'])} cases)")
    if args.check:
        check(result)


def check(result: dict) -> None:
    from i2vbench.metrics.var import mean_class_accuracy, top_k_accuracy

    worst = 0.0
    for name, case in result["cases"].items():
        (s, y), ref = scores_and_labels(case), case["expected"]
        ours = {"top_k": top_k_accuracy(s, y, tuple(case["topk"]))}
        diffs = [abs(a - b) for a, b in zip(ours["top_k"], ref["top_k"], strict=True)]
        if "mean_class_accuracy" in ref:
            ours["mean_class_accuracy"] = mean_class_accuracy(s, y)
            diffs.append(abs(ours["mean_class_accuracy"] - ref["mean_class_accuracy"]))
        worst = max(worst, *diffs)
        if not name.startswith("random"):
            print(f"{name:22s} ours {ours}  mmaction2 {ref}")
    print(f"{len(result['cases'])} cases; largest |ours - reference| = {worst:.2e}", file=sys.stdout)


if __name__ == "__main__":
    main()
