"""TVG metric: parity with UniVTG's eval/eval.py and every definitional detail of it.

Expected values marked "UniVTG" come from showlab/UniVTG at commit
32659ac7aeba21742a63274f30eba785fc57e247, ``eval/eval.py`` ``compute_mr_r1`` + ``compute_mr_r5``,
run outside this repository by ``tools/parity/tvg/univtg.py`` on exactly the inputs that module
builds (``edge_cases``, ``random_case``, ``charades_case``; the tests rebuild them from it): as
published (2-decimal rounding) and unrounded (the same means over the per-query IoUs the
reference computes), in ``data/tvg/univtg_parity.json``. Largest difference at the last run: 0.0.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import parity_harness
from hypothesis import given, settings
from hypothesis import strategies as st

from i2vbench.errors import BenchError
from i2vbench.metrics.tvg import (
    METRIC_NAMES,
    load_predictions_jsonl,
    query_ious,
    round_like_reference,
    tvg_metrics,
    write_predictions_jsonl,
)
from i2vbench.perf.tvg import per_query_reference

ROOT = Path(__file__).resolve().parents[1]
HARNESS = parity_harness("tvg/univtg.py")  # the case builders the reference was run on
edge_cases, random_case, charades_case = HARNESS.edge_cases, HARNESS.random_case, HARNESS.charades_case
KEYS = HARNESS.KEYS

# UniVTG, unrounded and rounded, per case
_PARITY = json.loads((ROOT / "tests" / "data" / "tvg" / "univtg_parity.json").read_text())["cases"]
UNIVTG = {name: (_PARITY[name]["unrounded"], _PARITY[name]["rounded"]) for name in edge_cases()}
RANDOM400 = (_PARITY["random_400"]["unrounded"], _PARITY["random_400"]["rounded"])
CHARADES3720 = (_PARITY["charades_test_seed1"]["unrounded"], _PARITY["charades_test_seed1"]["rounded"])


def _preds(sub):
    return {d["qid"]: d["pred_relevant_windows"] for d in sub}


def _check(ours, expected):
    unrounded, rounded = expected
    assert list(ours) == KEYS == list(METRIC_NAMES)
    for k in KEYS:
        assert ours[k] == pytest.approx(unrounded[k], abs=1e-6), k
    assert round_like_reference(ours) == rounded


@pytest.mark.parametrize("name", sorted(UNIVTG))
def test_edge_cases_match_univtg(name):
    gt, sub = edge_cases()[name]
    _check(tvg_metrics(gt, _preds(sub)), UNIVTG[name])


def test_random_multi_window_case_matches_univtg():
    gt, sub = random_case(400, 0)
    _check(tvg_metrics(gt, _preds(sub)), RANDOM400)


def test_real_charades_test_queries_match_univtg(full_annotations):
    from i2vbench.datasets.charades_sta import load_charades_sta

    d = full_annotations / "charades_sta"
    moments = load_charades_sta(d / "charades_sta_test.txt", d / "Charades_v1_test.csv")
    gt, sub = charades_case(moments, 1)
    _check(tvg_metrics(moments, _preds(sub)), CHARADES3720)  # Moment objects as GT
    _check(tvg_metrics(gt, _preds(sub)), CHARADES3720)  # the same as UniVTG-style dicts


# --- each detail, on single queries -----------------------------------------------------------

def _one(gt_windows, pred_windows):
    iou1, iou5 = query_ious([{"qid": "q", "relevant_windows": gt_windows}], {"q": pred_windows})
    return float(iou1[0]), float(iou5[0])


def test_rank_is_list_order_not_score():
    assert _one([[0, 10]], [[20, 30, 0.1], [0, 10, 0.99]]) == (0.0, 1.0)


def test_threshold_is_greater_or_equal():
    m = tvg_metrics([{"qid": "q", "relevant_windows": [[0, 10]]}], {"q": [[0, 5, 1.0]]})
    assert m["R1@0.5"] == 100.0 and m["R1@0.7"] == 0.0  # IoU exactly 0.5 counts at 0.5
    m = tvg_metrics([{"qid": "q", "relevant_windows": [[0, 10]]}], {"q": [[0, 4.9999, 1.0]]})
    assert m["R1@0.5"] == 0.0 and m["R1@0.3"] == 100.0


def test_windows_are_not_clipped_and_inverted_windows_not_swapped():
    assert _one([[0, 10]], [[-10, 10, 1]]) == (0.5, 0.5)  # a clip to [0, 10] would give 1.0
    assert _one([[2, 8]], [[8, 2, 1]]) == (0.0, 0.0)


def test_iou_denominator_is_the_hull():
    # well-formed windows: hull == union; disjoint windows: 0 either way
    assert _one([[0, 4]], [[2, 6, 1]])[0] == pytest.approx(2 / 6)
    assert _one([[0, 4]], [[5, 6, 1]])[0] == 0.0
    assert _one([[3, 3]], [[3, 3, 1]]) == (0.0, 0.0)  # 0/0 → 0


def test_several_gt_windows_use_the_best_matching_one():
    assert _one([[0, 4], [10, 20]], [[11, 20, 1]]) == (0.9, 0.9)
    # R1 picks the GT by cross IoU; a 0/0 (NaN) GT comes first as np.argmax does, and scores 0
    assert _one([[5, 3], [0, 2]], [[0, 2, 1]]) == (0.0, 1.0)


def test_r5_uses_at_most_five_and_fewer_if_given():
    far = [20, 30, 1]
    assert _one([[0, 10]], [far, [0, 10, 0]])[1] == 1.0
    assert _one([[0, 10]], [far] * 4 + [[0, 10, 0]])[1] == 1.0
    assert _one([[0, 10]], [far] * 5 + [[0, 10, 0]])[1] == 0.0


def test_empty_prediction_list_scores_zero():
    assert _one([[0, 10]], []) == (0.0, 0.0)
    assert _one([[0, 10]], np.zeros((0, 3))) == (0.0, 0.0)


def test_two_column_predictions_work():
    assert _one([[0, 10]], [[0, 5]]) == (0.5, 0.5)


def test_mIoU_is_mean_of_top1_iou():
    gt = [{"qid": "a", "relevant_windows": [[0, 10]]}, {"qid": "b", "relevant_windows": [[0, 10]]}]
    m = tvg_metrics(gt, {"a": [[0, 5, 1], [0, 10, 0]], "b": [[0, 10, 1]]})
    assert m["mIoU"] == pytest.approx(75.0)  # (0.5 + 1.0) / 2, the 2nd window of "a" not used


def test_missing_predictions_error_or_score_as_miss():
    gt = [{"qid": "a", "relevant_windows": [[0, 10]]}, {"qid": "b", "relevant_windows": [[0, 10]]}]
    with pytest.raises(BenchError, match="no prediction for 1 of 2 queries.*b"):
        tvg_metrics(gt, {"a": [[0, 10, 1]]})
    m = tvg_metrics(gt, {"a": [[0, 10, 1]]}, allow_missing=True)
    assert m["R1@0.7"] == 50.0 and m["mIoU"] == 50.0


def test_integer_qids_match_their_text():
    m = tvg_metrics([{"qid": 12404, "relevant_windows": [[0, 10]]}], {12404: [[0, 10, 1]]})
    assert m["mIoU"] == 100.0
    m = tvg_metrics([{"qid": "7", "relevant_windows": [[0, 10]]}], {7: [[0, 5, 1]]})
    assert m["mIoU"] == 50.0


def test_empty_ground_truth_is_an_error():
    with pytest.raises(BenchError, match="no ground-truth"):
        tvg_metrics([], {})


def test_bad_prediction_shape_is_an_error():
    with pytest.raises(BenchError, match="shape"):
        tvg_metrics([{"qid": "a", "relevant_windows": [[0, 10]]}], {"a": [1.0, 2.0, 3.0]})


# --- properties -----------------------------------------------------------------------------

_t = st.integers(-4, 60).map(lambda v: v / 2)
_window = st.tuples(_t, _t)
_query = st.tuples(st.lists(_window, min_size=1, max_size=3),
                   st.lists(st.tuples(_t, _t, st.floats(0, 1)), min_size=1, max_size=8))


@settings(max_examples=60, deadline=None)
@given(st.lists(_query, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_equals_per_query_reference_and_is_permutation_invariant(queries, rnd):
    gt = [{"qid": f"q{i}", "relevant_windows": [list(w) for w in g]} for i, (g, _) in enumerate(queries)]
    sub = [{"qid": f"q{i}", "pred_relevant_windows": [list(w) for w in p]}
           for i, (_, p) in enumerate(queries)]
    ours = tvg_metrics(gt, _preds(sub))
    ref = per_query_reference(gt, sub)
    for k in KEYS:
        assert ours[k] == pytest.approx(ref[k], abs=1e-9)
    shuffled = list(gt)
    rnd.shuffle(shuffled)
    again = tvg_metrics(shuffled, _preds(sub))
    for k in KEYS:
        assert again[k] == pytest.approx(ours[k], abs=1e-9)
        assert 0.0 <= ours[k] <= 100.0
    for t in (0.3, 0.5, 0.7):
        assert ours[f"R5@{t}"] >= ours[f"R1@{t}"]
    assert ours["R1@0.3"] >= ours["R1@0.5"] >= ours["R1@0.7"]


# --- files ----------------------------------------------------------------------------------

def test_write_then_load_predictions_sorts_by_score(tmp_path):
    p = write_predictions_jsonl(tmp_path / "p.jsonl", [
        {"qid": "a", "vid": "V", "pred_relevant_windows": np.array([[1, 2, 0.1], [3, 4, 0.9]])},
        {"qid": 7, "pred_relevant_windows": [[0, 1, 0.5]]},
    ])
    rows = [json.loads(x) for x in p.read_text().splitlines()]
    assert rows[0] == {"qid": "a", "vid": "V", "pred_relevant_windows": [[3, 4, 0.9], [1, 2, 0.1]]}
    loaded = load_predictions_jsonl(p)
    assert list(loaded) == ["a", "7"]
    np.testing.assert_array_equal(loaded["a"], [[3, 4, 0.9], [1, 2, 0.1]])


@pytest.mark.parametrize("line, message", [
    ('{"qid": "a"}', "expected keys 'qid' and 'pred_relevant_windows'"),
    ('{"qid": "a", "pred_relevant_windows": 3}', "must be a list"),
    ('{"qid": "a", "pred_relevant_windows": [[1, "x", 0.5]]}', "window 0 must be"),
    ('{"qid": "a", "pred_relevant_windows": [[1, NaN, 0.5]]}', "finite"),
    ('{"qid": "a", "pred_relevant_windows": [[1]]}', "window 0 must be"),
    ('[1, 2]', "expected a JSON object"),
    ('{"qid": "a", ', "malformed JSON"),
])
def test_malformed_prediction_lines_name_file_and_line(tmp_path, line, message):
    p = tmp_path / "pred.jsonl"
    p.write_text('{"qid": "ok", "pred_relevant_windows": [[0, 1, 1]]}\n' + line + "\n")
    with pytest.raises(BenchError, match=f"pred.jsonl:2: .*{message}"):
        load_predictions_jsonl(p)


def test_duplicate_prediction_qid_is_an_error(tmp_path):
    p = tmp_path / "pred.jsonl"
    p.write_text('{"qid": "a", "pred_relevant_windows": []}\n' * 2)
    with pytest.raises(BenchError, match=r"pred.jsonl:2: duplicate prediction for qid 'a' \(first on line 1\)"):
        load_predictions_jsonl(p)


def test_charades_scale_equals_the_per_query_path():
    """At Charades-STA scale (3,720 queries x 10 windows) the vectorised scores equal those of one
    query at a time. Speed is measured by `python -m i2vbench.perf tvg`, not asserted here: a
    wall-clock bound flakes on a shared machine."""
    from i2vbench.perf.tvg import synthetic_charades

    gt, sub = synthetic_charades(3720, 10)
    preds = {d["qid"]: np.asarray(d["pred_relevant_windows"]) for d in sub}
    iou1, _ = query_ious(gt, preds)
    for k in (0, 1, 1000, 3719):
        one, _ = query_ious([gt[k]], {gt[k]["qid"]: preds[gt[k]["qid"]]})
        assert float(one[0]) == float(iou1[k])
    m = tvg_metrics(gt, preds)
    assert m["R1@0.5"] == pytest.approx(100.0 * float(np.mean(iou1 >= 0.5)), abs=1e-9)
