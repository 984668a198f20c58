"""MR-mAP and its length breakdown: parity with moment_detr's standalone_eval.

The expected values in ``data/tvg/mr_map_parity.json`` were printed by the official
``compute_mr_ap`` (jayleicn/moment_detr, commit in the file) through
``tools/parity/tvg/mr_map.py``, which rewrites that file from a checkout; see its README.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from i2vbench.errors import BenchError
from i2vbench.metrics.tvg import mr_map_metrics

PARITY = json.loads((Path(__file__).parent / "data" / "tvg" / "mr_map_parity.json").read_text())


def _ours(gt: list[dict], sub: list[dict]) -> dict[str, float]:
    preds = {str(d["qid"]): np.asarray(d["pred_relevant_windows"], float) for d in sub}
    return mr_map_metrics([{**g, "qid": str(g["qid"])} for g in gt], preds)


@pytest.mark.parametrize("name", sorted(PARITY["cases"]))
def test_mr_map_matches_moment_detr(name):
    case = PARITY["cases"][name]
    got = _ours(case["gt"], case["pred"])
    assert set(got) == set(case["expected"])
    for k, v in case["expected"].items():
        assert got[k] == pytest.approx(v, abs=1e-6), k


def test_published_sample_numbers_are_pinned():
    """moment_detr's own sample (QVHighlights val): what its eval_sample.sh prints, and ours to 1e-6
    of its unrounded values (ours recorded by the harness run in tools/parity/tvg/README.md)."""
    s = PARITY["qvhighlights_val_sample"]
    assert s["rounded"]["MR-full-mAP"] == 32.2 and s["rounded"]["MR-short-mAP"] == 3.28
    ours = {"MR-mAP": 32.2042370204, "MR-mAP@0.5": 54.9622526260, "MR-mAP@0.75": 31.0110303317,
            "MR-short-mAP": 3.2804698879, "MR-middle-mAP": 32.2987676436, "MR-long-mAP": 41.1095798075}
    for k, v in s["unrounded"].items():
        assert ours[k] == pytest.approx(v, abs=1e-6)
        printed = s["rounded"]["MR-full-" + k[3:] if k.startswith("MR-mAP") else k]
        assert float(f"{ours[k]:.2f}") == printed


def test_a_range_without_queries_is_left_out():
    got = _ours([{"qid": "a", "relevant_windows": [[0, 5]]}], [{"qid": "a", "pred_relevant_windows": [[0, 5, 1]]}])
    assert got == {"MR-mAP": 100.0, "MR-mAP@0.5": 100.0, "MR-mAP@0.75": 100.0, "MR-short-mAP": 100.0}


def test_windows_without_scores_are_refused():
    with pytest.raises(BenchError, match="score"):
        mr_map_metrics([{"qid": "a", "relevant_windows": [[0, 5]]}], {"a": np.array([[0.0, 5.0]])})


def test_missing_query_is_ap_zero_only_when_allowed():
    gt = [{"qid": "a", "relevant_windows": [[0, 5]]}, {"qid": "b", "relevant_windows": [[0, 5]]}]
    preds = {"a": np.array([[0.0, 5.0, 1.0]])}
    with pytest.raises(BenchError, match="no prediction"):
        mr_map_metrics(gt, preds)
    assert mr_map_metrics(gt, preds, allow_missing=True)["MR-mAP"] == 50.0
