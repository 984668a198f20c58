"""Regenerate the TETA parity literals from SysCV/tet's own ``teta`` evaluator.

    python tools/parity/ovmot/teta.py --tet /path/to/tet [--out FILE] [--check]

``--tet`` is a checkout of SysCV/tet at the commit in README.md; its ``teta/`` package folder is put
on ``sys.path`` and ``teta.eval.Evaluator``, ``teta.datasets.TAO`` and ``teta.metrics.TETA`` are
imported from there (numpy and scipy only), nothing of it is copied here. Settings as in its
``teta/scripts/run_tao.py``: ``TETA(exhaustive=False)``, ``USE_PARALLEL=False``.

The reference rounds its summary to 5 significant digits (``_summary_row`` formats
``100 * mean(field)`` with ``{:1.5g}``); the harness replaces that one method *on the metric
instance* by the same expression without the formatting, so the evaluator's output is unrounded.

What it writes (``tests/data/ovmot/teta_parity.json``, read by ``tests/test_metrics_teta.py``):
per case (``tests/data/ovmot/{edge,synth_grid,synth_smooth}_*.json``, each with the reference's
``MAX_DETECTIONS`` 0 = unlimited and one small cap), the ten TETA summary fields in percent, and
synth_grid with every video's negative / not-exhaustive lists filled, and the one-box IoU cases
(IoU 0.5, 0.75 and just under 0.5) the tests build.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "ovmot"
OUT = DATA / "teta_parity.json"
FILE_CASES = {"edge": (0, 1), "synth_grid": (0, 5), "synth_smooth": (0, 5)}
ONE_BOX_HEIGHTS = (5.0, 7.5, 4.999)


def one_box_case(h: float) -> tuple[dict, list]:
    """One GT box 10 x 10 and one prediction 10 x ``h`` over its top (IoU h / 10)."""
    gt = {"videos": [{"id": 1, "name": "v1", "neg_category_ids": [], "not_exhaustive_category_ids": []}],
          "images": [{"id": 1, "video_id": 1, "frame_index": 0}],
          "annotations": [{"id": 1, "image_id": 1, "video_id": 1, "track_id": 1, "category_id": 1,
                           "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0}],
          "tracks": [{"id": 1, "category_id": 1, "video_id": 1}],
          "categories": [{"id": 1, "name": "a", "frequency": "f"}]}
    pred = [{"image_id": 1, "video_id": 1, "category_id": 1, "bbox": [0, 0, 10, h], "score": 1.0, "track_id": 1}]
    return gt, pred


def with_neg_lists(gt: dict) -> dict:
    """Every video's negative / not-exhaustive lists filled (``exhaustive=False`` must ignore them)."""
    gt = json.loads(json.dumps(gt))
    for v in gt["videos"]:
        v["neg_category_ids"], v["not_exhaustive_category_ids"] = [1, 2], [2, 3]
    return gt


def reference(teta_mod, gt_file: Path, pred_file: Path, max_dets: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "gt").mkdir()
        shutil.copy(gt_file, d / "gt" / "gt.json")
        (d / "trackers" / "ours" / "data").mkdir(parents=True)
        shutil.copy(pred_file, d / "trackers" / "ours" / "data" / "results.json")
        ecfg = teta_mod.config.get_default_eval_config()
        ecfg.update(USE_PARALLEL=False, PRINT_CONFIG=False, OUTPUT_TEM_RAW_DATA=False, LOG_ON_ERROR=None)
        dcfg = teta_mod.config.get_default_dataset_config()
        dcfg.update(GT_FOLDER=str(d / "gt"), TRACKERS_FOLDER=str(d / "trackers"), TRACKERS_TO_EVAL=["ours"],
                    OUTPUT_FOLDER=str(d / "out"), PRINT_CONFIG=False, MAX_DETECTIONS=max_dets)
        metric = teta_mod.metrics.TETA(exhaustive=False)
        fields = metric.summary_fields
        metric._summary_row = lambda r: [100 * float(np.mean(r[h])) for h in fields]  # unrounded
        with contextlib.redirect_stdout(io.StringIO()):
            res, _ = teta_mod.eval.Evaluator(ecfg).evaluate([teta_mod.datasets.TAO(dcfg)], [metric])
    return dict(zip(fields, (float(v) for v in res["TAO"]["TETA"]), strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tet", required=True, type=Path, help="checkout of SysCV/tet")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="also print ours vs the reference")
    args = ap.parse_args()
    repo = args.tet.resolve()
    sys.path.insert(0, str(repo / "teta"))
    import teta  # the official package, imported from the checkout
    import teta.config
    import teta.datasets
    import teta.eval
    import teta.metrics

    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    result: dict = {"reference": {"repo": "SysCV/tet", "commit": commit,
                                  "code": "teta/teta: Evaluator + datasets.TAO + metrics.TETA(exhaustive=False), "
                                          "USE_PARALLEL=False, _summary_row unrounded"},
                    "cases": {}}
    for case, caps in FILE_CASES.items():
        for max_dets in caps:
            result["cases"][f"{case}@{max_dets}"] = {
                "gt": f"{case}_gt.json", "pred": f"{case}_pred.json", "max_dets": max_dets,
                "expected": reference(teta, DATA / f"{case}_gt.json", DATA / f"{case}_pred.json", max_dets)}
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "gt.json").write_text(json.dumps(with_neg_lists(json.loads((DATA / "synth_grid_gt.json").read_text()))))
        result["cases"]["synth_grid_neg_lists@0"] = {
            "gt": "synth_grid_gt.json", "neg_lists": True, "pred": "synth_grid_pred.json", "max_dets": 0,
            "expected": reference(teta, Path(d) / "gt.json", DATA / "synth_grid_pred.json", 0)}
        for h in ONE_BOX_HEIGHTS:
            gt, pred = one_box_case(h)
            (Path(d) / "gt.json").write_text(json.dumps(gt))
            (Path(d) / "pred.json").write_text(json.dumps(pred))
            result["cases"][f"one_box_h{h}"] = {"one_box_height": h, "max_dets": 0,
                                                "expected": reference(teta, Path(d) / "gt.json", Path(d) / "pred.json", 0)}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} ({len(result['cases'])} cases)")
    if args.check:
        check(result)


def check(result: dict) -> None:
    from i2vbench.metrics.evaluate import evaluate

    worst = 0.0
    with tempfile.TemporaryDirectory() as d:
        for name, case in result["cases"].items():
            if "one_box_height" in case:
                gt, pred = one_box_case(case["one_box_height"])
                gt_p, pred_p = Path(d) / "gt.json", Path(d) / "pred.json"
                gt_p.write_text(json.dumps(gt))
                pred_p.write_text(json.dumps(pred))
            else:
                gt_p, pred_p = DATA / case["gt"], DATA / case["pred"]
                if case.get("neg_lists"):
                    gt_p = Path(d) / "gt.json"
                    gt_p.write_text(json.dumps(with_neg_lists(json.loads((DATA / case["gt"]).read_text()))))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ours = evaluate("ovmot", gt_p, pred_p, max_dets=case["max_dets"], hota=False)
            diff = max(abs(ours[k] - v) for k, v in case["expected"].items())
            worst = max(worst, diff)
            print(f"{name:18s} TETA ours {ours['TETA']:.10f} ref {case['expected']['TETA']:.10f}; max |diff| {diff:.2e}")
    print(f"largest |ours - reference| = {worst:.2e}")


if __name__ == "__main__":
    main()
