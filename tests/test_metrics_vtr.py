"""VTR metrics: CLIP4Clip ``compute_metrics`` parity, its tie rule, units, and the file evaluator.

Expected values come from CLIP4Clip's ``metrics.compute_metrics`` (ArrowLuo/CLIP4Clip @ 508ffa3),
run outside the repository by ``tools/parity/vtr/clip4clip.py``, which writes them to
``data/vtr/clip4clip_parity.json`` (the tie example, 60 seeded random tied matrices, square and
wide, and a seeded 1000×1000; largest difference from ours at the last run: 0.0).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import parity_harness
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from i2vbench.errors import BenchError
from i2vbench.metrics.evaluate import evaluate, get_evaluator
from i2vbench.metrics.vtr import diagonal_ranks, rank_metrics, retrieval_metrics

ROOT = Path(__file__).resolve().parents[1]
PARITY = json.loads((ROOT / "tests" / "data" / "vtr" / "clip4clip_parity.json").read_text())["cases"]
TIES = np.array(PARITY["ties"]["sim"])
KEYS = {"R1": "R@1", "R5": "R@5", "R10": "R@10", "MR": "MdR", "MeanR": "MnR"}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_matches_clip4clip_compute_metrics(name):
    case = PARITY[name]
    x = parity_harness("vtr/clip4clip.py").matrix(case)  # the stored values, or the 1000x1000 rebuilt from its seed
    for direction, ref in case["expected"].items():
        ranks = diagonal_ranks(x if direction == "t2v" else x.T)
        if "cols" in ref:
            assert sorted(ranks.tolist()) == sorted(ref["cols"])
        ours = rank_metrics(ranks)
        for r, k in KEYS.items():
            assert ours[k] == pytest.approx(ref[r], abs=1e-9), (direction, k)


def test_tie_rule_matches_clip4clip():
    # compute_metrics(TIES) gave cols [0, 1, 0, 1, 2, 1]: a diagonal tied with t others yields
    # t + 1 ranks and all of them are averaged (6 ranks for 3 texts).
    assert sorted(diagonal_ranks(TIES).tolist()) == [0, 0, 1, 1, 1, 2]
    assert PARITY["ties"]["expected"]["t2v"]["cols"] == [0, 1, 0, 1, 2, 1]
    m = retrieval_metrics(TIES)
    # R1 = 2 of the 6 ranks (not 1 of 3 rows); MeanR = mean of the 6 ranks + 1
    assert m["t2v/R@1"] == pytest.approx(100 / 3, abs=1e-9) and m["t2v/MnR"] == pytest.approx(11 / 6)
    # v2t = compute_metrics(TIES.T): cols [0, 2, 1], no tie at the diagonal
    assert PARITY["ties"]["expected"]["v2t"]["cols"] == [0, 2, 1]
    assert m["v2t/MdR"] == 2.0 and m["v2t/MnR"] == 2.0


def test_units_rsum_and_plus_one_ranks():
    sim = np.eye(4) + 0.01 * np.arange(16).reshape(4, 4)  # text 3 ranks its video first, all others too
    m = retrieval_metrics(sim)
    assert m["t2v/R@1"] == 100.0  # percent, not a fraction
    assert m["t2v/MdR"] == 1.0 and m["t2v/MnR"] == 1.0  # rank 0 is reported as 1
    assert m["t2v/R@sum"] == m["t2v/R@1"] + m["t2v/R@5"] + m["t2v/R@10"] == 300.0
    worst = -np.eye(12)  # every true pair is last of 12
    r = retrieval_metrics(worst)
    assert r["t2v/R@10"] == 0.0
    # ranks 11 on all rows; entries 0 elsewhere tie with each other but not with the diagonal (-1)
    assert r["t2v/MdR"] == 12.0 and r["t2v/MnR"] == 12.0


def test_even_count_median_is_midpoint():
    # ranks 0,1,2,3 → np.median 1.5 → MdR 2.5 (CLIP4Clip adds 1 to the median, not rounding)
    sim = np.array([[4.0, 0, 0, 0], [9, 4, 0, 0], [9, 9, 4, 0], [9, 9, 9, 4]])
    assert diagonal_ranks(sim).tolist() == [0, 1, 2, 3]
    assert rank_metrics(diagonal_ranks(sim))["MdR"] == 2.5


def test_non_finite_diagonal_drops_row_like_reference_and_evaluator_refuses(tmp_path):
    sim = np.array([[np.inf, 0.0], [0.2, 0.9]])
    assert diagonal_ranks(sim).tolist() == [0]  # reference: inf - inf is NaN, row 0 yields no rank
    f = tmp_path / "sim.npy"
    np.save(f, sim)
    with pytest.raises(BenchError, match=r"diagonal similarity \[0, 0\] is infinite"):
        get_evaluator("vtr")(None, f)
    np.save(f, np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(BenchError, match=r"\[0, 1\] is NaN"):
        get_evaluator("vtr")(None, f)


def test_off_diagonal_minus_inf_is_a_mask():
    sim = np.array([[0.1, -np.inf, 0.5], [0.0, 0.3, -np.inf], [-np.inf, 0.2, 0.4]])
    assert diagonal_ranks(sim).tolist() == [1, 0, 0]


@given(arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(0, 4)).map(lambda t: (t[0], t[0] + t[1])),
              elements=st.sampled_from([0.0, 0.25, 0.5, 1.0, -1.0])),
       st.randoms(use_true_random=False))
@settings(max_examples=150, deadline=None)
def test_ranks_equal_sort_and_where_definition(x, rnd):
    # the definition CLIP4Clip's code implements, restated: positions of d in the sorted row
    sx = np.sort(-x, axis=1)
    d = np.diag(-x)[:, None]
    expected = sorted(np.where(sx - d == 0)[1].tolist())
    assert sorted(diagonal_ranks(x).tolist()) == expected
    # permuting texts and videos together (and distractor columns) leaves the metrics unchanged
    n, m = x.shape
    p = list(range(n))
    rnd.shuffle(p)
    extra = list(range(n, m))
    rnd.shuffle(extra)
    perm_cols = p + extra
    y = x[p][:, perm_cols]
    assert rank_metrics(diagonal_ranks(y)) == rank_metrics(diagonal_ranks(x))


@given(st.integers(1, 30), st.integers(0, 2**31 - 1))
@settings(max_examples=40, deadline=None)
def test_scaling_and_shift_invariance(n, seed):
    x = np.random.default_rng(seed).standard_normal((n, n))
    assert retrieval_metrics(x) == retrieval_metrics(2 * x + 3)


def test_evaluator_npy_json_and_gt_csv(tmp_path, bench):
    rng = np.random.default_rng(0)
    sim = rng.standard_normal((5, 5)).astype(np.float32) + 3 * np.eye(5, dtype=np.float32)
    f = tmp_path / "sim.npy"
    np.save(f, sim)
    got = get_evaluator("vtr")(None, f)
    assert list(got) == [f"{d}/{k}" for d in ("t2v", "v2t") for k in ("R@1", "R@5", "R@10", "R@sum", "MdR", "MnR")]
    j = tmp_path / "sim.json"
    j.write_text(json.dumps(sim.astype(float).tolist()))
    assert get_evaluator("vtr")(None, j) == got
    csv = tmp_path / "pairs.csv"
    csv.write_text("key,vid_key,video_id,sentence\n" + "".join(f"ret{i},msr{i},video{i},text {i}\n" for i in range(5)))
    assert evaluate("vtr", csv, f) == got
    code, out, err = bench("eval", "--task", "vtr", "--pred", str(f), "--json")
    assert code == 0, err
    assert json.loads(out) == pytest.approx(got)


def test_evaluator_errors(tmp_path, annotations):
    f = tmp_path / "sim.npy"
    np.save(f, np.zeros((3, 4)))
    with pytest.raises(BenchError, match="square"):
        get_evaluator("vtr")(None, f)
    np.save(f, np.array([{"a": 1}], dtype=object))
    with pytest.raises(BenchError, match="refused"):
        get_evaluator("vtr")(None, f)
    np.save(f, np.eye(3))
    with pytest.raises(BenchError, match="3×3 but .* 50 text-video pairs"):
        evaluate("vtr", annotations / "msrvtt" / "MSRVTT_JSFUSION_test.csv", f)  # the excerpt
    (tmp_path / "bad.json").write_text("[[1, 2], [3]]")
    with pytest.raises(BenchError, match="equal-length"):
        get_evaluator("vtr")(None, tmp_path / "bad.json")


def test_real_1k_a_csv_as_gt(tmp_path, full_annotations):
    sim = np.eye(1000, dtype=np.float32)
    f = tmp_path / "sim.npy"
    np.save(f, sim)
    m = evaluate("vtr", full_annotations / "msrvtt" / "MSRVTT_JSFUSION_test.csv", f)
    assert m["t2v/R@1"] == 100.0 and m["v2t/MnR"] == 1.0
