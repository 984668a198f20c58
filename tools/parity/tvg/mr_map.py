"""Regenerate the MR-mAP parity literals from moment_detr's own ``standalone_eval``.

    python tools/parity/tvg/mr_map.py --moment-detr /path/to/moment_detr [--out FILE] [--check]

``--moment-detr`` is a checkout of jayleicn/moment_detr at the commit in README.md (it is put on
``sys.path`` and its ``standalone_eval`` package imported; nothing of it is copied here). Needs
numpy and scikit-learn (``standalone_eval/utils.py`` imports it).

What it writes (``tests/data/tvg/mr_map_parity.json`` by default): the hand-built and random cases
of :func:`cases` with, for each, the reference's MR-mAP numbers *unrounded*. The reference rounds
inside ``compute_mr_ap`` (``float(f"{100 * v:.2f}")``); to read it to 1e-8 without touching its
code, the per-query AP function it calls is wrapped to return AP x 1e6, so the 2-decimal rounding
falls 6 digits further down, and the harness divides by 1e6 (the average over queries and
thresholds is linear). When the checkout has ``standalone_eval/sample_val_preds.jsonl`` and
``data/highlight_val_release.jsonl``, it also records the reference's rounded ``eval_submission``
brief on that published sample and the unrounded values (only numbers, not the files).
``--check`` also prints ours vs the reference and the largest absolute difference.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

SCALE = 1e6
RANGES = {"short": [0, 10], "middle": [10, 30], "long": [30, 150], "full": [0, 150]}
OUT = Path(__file__).resolve().parents[3] / "tests" / "data" / "tvg" / "mr_map_parity.json"


def cases() -> dict[str, tuple[list[dict], list[dict]]]:
    """(ground truth, submission) in moment_detr's record form, one case per detail of the metric."""
    def case(rows):
        gt = [{"qid": q, "relevant_windows": g} for q, g, _ in rows]
        sub = [{"qid": q, "pred_relevant_windows": p} for q, _, p in rows]
        return gt, sub

    out = {
        # ties in score keep list order (stable sort); the 11th window is cut before sorting
        "score_ties_and_top10_cut": case([
            ("a", [[0, 10]], [[20, 30, 0.5], [0, 10, 0.5], [0, 9, 0.5]]),
            ("b", [[0, 10]], [[40, 50, 0.9]] * 10 + [[0, 10, 1.0]]),
            ("c", [[0, 10]], [[40, 50, 0.1]] * 9 + [[0, 10, 1.0], [0, 10, 2.0]]),
        ]),
        # one GT window matched once per threshold; a second hit is a false positive
        "greedy_matching": case([
            ("a", [[0, 10], [20, 30]], [[0, 10, 0.9], [0, 10, 0.8], [20, 29, 0.7], [21, 30, 0.6]]),
            ("b", [[0, 10], [0, 10]], [[0, 10, 0.9], [1, 10, 0.8], [0, 6, 0.7]]),
            ("c", [[0, 4], [2, 6], [4, 8]], [[2, 6, 0.9], [1, 5, 0.8], [3, 7, 0.7], [0, 8, 0.6]]),
        ]),
        # IoU at the thresholds (>= passes), inverted and zero-length windows (NaN IoU never fails)
        "thresholds_and_degenerate": case([
            ("a", [[0, 10]], [[0, 5, 0.9], [0, 7.5, 0.8], [0, 9.5, 0.7]]),
            ("b", [[5, 5]], [[5, 5, 0.9], [4, 6, 0.8]]),
            ("c", [[8, 2], [2, 8]], [[8, 2, 0.9], [2, 8, 0.5]]),
            ("d", [[0, 1]], [[0.45, 1.0, 0.3], [0.7, 1.0, 0.2]]),
        ]),
        # window lengths on the range borders 10, 30, 150; a query whose windows straddle ranges
        "length_ranges": case([
            ("a", [[0, 10]], [[0, 10, 0.9]]),
            ("b", [[0, 10.5]], [[0, 10, 0.9]]),
            ("c", [[0, 30]], [[0, 20, 0.9], [0, 30, 0.1]]),
            ("d", [[0, 150]], [[0, 150, 0.9]]),
            ("e", [[0, 4], [10, 50]], [[10, 50, 0.9], [0, 4, 0.8]]),
            ("f", [[0, 2], [40, 46], [100, 140]], [[40, 46, 0.4], [100, 140, 0.9], [0, 1, 0.3]]),
        ]),
    }
    rng = np.random.default_rng(20261201)
    rows = []
    for i in range(300):
        n_gt = int(rng.integers(1, 5))
        gt = []
        for _ in range(n_gt):
            s = float(rng.integers(0, 140))
            gt.append([s, float(min(150, s + 2 * int(rng.integers(1, 40))))])
        preds = []
        for _ in range(int(rng.integers(1, 14))):
            if gt and rng.random() < 0.4:  # near a GT window
                g = gt[int(rng.integers(len(gt)))]
                s, e = g[0] + 2 * int(rng.integers(-3, 4)), g[1] + 2 * int(rng.integers(-3, 4))
            else:
                s = float(rng.integers(0, 140))
                e = s + 2 * int(rng.integers(1, 30))
            preds.append([float(s), float(e), float(np.round(rng.random(), 1))])  # 1 decimal: ties
        rows.append((f"r{i}", gt, preds))
    out["random_300"] = case(rows)
    return out


def reference_unrounded(ev, submission: list[dict], ground_truth: list[dict]) -> dict[str, float]:
    """The reference's per-range MR-mAP, with its rounding pushed 6 digits down (see the module doc)."""
    original = ev.compute_average_precision_detection
    ev.compute_average_precision_detection = lambda *a, **k: original(*a, **k) * SCALE
    try:
        out = {}
        for name, rng in RANGES.items():
            sub, gt = ev.get_data_by_range(copy.deepcopy(submission), copy.deepcopy(ground_truth), rng)
            if not gt:
                continue  # the reference crashes on an empty range
            ap = ev.compute_mr_ap(sub, gt, num_workers=1)
            key = "MR-mAP" if name == "full" else f"MR-{name}-mAP"
            out[key] = ap["average"] / SCALE
            if name == "full":
                out["MR-mAP@0.5"] = ap["0.5"] / SCALE
                out["MR-mAP@0.75"] = ap["0.75"] / SCALE
        return out
    finally:
        ev.compute_average_precision_detection = original


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moment-detr", required=True, type=Path, help="checkout of jayleicn/moment_detr")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="also print ours vs the reference")
    args = ap.parse_args()
    repo = args.moment_detr.resolve()
    sys.path.insert(0, str(repo))
    from standalone_eval import eval as ev  # the official evaluator, imported from the checkout

    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    result: dict = {"reference": {"repo": "jayleicn/moment_detr", "commit": commit,
                                  "code": "standalone_eval/eval.py compute_mr_ap + get_data_by_range"},
                    "cases": {}}
    for name, (gt, sub) in cases().items():
        result["cases"][name] = {"gt": gt, "pred": sub, "expected": reference_unrounded(ev, sub, gt)}
    sample = repo / "standalone_eval" / "sample_val_preds.jsonl"
    gt_path = repo / "data" / "highlight_val_release.jsonl"
    if sample.is_file() and gt_path.is_file():
        sub = ev.load_jsonl(str(sample))
        gt = ev.load_jsonl(str(gt_path))
        brief = ev.eval_submission(copy.deepcopy(sub), copy.deepcopy(gt), verbose=False)["brief"]
        result["qvhighlights_val_sample"] = {
            "files": ["standalone_eval/sample_val_preds.jsonl", "data/highlight_val_release.jsonl"],
            "rounded": {k: v for k, v in brief.items() if k.startswith("MR-")},
            "unrounded": reference_unrounded(ev, sub, gt)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    if args.check:
        check(result, sample, gt_path)


def check(result: dict, sample: Path, gt_path: Path) -> None:
    from i2vbench.metrics.tvg import mr_map_metrics

    def ours(gt, sub):
        preds = {str(d["qid"]): np.asarray(d["pred_relevant_windows"], float) for d in sub}
        return mr_map_metrics([{**g, "qid": str(g["qid"])} for g in gt], preds)

    worst = 0.0
    for name, c in result["cases"].items():
        got = ours(c["gt"], c["pred"])
        diff = max(abs(got[k] - v) for k, v in c["expected"].items())
        assert set(got) == set(c["expected"]), (name, sorted(got), sorted(c["expected"]))
        worst = max(worst, diff)
        print(f"{name:28s} max |ours - reference| = {diff:.2e}")
    if "qvhighlights_val_sample" in result:
        s = result["qvhighlights_val_sample"]
        subs = [json.loads(line) for line in sample.open()]
        gts = [json.loads(line) for line in gt_path.open()]
        got = ours(gts, subs)
        for k, v in s["unrounded"].items():
            print(f"  QVHighlights val sample {k:14s} ours {got[k]:.10f}  reference {v:.10f}  "
                  f"printed {s['rounded'].get('MR-full-' + k[3:] if k.startswith('MR-mAP') else k)}")
        diff = max(abs(got[k] - v) for k, v in s["unrounded"].items())
        worst = max(worst, diff)
        print(f"{'qvhighlights_val_sample':28s} max |ours - reference| = {diff:.2e}")
    print(f"largest difference: {worst:.2e}")


if __name__ == "__main__":
    main()
