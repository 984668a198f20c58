"""VAR metrics: mmaction2 1.2.0 ``top_k_accuracy`` / ``mean_class_accuracy`` parity and GT formats.

Values marked "mmaction2" come from mmaction2 1.2.0 (mmcv-lite 2.1.0, numpy 2.4.6), run in a
separate venv outside the repository by ``tools/parity/var/mmaction2.py``, which writes them to
``data/var/mmaction2_parity.json``: hand-built tie / class cases and 420 seeded random
integer-valued (heavily tied) and NaN-sprinkled score matrices in float32/float64/int64 (largest
difference from ours at the last run: 0.0).
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
from i2vbench.metrics.evaluate import evaluate
from i2vbench.metrics.var import mean_class_accuracy, top_k_accuracy, topk_hits, var_metrics

ROOT = Path(__file__).resolve().parents[1]
PARITY = json.loads((ROOT / "tests" / "data" / "var" / "mmaction2_parity.json").read_text())["cases"]
TIES = np.array(PARITY["ties"]["scores"])
TIES_Y = np.array(PARITY["ties"]["labels"])


def test_matches_mmaction2_on_every_parity_case():
    build = parity_harness("var/mmaction2.py").scores_and_labels  # stored values, or rebuilt from the case's seed
    assert len(PARITY) == 424
    for name, case in PARITY.items():
        s, y = build(case)
        ref = case["expected"]
        assert top_k_accuracy(s, y, tuple(case["topk"])) == pytest.approx(ref["top_k"], abs=1e-12), name
        if "mean_class_accuracy" in ref:
            assert mean_class_accuracy(s, y) == pytest.approx(ref["mean_class_accuracy"], abs=1e-12), name


def _reference_topk(scores, labels, k):
    """mmaction2's rule restated (argsort, last k): the definition our fast path must equal."""
    top = np.argsort(scores, axis=1)[:, -k:]
    return (top == np.asarray(labels)[:, None]).any(axis=1).mean()


def test_ties_follow_argsort_order():
    # mmaction2: top_k_accuracy(TIES, TIES_Y, (1, 2)) == [0.25, 0.75]. With argsort, the *later*
    # of tied columns ranks higher: row 0 (label 0 tied with 1) misses top-1; row 1 (all equal,
    # label 2 = last column) hits; row 3 (all equal, label 0) misses.
    assert PARITY["ties"]["expected"]["top_k"] == [0.25, 0.75]
    assert top_k_accuracy(TIES, TIES_Y, (1, 2)) == [0.25, 0.75]
    assert topk_hits(TIES, TIES_Y, 1).tolist() == [False, True, False, False]
    # mmaction2: mean_class_accuracy(TIES, TIES_Y) == 0.6666666666666666
    assert mean_class_accuracy(TIES, TIES_Y) == pytest.approx(0.6666666666666666, abs=1e-12)


def test_mean_class_accuracy_counts_predicted_only_classes_as_zero():
    # mmaction2: preds [0, 0, 2], labels [0, 1, 1] → classes {0, 1, 2}: 1, 0, 0 → 0.3333333333333333
    s = np.array([[1.0, 0, 0], [1, 0, 0], [0, 0, 1]])
    assert mean_class_accuracy(s, np.array([0, 1, 1])) == pytest.approx(1 / 3, abs=1e-12)
    # classes neither true nor predicted (column 3) do not enter the mean
    s4 = np.hstack([s, np.zeros((3, 1))])
    assert mean_class_accuracy(s4, np.array([0, 1, 1])) == pytest.approx(1 / 3, abs=1e-12)


def test_units_and_k_beyond_classes():
    s = np.array([[0.1, 0.9], [0.8, 0.2]])
    m = var_metrics(s, np.array([1, 1]))
    assert m == {"Top-1": 50.0, "Top-5": 100.0, "mean_class_accuracy": 25.0}  # percent; k > C → all hit
    assert top_k_accuracy(s, np.array([1, 1]), (1,)) == [0.5]  # the pure function keeps fractions


def test_out_of_range_label_is_a_miss_like_reference():
    s = np.array([[0.1, 0.9], [0.8, 0.2]])
    assert top_k_accuracy(s, np.array([5, 0]), (1, 2)) == [0.5, 0.5]


@given(st.integers(1, 40), st.integers(1, 30), st.integers(1, 4), st.integers(1, 12), st.integers(0, 2**31 - 1),
       st.sampled_from([np.float32, np.float64, np.int64]))
@settings(max_examples=200, deadline=None)
def test_fast_path_equals_argsort_definition(n, c, levels, k, seed, dtype):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, levels, size=(n, c)).astype(dtype)
    y = rng.integers(0, c, size=n)
    assert top_k_accuracy(s, y, (k,))[0] == _reference_topk(s, y, k)


def test_nan_rows_go_through_argsort():
    s = np.array([[np.nan, 0.1, 0.2], [0.3, np.nan, 0.1]])
    for k in (1, 2, 3):
        assert top_k_accuracy(s, np.array([0, 2]), (k,))[0] == _reference_topk(s, [0, 2], k)


@given(st.integers(2, 30), st.integers(2, 20), st.integers(0, 2**31 - 1))
@settings(max_examples=60, deadline=None)
def test_sample_permutation_invariance(n, c, seed):
    rng = np.random.default_rng(seed)
    s, y = rng.random((n, c)), rng.integers(0, c, size=n)
    p = rng.permutation(n)
    assert var_metrics(s[p], y[p]) == pytest.approx(var_metrics(s, y), abs=1e-12)


def test_empty_input_is_rejected():
    with pytest.raises(ValueError, match="no samples"):
        top_k_accuracy(np.zeros((0, 3)), np.zeros(0, dtype=int))


def test_evaluator_npy_and_json(tmp_path, bench):
    rng = np.random.default_rng(3)
    s, y = rng.random((20, 7)), rng.integers(0, 7, size=20)
    np.save(tmp_path / "scores.npy", s)
    np.save(tmp_path / "labels.npy", y)
    (tmp_path / "labels.json").write_text(json.dumps(y.tolist()))
    (tmp_path / "scores.json").write_text(json.dumps(s.tolist()))
    want = var_metrics(s, y)
    assert evaluate("var", tmp_path / "labels.npy", tmp_path / "scores.npy") == want
    assert evaluate("var", tmp_path / "labels.json", tmp_path / "scores.json") == want
    code, out, err = bench("eval", "--task", "var", "--gt", str(tmp_path / "labels.npy"),
                           "--pred", str(tmp_path / "scores.npy"), "--json")
    assert code == 0, err
    assert json.loads(out) == pytest.approx(want)


def test_evaluator_errors(tmp_path, bench):
    np.save(tmp_path / "scores.npy", np.zeros((3, 4)))
    (tmp_path / "labels.json").write_text("[0, 1]")
    with pytest.raises(BenchError, match="3 rows of scores for 2 GT clips"):
        evaluate("var", tmp_path / "labels.json", tmp_path / "scores.npy")
    (tmp_path / "labels.json").write_text("[0, 1, 9]")
    with pytest.raises(BenchError, match=r"\[2\]: label 9 outside the 4 score columns"):
        evaluate("var", tmp_path / "labels.json", tmp_path / "scores.npy")
    (tmp_path / "labels.json").write_text('[0, 1, "x"]')
    with pytest.raises(BenchError, match=r"\[\[2\]\]: label 'x' is not an integer"):
        evaluate("var", tmp_path / "labels.json", tmp_path / "scores.npy")
    (tmp_path / "labels.json").write_text("[0, 1, 2]")
    bad = np.zeros((3, 4))
    bad[1, 2] = np.nan
    np.save(tmp_path / "scores.npy", bad)
    with pytest.raises(BenchError, match="NaN score in row 1"):
        evaluate("var", tmp_path / "labels.json", tmp_path / "scores.npy")
    code, _, err = bench("eval", "--task", "var", "--gt", str(tmp_path / "labels.json"),
                         "--pred", str(tmp_path / "scores.npy"))
    assert code == 2 and "NaN score in row 1" in err


def test_real_kinetics_csv_as_gt(tmp_path, full_annotations):
    k400 = full_annotations / "kinetics400"
    from i2vbench.datasets.kinetics import load_kinetics_csv

    gt = load_kinetics_csv(k400 / "kinetics-400_val.csv", k400 / "label_map_k400.txt")
    scores = np.zeros((len(gt.labels), 400), dtype=np.float32)
    scores[np.arange(len(gt.labels)), gt.labels] = 1.0
    scores[::2, 0] = 2.0  # every other clip predicts class 0 (abseiling)
    np.save(tmp_path / "s.npy", scores)
    for lm in (None, k400 / "label_map_k400.txt", k400 / "kinetics_400_labels.csv"):
        m = evaluate("var", k400 / "kinetics-400_val.csv", tmp_path / "s.npy", label_map=lm)
        expect_top1 = 100.0 * (np.count_nonzero(gt.labels[::2] == 0) + len(gt.labels[1::2])) / len(gt.labels)
        assert m["Top-1"] == pytest.approx(expect_top1, abs=1e-9)
        assert m["Top-5"] == 100.0
    # scores keyed by youtube id, in any order (on the first 30 rows, with the real label map)
    small = tmp_path / "k400_small.csv"
    small.write_text("".join((k400 / "kinetics-400_val.csv").read_text().splitlines(keepends=True)[:31]))
    sub = load_kinetics_csv(small, k400 / "label_map_k400.txt")
    keyed = {sub.ids[i]: scores[i].tolist() for i in reversed(range(30))}
    (tmp_path / "s.json").write_text(json.dumps(keyed))
    want = var_metrics(scores[:30], sub.labels)
    assert evaluate("var", small, tmp_path / "s.json", label_map=k400 / "label_map_k400.txt") == want
    del keyed[sub.ids[5]]
    keyed["nope"] = [0.0] * 400
    (tmp_path / "s.json").write_text(json.dumps(keyed))
    with pytest.raises(BenchError, match=r"\[nope\]: clip id not in the ground truth"):
        evaluate("var", small, tmp_path / "s.json", label_map=k400 / "label_map_k400.txt")
    del keyed["nope"]
    (tmp_path / "s.json").write_text(json.dumps(keyed))
    with pytest.raises(BenchError, match=f"no scores for 1 GT clips, e.g. '{sub.ids[5]}'"):
        evaluate("var", small, tmp_path / "s.json", label_map=k400 / "label_map_k400.txt")


def test_real_ssv2_json_as_gt(tmp_path, full_annotations):
    v = full_annotations / "ssv2" / "something-something-v2-validation.json"
    from i2vbench.datasets.ssv2 import load_ssv2_json

    gt = load_ssv2_json(v)
    rng = np.random.default_rng(0)
    scores = rng.random((len(gt.labels), 174)).astype(np.float32)
    np.save(tmp_path / "s.npy", scores)
    m = evaluate("var", v, tmp_path / "s.npy")
    assert m == pytest.approx(var_metrics(scores, gt.labels))
    assert evaluate("var", v, tmp_path / "s.npy", label_map=full_annotations / "ssv2" / "label_map.txt") == m


def test_perf_cases_run_quick_and_agree_with_their_references():
    # i2vbench.perf.coarse (VTR, VAR, VideoQA) at --quick size: each case checks ours == reference
    from i2vbench.perf.coarse import cases

    cs = cases(quick=True)
    assert [c.name.split()[0] for c in cs] == ["vtr", "var", "videoqa"]
    for c in cs:
        assert c.extra["identical"], c.name
        assert c.ours() is not None and c.reference() is not None


def test_cli_real_ssv2_with_label_map_option(tmp_path, full_annotations, bench):
    s = full_annotations / "ssv2"
    from i2vbench.datasets.ssv2 import load_ssv2_json

    gt = load_ssv2_json(s / "something-something-v2-validation.json")
    scores = np.eye(174, dtype=np.float32)[gt.labels]
    scores[:100] = np.roll(scores[:100], 1, axis=1)  # first 100 clips: top-1 wrong
    np.save(tmp_path / "s.npy", scores)
    code, out, err = bench("eval", "--task", "var", "--gt", str(s / "something-something-v2-validation.json"),
                           "--pred", str(tmp_path / "s.npy"), "--option", f"label_map={s / 'label_map.txt'}",
                           "--json")
    assert code == 0, err
    m = json.loads(out)
    assert m["Top-1"] == pytest.approx(100 * (24777 - 100) / 24777)
    # a rolled one-hot row puts the label's 0 among 173 tied zeros straddling place 5: those rows
    # take the argsort path, exactly as mmaction2 decides them
    assert m["Top-5"] == pytest.approx(var_metrics(scores, gt.labels)["Top-5"])
