"""TVG metric: parity with UniVTG's eval/eval.py and every definitional detail of it.

Expected values marked "UniVTG" were obtained by running showlab/UniVTG at commit
32659ac7aeba21742a63274f30eba785fc57e247, ``eval/eval.py`` ``compute_mr_r1`` + ``compute_mr_r5``
(outside this repository), on exactly the inputs built below (``edge_cases``, ``random_case``, ``charades_case``): once as
published (2-decimal rounding) and once with only the ``float(f"{100 * x:.2f}")`` rounding removed
(the unrounded values). Its full ``eval_submission`` "brief" keys (MR-full-R1@0.3-key, ...) gave the
same rounded numbers on the Charades case.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
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


# --- parity cases: UniVTG's own record form, so the very same objects were fed to its
# compute_mr_r1/compute_mr_r5 outside this repo (that harness imports this module) ---
def _case(rows):
    gt = [{"qid": q, "relevant_windows": g} for q, g, _ in rows]
    sub = [{"qid": q, "pred_relevant_windows": p} for q, _, p in rows]
    return gt, sub


def edge_cases():
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


def charades_case(moments, seed: int = 1):
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


KEYS = ["R1@0.3", "R1@0.5", "R1@0.7", "R5@0.3", "R5@0.5", "R5@0.7", "mIoU"]


def _vals(*v: float) -> dict[str, float]:
    return dict(zip(KEYS, v, strict=True))


# UniVTG, unrounded and rounded, per case below
UNIVTG = {
    "unsorted_scores": (_vals(50.0, 50.0, 50.0, 100.0, 100.0, 100.0, 50.0),
                        _vals(50.0, 50.0, 50.0, 100.0, 100.0, 100.0, 50.0)),
    "iou_at_thresholds": (_vals(100.0, 50.0, 16.666666666666664, 100.0, 50.0, 16.666666666666664,
                                49.999833333333335),
                          _vals(100.0, 50.0, 16.67, 100.0, 50.0, 16.67, 50.0)),
    "beyond_video": (_vals(100.0, 50.0, 0.0, 100.0, 50.0, 0.0, 41.666666666666664),
                     _vals(100.0, 50.0, 0.0, 100.0, 50.0, 0.0, 41.67)),
    "start_after_end": (_vals(0.0, 0.0, 0.0, 100.0, 100.0, 100.0, 0.0),
                        _vals(0.0, 0.0, 0.0, 100.0, 100.0, 100.0, 0.0)),
    "fewer_than_five": (_vals(0.0, 0.0, 0.0, 50.0, 50.0, 25.0, 0.0),
                        _vals(0.0, 0.0, 0.0, 50.0, 50.0, 25.0, 0.0)),
    "multi_gt": (_vals(75.0, 75.0, 50.0, 100.0, 100.0, 75.0, 56.42857142857143),
                 _vals(75.0, 75.0, 50.0, 100.0, 100.0, 75.0, 56.43)),
}
RANDOM400 = (_vals(29.25, 13.5, 5.0, 62.74999999999999, 41.5, 16.0, 19.045107251430373),
             _vals(29.25, 13.5, 5.0, 62.75, 41.5, 16.0, 19.05))
CHARADES3720 = (_vals(53.494623655913976, 23.790322580645164, 6.075268817204301, 97.36559139784946,
                      73.79032258064517, 28.279569892473116, 30.56803405938286),
                _vals(53.49, 23.79, 6.08, 97.37, 73.79, 28.28, 30.57))


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
