"""Regenerate the TVG R1 / R5 / mIoU parity values from UniVTG's own ``eval/eval.py``.

    python tools/parity/tvg/univtg.py --univtg /path/to/UniVTG \
        [--annotations ../shared/data/annotations] [--out FILE] [--check]

``--univtg`` is a checkout of showlab/UniVTG at the commit in README.md; ``eval.eval`` is imported
from there (its ``eval/utils.py`` imports scikit-learn), nothing of it is copied here.

``compute_mr_r1`` and ``compute_mr_r5`` round inside (``float(f"{100 * x:.2f}")``). The harness
records their rounded return values and, unrounded, the same means taken over the per-query IoU
array each of them computes (``pred_gt_iou``, read from the function's locals as it returns,
through ``sys.settrace``, without touching its code).

What it writes (``tests/data/tvg/univtg_parity.json``, read by ``tests/test_metrics_tvg.py`` and
``tests/test_eval_cli.py``): for the cases of :func:`cases` (built here, one per definitional
detail, plus a seeded random case; the tests rebuild them from this module), the reference's
R1@{0.3,0.5,0.7}, R5@{0.3,0.5,0.7} and mIoU, unrounded and as printed; for ``bench eval``'s sample
files in ``tests/data/tvg`` (the Charades-STA txt given to the reference as the moment_detr jsonl
our loader produces, ``moments_to_jsonl_rows``: qids test0.., ends clipped to the csv length);
and, with ``--annotations``, 10 noisy predictions per real Charades-STA test query
(:func:`charades_case`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "tvg"
OUT = DATA / "univtg_parity.json"
THRESHOLDS = ("0.3", "0.5", "0.7")
KEYS = ["R1@0.3", "R1@0.5", "R1@0.7", "R5@0.3", "R5@0.5", "R5@0.7", "mIoU"]


def _case(rows):
    gt = [{"qid": q, "relevant_windows": g} for q, g, _ in rows]
    sub = [{"qid": q, "pred_relevant_windows": p} for q, _, p in rows]
    return gt, sub


def edge_cases() -> dict:
    """Hand-built cases, one per definitional detail of the reference."""
    return {
        # the list order is the rank: the best-scored window is last and is ignored by R1
        "unsorted_scores": _case([
            ("a", [[0, 10]], [[20, 25, 0.1], [0, 10, 0.9]]),
            ("b", [[0, 10]], [[0, 10, 0.2], [20, 25, 0.2], [0, 5, 0.9]]),
        ]),
        # IoU exactly at the thresholds: 0.5, 0.7 and 0.3 (>= counts), and just under
        "iou_at_thresholds": _case([
            ("a", [[0, 10]], [[0, 5, 1.0]]),  # 0.5
            ("b", [[0, 10]], [[3, 10, 1.0]]),  # 0.7
            ("c", [[0, 10]], [[0, 3, 1.0]]),  # 0.3
            ("d", [[1.2, 3.6]], [[1.2, 2.4, 1.0]]),  # 0.5 in floating point
            ("e", [[0, 1]], [[0.7, 1.0, 1.0]]),  # 0.30000000000000004
            ("f", [[0, 10]], [[0, 6.9999, 1.0]]),  # just under 0.7
        ]),
        # windows past the video end or before 0 are not clipped
        "beyond_video": _case([
            ("a", [[25.0, 30.0]], [[25.0, 40.0, 0.9], [28, 31, 0.5]]),
            ("b", [[0.0, 4.0]], [[-4.0, 4.0, 0.9]]),
        ]),
        # inverted prediction windows are not swapped (IoU 0); an inverted GT window never matches
        "start_after_end": _case([
            ("a", [[2, 8]], [[8, 2, 0.9], [2, 8, 0.5]]),
            ("b", [[8, 2], [2, 8]], [[2, 8, 0.9]]),
            ("c", [[5, 3], [0, 2]], [[0, 2, 0.9]]),  # cross IoU 0/0 = NaN first: R1 takes it, scores 0
        ]),
        # R5 with fewer than 5 predictions uses those there are; the 6th is ignored
        "fewer_than_five": _case([
            ("a", [[0, 10]], [[20, 30, 0.9]]),
            ("b", [[0, 10]], [[20, 30, 0.9], [0, 9, 0.1]]),
            ("c", [[0, 10]], [[20, 30, 0.9]] * 5 + [[0, 10, 1.0]]),
            ("d", [[0, 10]], [[20, 30, 0.9]] * 4 + [[0, 6, 1.0]]),
        ]),
        # several GT windows: the best-matching one is used; zero-length windows give NaN/0
        "multi_gt": _case([
            ("a", [[0, 4], [10, 20]], [[11, 20, 0.9]]),
            ("b", [[0, 4], [10, 20], [12, 18]], [[12, 19, 0.9], [0, 4, 0.1]]),
            ("c", [[4, 6], [5, 5]], [[5, 5, 0.9], [4, 6, 0.1]]),
            ("d", [[0, 10], [0, 10]], [[0, 5, 0.9]]),
        ]),
    }


def random_case(n: int = 400, seed: int = 0):
    """Synthetic queries with 1-3 GT windows and 1-7 predictions on a 0.5 s grid (many exact ties)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        g = []
        for _ in range(int(rng.integers(1, 4))):
            s = float(rng.integers(0, 50)) / 2
            g.append([s, s + float(rng.integers(1, 30)) / 2])
        p = []
        for _ in range(int(rng.integers(1, 8))):
            s = float(rng.integers(-2, 60)) / 2
            e = s + float(rng.integers(-2, 30)) / 2  # some inverted and zero-length windows
            p.append([s, e, float(rng.integers(0, 10)) / 10])
        rows.append((f"q{i}", g, p))
    return _case(rows)


def charades_case(moments, seed: int = 1):  # noqa: ANN001 (i2vbench Moment objects)
    """10 noisy predictions per real Charades-STA test query, 0.1 s grid, not sorted by score."""
    rng = np.random.default_rng(seed)
    gt = [{"qid": m.qid, "relevant_windows": [[m.start, m.end]]} for m in moments]
    st = np.array([m.start for m in moments])
    ed = np.array([m.end for m in moments])
    length = ed - st
    q = len(moments)
    jitter = rng.normal(0.0, 1.0, size=(q, 10, 2)) * length[:, None, None] * 0.8
    ps = np.round(st[:, None] + jitter[..., 0], 1)
    pe = np.round(ed[:, None] + jitter[..., 1], 1)
    score = np.round(rng.random((q, 10)), 2)
    sub = [{"qid": m.qid, "pred_relevant_windows": np.stack([ps[i], pe[i], score[i]], 1).tolist()}
           for i, m in enumerate(moments)]
    return gt, sub


def cases() -> dict:
    return {**edge_cases(), "random_400": random_case(400, 0)}


def sample_files() -> dict:
    """``bench eval``'s sample files as (GT records, submission), GT txt through our loader."""
    from i2vbench.datasets.charades_sta import load_charades_sta, moments_to_jsonl_rows

    def jsonl(name: str) -> list[dict]:
        return [json.loads(x) for x in (DATA / name).read_text().splitlines() if x.strip()]

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the one clipped window, said by the tests
        txt = moments_to_jsonl_rows(load_charades_sta(DATA / "charades_sta_test.txt", DATA / "Charades_v1_test.csv"))
    return {"charades_txt_sample": (txt, jsonl("pred.jsonl")),
            "moment_jsonl_sample": (jsonl("gt_moments.jsonl"), jsonl("pred_moments.jsonl"))}


def reference(ev, gt: list[dict], sub: list[dict]) -> dict[str, dict[str, float]]:
    """The reference's rounded numbers and, from its own per-query IoUs, the unrounded ones."""
    ious: dict[str, np.ndarray] = {}
    watched = {ev.compute_mr_r1.__code__: "R1", ev.compute_mr_r5.__code__: "R5"}

    def tracer(frame, event, arg):  # noqa: ANN001 (sys.settrace protocol)
        name = watched.get(frame.f_code)
        if name is None:
            return None

        def local(frame, event, arg):  # noqa: ANN001
            if event == "return":
                ious[name] = np.asarray(frame.f_locals["pred_gt_iou"], dtype=float)
            return local
        return local

    sys.settrace(tracer)
    try:
        r1, miou = ev.compute_mr_r1(sub, gt)
        r5 = ev.compute_mr_r5(sub, gt)
    finally:
        sys.settrace(None)
    rounded = {**{f"R1@{t}": r1[t] for t in THRESHOLDS}, **{f"R5@{t}": r5[t] for t in THRESHOLDS}, "mIoU": miou}
    unrounded = {**{f"R1@{t}": float(np.mean(ious["R1"] >= float(t)) * 100) for t in THRESHOLDS},
                 **{f"R5@{t}": float(np.mean(ious["R5"] >= float(t)) * 100) for t in THRESHOLDS},
                 "mIoU": float(np.mean(ious["R1"]) * 100)}
    assert all(float(f"{unrounded[k]:.2f}") == rounded[k] for k in KEYS), (rounded, unrounded)
    return {"unrounded": unrounded, "rounded": rounded}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--univtg", required=True, type=Path, help="checkout of showlab/UniVTG")
    ap.add_argument("--annotations", type=Path, help="folder with charades_sta/charades_sta_test.txt + csv")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="also print ours vs the reference")
    args = ap.parse_args()
    repo = args.univtg.resolve()
    sys.path.insert(0, str(repo))
    from eval import eval as ev  # the official evaluator, imported from the checkout

    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    result: dict = {"reference": {"repo": "showlab/UniVTG", "commit": commit,
                                  "code": "eval/eval.py compute_mr_r1 + compute_mr_r5"}, "cases": {}}
    inputs = {**cases(), **sample_files()}
    if args.annotations:
        from i2vbench.datasets.charades_sta import load_charades_sta

        d = args.annotations / "charades_sta"
        inputs["charades_test_seed1"] = charades_case(
            load_charades_sta(d / "charades_sta_test.txt", d / "Charades_v1_test.csv"), 1)
    for name, (gt, sub) in inputs.items():
        result["cases"][name] = reference(ev, gt, sub)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} ({len(result['cases'])} cases)")
    if args.check:
        from i2vbench.metrics.tvg import tvg_metrics

        worst = 0.0
        for name, (gt, sub) in inputs.items():
            ours = tvg_metrics(gt, {d["qid"]: np.asarray(d["pred_relevant_windows"], float) for d in sub})
            ref = result["cases"][name]["unrounded"]
            diff = max(abs(ours[k] - ref[k]) for k in KEYS)
            worst = max(worst, diff)
            print(f"{name:22s} mIoU ours {ours['mIoU']:.10f} ref {ref['mIoU']:.10f}; max |diff| {diff:.2e}")
        print(f"largest |ours - reference| = {worst:.2e}")


if __name__ == "__main__":
    main()
