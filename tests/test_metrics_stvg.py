"""STVG metric (m_vIoU, vIoU@R, m_tIoU): TubeDETR parity, definitional details, errors, CLI.

Reference numbers: TubeDETR ``datasets/vidstg_eval.py`` (antoyang/TubeDETR commit d70c0eed94da),
run unmodified outside this repository on the files in tests/data/stvg (built by make_cases.py):
``VidSTGEvaluator(dir, "test")`` with its defaults (fps=5, video_max_len=200, tmp_loc=True),
``update(boxes)``, ``video_update(videos)``, ``summarize()``; per-query values from
``evaluator.evaluator.evaluate(...)``. Its fractions are multiplied by 100 here. TubeDETR has no
all-queries figure: the overall numbers below are the means of its per-query values.
"""

from __future__ import annotations

import gzip
import json
import random
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from i2vbench.datasets.vidstg import load_vidstg, sample_frames
from i2vbench.errors import BenchError
from i2vbench.metrics.evaluate import evaluate
from i2vbench.metrics.stvg import (
    box_iou_aligned,
    evaluate_stvg,
    load_predictions,
    score_queries,
    summarize,
    temporal_iou,
)

DATA = Path(__file__).parent / "data" / "stvg"
CASES_GT, CASES_PRED = DATA / "cases_gt.json", DATA / "cases_pred.json"

# TubeDETR summarize() x 100 on cases_*.json
CASES_EXPECTED = {
    "m_vIoU": 28.188363615731355, "vIoU@0.3": 38.888888888888886, "vIoU@0.5": 11.11111111111111,
    "m_tIoU": 57.61536845570251,
    "declarative/m_vIoU": 27.142849966048928, "declarative/vIoU@0.3": 40.0, "declarative/vIoU@0.5": 10.0,
    "declarative/m_tIoU": 58.86363636363636,
    "interrogative/m_vIoU": 29.495255677834386, "interrogative/vIoU@0.3": 37.5,
    "interrogative/vIoU@0.5": 12.5, "interrogative/m_tIoU": 56.05503357078523,
}
# TubeDETR per-query values on cases_*.json, in query order (names in make_cases.CASES)
CASES_VIOU = [1.0, 0.0, 0.0, 0.11444234986243934, 0.5, 0.2999999999999999, 0.29999999999999993, 0.3,
              0.30000000000000004, 0.43449073147143774, 0.28735632183908033, 0.0, 0.0, 0.5125227117990712,
              0.0, 0.35804819712355485, 0.17979426513345503, 0.4872508736026054]
CASES_TIOU = [1.0, 0, 0, 0.17391304347826086, 1.0, 1.0, 1.0, 1.0, 1.0, 0.6363636363636364, 0.85, 0, 0,
              0.6827118644067796, 1.0, 0.1111111111111111, 0.25, 0.6666666666666666]
# TubeDETR on random_*.json.gz (160 seeded random queries, 5 frame rates)
RANDOM_EXPECTED = {
    "m_vIoU": 38.03477747926571, "vIoU@0.3": 64.375, "vIoU@0.5": 50.0, "m_tIoU": 53.85632296579845,
    "declarative/m_vIoU": 38.660066449090465, "declarative/vIoU@0.3": 63.76811594202898,
    "declarative/vIoU@0.5": 53.62318840579711, "declarative/m_tIoU": 55.128854244561175,
    "interrogative/m_vIoU": 37.56065727137659, "interrogative/vIoU@0.3": 64.83516483516483,
    "interrogative/vIoU@0.5": 47.25274725274725, "interrogative/m_tIoU": 52.891436611571784,
}


def _assert_close(got: dict[str, float], expected: dict[str, float]) -> None:
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, abs=1e-6), k


def _write(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj))
    return path


@pytest.fixture(scope="module")
def random_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("stvg_random")
    out = []
    for name in ("random_gt.json.gz", "random_pred.json.gz"):
        p = d / name.removesuffix(".gz")
        p.write_bytes(gzip.decompress((DATA / name).read_bytes()))
        out.append(p)
    return out[0], out[1]


# ---------------------------------------------------------------- parity with TubeDETR


def test_cases_match_tubedetr_summary() -> None:
    _assert_close(evaluate("stvg", CASES_GT, CASES_PRED), CASES_EXPECTED)


def test_cases_match_tubedetr_per_query() -> None:
    s = evaluate_stvg(load_vidstg(CASES_GT), load_predictions(CASES_PRED))
    np.testing.assert_allclose(s.viou, CASES_VIOU, rtol=0, atol=1e-12)
    np.testing.assert_allclose(s.tiou, CASES_TIOU, rtol=0, atol=1e-12)


def test_threshold_is_strict_and_sums_in_frame_order() -> None:
    """Query 7 has vIoU == 0.3 exactly (5 frames of IoU 0.3): not counted at 0.3. Query 8 sums 32
    frames of IoU 0.3 one by one to 0.30000000000000004, which TubeDETR counts; a pairwise sum
    (np.mean) would give 0.3 and miss it. Query 4 is 0.5 exactly: counted at 0.3, not at 0.5."""
    s = evaluate_stvg(load_vidstg(CASES_GT), load_predictions(CASES_PRED))
    assert s.viou[7] == 0.3 and not s.viou[7] > 0.3
    assert s.viou[8] == 0.30000000000000004
    assert s.viou[4] == 0.5
    one = summarize(type(s)(s.tiou[[4, 7, 8]], s.viou[[4, 7, 8]], s.gt_viou[[4, 7, 8]], s.qtypes[[4, 7, 8]]))
    assert one["vIoU@0.3"] == pytest.approx(200 / 3) and one["vIoU@0.5"] == 0.0


def test_random_matches_tubedetr(random_files: tuple[Path, Path]) -> None:
    _assert_close(evaluate("stvg", *random_files), RANDOM_EXPECTED)


def test_cli_json(bench) -> None:
    code, out, err = bench("eval", "--task", "stvg", "--gt", str(CASES_GT), "--pred", str(CASES_PRED), "--json")
    assert code == 0, err
    _assert_close(json.loads(out), CASES_EXPECTED)


def test_cli_table_and_error(bench, tmp_path: Path) -> None:
    code, out, _ = bench("eval", "--task", "stvg", "--gt", str(CASES_GT), "--pred", str(CASES_PRED))
    assert code == 0 and "declarative/m_vIoU" in out and "27.14" in out
    bad = _write(tmp_path / "p.json", {"videos": [{"video_id": 0, "sted": [0, 1]}], "boxes": []})
    code, out, err = bench("eval", "--task", "stvg", "--gt", str(CASES_GT), "--pred", str(bad))
    assert code == 2 and out == "" and str(bad) in err and "17 GT queries" in err and "'1'" in err


# ---------------------------------------------------------------- definitions, hand-computed

def _tiny(tmp_path: Path, steds: dict[int, list[float]], boxes: dict[str, list], qtypes=("declarative",) * 2
          ) -> tuple[Path, Path]:
    """Two queries on one 25 fps video, segment [0, 50) → sampled frames 0, 5, ..., 45; GT moment
    [10, 30) → GT frames 10, 15, 20, 25, with the box [0, 0, 10, 10]."""
    tube = {str(f): {"bbox": [0, 0, 10, 10]} for f in range(0, 50)}
    videos = [{"video_id": i, "original_video_id": "v", "fps": 25, "start_frame": 0, "end_frame": 50,
               "tube_start_frame": 10, "tube_end_frame": 30, "target_id": 1, "qtype": qtypes[i],
               "caption": "x"} for i in range(2)]
    gt = _write(tmp_path / "gt.json", {"videos": videos, "trajectories": {"v": {"1": tube}}})
    pred = {"videos": [{"video_id": k, "sted": v} for k, v in steds.items()],
            "boxes": [{"image_id": k, "boxes": v} for k, v in boxes.items()]}
    return gt, _write(tmp_path / "pred.json", pred)


PERFECT = {f"{q}_{f}": [[0, 0, 10, 10]] for q in (0, 1) for f in (10, 15, 20, 25)}


def test_hull_denominator_and_tiou_by_hand(tmp_path: Path) -> None:
    # q0: pred [20, 40) → boxes counted on 20, 25 (IoU 1); hull [10, 40) holds 10..35 = 6 frames
    #     → vIoU 2/6; tIoU = 10 / 30.  q1: pred [35, 50), disjoint → the hull [10, 50) still counts
    #     the gap; vIoU 0, tIoU 0.
    gt, pred = _tiny(tmp_path, {0: [20, 40], 1: [35, 50]}, PERFECT)
    s = evaluate_stvg(load_vidstg(gt), load_predictions(pred))
    assert s.viou.tolist() == [2 / 6, 0.0] and s.tiou.tolist() == [10 / 30, 0.0]
    got = evaluate("stvg", gt, pred)
    assert got["m_vIoU"] == pytest.approx(100 / 6) and got["m_tIoU"] == pytest.approx(100 / 6)
    assert got["vIoU@0.3"] == 50.0 and got["vIoU@0.5"] == 0.0
    assert "interrogative/m_vIoU" not in got  # only question types present are reported


def test_only_first_box_and_empty_box_list(tmp_path: Path) -> None:
    boxes = dict(PERFECT)
    boxes["0_10"] = [[0, 0, 10, 5], [0, 0, 10, 10]]  # first box IoU 0.5
    boxes["0_15"] = []  # no box: IoU 0 (TubeDETR raises IndexError)
    boxes["0_40"] = [[100, 100, 120, 120]]  # outside the GT moment: never read
    gt, pred = _tiny(tmp_path, {0: [10, 30], 1: [10, 30]}, boxes)
    s = evaluate_stvg(load_vidstg(gt), load_predictions(pred))
    assert s.viou.tolist() == [(0.5 + 0 + 1 + 1) / 4, 1.0]


def test_missing_predictions(tmp_path: Path) -> None:
    boxes = {k: v for k, v in PERFECT.items() if k != "0_25"}
    gt, pred = _tiny(tmp_path, {0: [10, 30]}, boxes)
    with pytest.raises(BenchError, match=r"no predicted moment .* 1 GT queries .*'1'"):
        evaluate("stvg", gt, pred)
    gt, pred = _tiny(tmp_path, {0: [10, 30], 1: [10, 30]}, boxes)
    with pytest.raises(BenchError, match=r"pred.json: no predicted box for 1 sampled GT frames.*'0_25'"):
        evaluate("stvg", gt, pred)
    gt, pred = _tiny(tmp_path, {0: [10, 30]}, boxes)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = evaluate("stvg", gt, pred, allow_missing=True)
    # q0: 3 of 4 GT frames with IoU 1 → 0.75; q1 (no moment) → 0
    assert got["m_vIoU"] == 37.5 and got["m_tIoU"] == 50.0 and got["vIoU@0.5"] == 50.0
    assert "1 of 2 queries have no predicted moment and 1 sampled GT frames no box" in str(w[0].message)


@pytest.mark.parametrize(("pred", "match"), [
    ({"videos": [{"video_id": 7, "sted": [0, 1]}]}, r"video ids not in .*'7'"),
    ({"videos": [{"video_id": 0, "sted": [0, 1]}, {"video_id": 0, "sted": [0, 1]}]}, r"videos\[1\]\.video_id.*duplicate"),
    ({"videos": [{"video_id": 0, "sted": [0]}]}, r"videos\[0\]\.sted.*\[start, end_exclusive\]"),
    ({"videos": [{"video_id": 0, "sted": [0, float("nan")]}]}, r"videos\[0\]\.sted"),
    ({"videos": [{"video_id": 0, "sted": [0, 1], "qtype": "interrogative"}]}, r"qtype.*'declarative'"),
    ({"videos": [{"video_id": "0", "sted": [10, 30]}, {"video_id": 1, "sted": [10, 30]}],
      "boxes": [{"image_id": "0_10", "boxes": [[5, 5, 1, 1]]}]}, r"boxes\['0_10'\].*x1 <= x2"),
    ({"videos": [{"video_id": 0, "sted": [10, 30]}, {"video_id": 1, "sted": [10, 30]}],
      "boxes": [{"image_id": "0_10", "boxes": [[0, 0, "a", 1]]}]}, r"boxes\['0_10'\].*4 finite numbers"),
    ({"videos": [{"video_id": 0, "sted": [10, 30]}], "boxes": [{"boxes": []}]}, r"boxes\[0\].*image_id"),
    ({"videos": [{"video_id": 0, "sted": [10, 30]}, {"video_id": 1, "sted": [10, 30]}],
      "boxes": [{"image_id": f"{q}_{f}", "boxes": [["0", "0", "10", "10"]]} for q in (0, 1) for f in (10, 15, 20, 25)]},
     r"boxes\['0_10'\].*4 finite numbers"),
    ({"videos": [{"video_id": 0, "sted": [10, 30]}, {"video_id": 1, "sted": [10, 30]}],
      "boxes": [{"image_id": f"{q}_{f}", "boxes": [[0, 0, 10, float("nan") if f == 20 else 10]]}
                for q in (0, 1) for f in (10, 15, 20, 25)]}, r"boxes\['0_20'\].*4 finite numbers"),
    ({"videos": [{"video_id": 0, "sted": [10, 30]}, {"video_id": 1, "sted": [10, 30]}],
      "boxes": [{"image_id": "0_10", "boxes": [0, 0, 10, 10]}]}, r"boxes\['0_10'\].*\[\[x1, y1, x2, y2\], \.\.\.\]"),
    ([1, 2], r"expected \{\"videos\""),
])
def test_malformed_predictions(tmp_path: Path, pred: object, match: str) -> None:
    gt, _ = _tiny(tmp_path, {}, {})
    p = _write(tmp_path / "bad.json", pred)
    with pytest.raises(BenchError, match=match):
        evaluate("stvg", gt, p, allow_missing=True)


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    gt, _ = _tiny(tmp_path, {}, {})
    p = tmp_path / "broken.json"
    p.write_text('{"videos": [\n{"video_id": 0,, }]}')
    with pytest.raises(BenchError, match=r"broken.json:2: malformed JSON"):
        evaluate("stvg", gt, p)


def test_box_iou_aligned_by_hand() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 5, 5], [0, 0, 4, 4]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [5, 5, 5, 5], [2, 2, 6, 6]], float)
    # 1; 50 / 150; disjoint 0; two zero-area boxes 0 (TubeDETR: nan); 4 / 28
    np.testing.assert_array_equal(box_iou_aligned(a, b), [1.0, 50 / 150, 0.0, 0.0, 4 / 28])


def test_temporal_iou_by_hand() -> None:
    gt = np.array([[10, 30], [10, 30], [10, 30], [10, 30], [10, 10]], float)
    pr = np.array([[20, 40], [30, 50], [40, 20], [12.5, 17.5], [0, 20]], float)
    # overlap 10 / 30; touching ends do not overlap; reversed pred 0; inside 5/20; empty GT 0
    np.testing.assert_array_equal(temporal_iou(gt, pr), [1 / 3, 0.0, 0.0, 0.25, 0.0])


# ---------------------------------------------------------------- properties

def _loop_reference(gt_sted, pred_sted, frames_per_q, gt_iou_per_q):
    """Per-query loop with TubeDETR's definitions, written independently of the vectorised code."""
    tious, vious = [], []
    for (gs, ge), (ps, pe), frames, ious in zip(gt_sted, pred_sted, frames_per_q, gt_iou_per_q, strict=True):
        ms, me = max(gs, ps), min(ge, pe)
        tious.append(0 if me <= ms else (me - ms) / ((ge - gs) + (pe - ps) - (me - ms)))
        hull = [f for f in frames if min(gs, ps) <= f < max(ge, pe)]
        v = 0.0
        for f, iou in ious.items():
            if ms <= f < me:
                v += iou
        vious.append(v / max(len(hull), 1))
    return tious, vious


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_vectorised_equals_loop(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 6))
    starts = data.draw(st.lists(st.integers(0, 50), min_size=n, max_size=n))
    lens = data.draw(st.lists(st.integers(0, 400), min_size=n, max_size=n))
    fps = np.array(data.draw(st.lists(st.sampled_from([5.0, 24.0, 25.0, 29.97002997002997, 30.0]),
                                      min_size=n, max_size=n)))
    frames, offsets = sample_frames(np.array(starts), np.array(starts) + np.array(lens), fps, 5.0,
                                    data.draw(st.integers(1, 60)))
    gt_sted, pred_sted, per_q, idx, ious = [], [], [], [], []
    for i in range(n):
        fr = frames[offsets[i]:offsets[i + 1]].tolist()
        gs = data.draw(st.integers(starts[i] - 5, starts[i] + lens[i] + 5))
        ge = data.draw(st.integers(gs - 2, starts[i] + lens[i] + 5))
        ps = data.draw(st.floats(-20, 500, allow_nan=False))
        pe = data.draw(st.floats(-20, 500, allow_nan=False))
        gt_sted.append((gs, ge))
        pred_sted.append((ps, pe))
        d = {}
        for j, f in enumerate(fr):
            if gs <= f < ge:
                d[f] = data.draw(st.sampled_from([0.0, 0.1, 0.3, 0.5, 1.0, 0.7071]))
                idx.append(offsets[i] + j)
                ious.append(d[f])
        per_q.append(d)
    t_ref, v_ref = _loop_reference(gt_sted, pred_sted, [frames[offsets[i]:offsets[i + 1]].tolist() for i in range(n)],
                                   per_q)
    s = score_queries(np.array(gt_sted, float), np.array(pred_sted, float), frames, offsets,
                      np.array(idx, np.int64), np.array(ious, float), np.array(["declarative"] * n, object))
    np.testing.assert_allclose(s.tiou, t_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(s.viou, v_ref, rtol=0, atol=1e-12)
    assert ((s.viou >= 0) & (s.viou <= 1)).all()


@settings(max_examples=5, deadline=None)
@given(st.randoms(use_true_random=False))
def test_prediction_order_does_not_matter(rnd: random.Random) -> None:
    import tempfile

    pred = json.loads(CASES_PRED.read_text())
    rnd.shuffle(pred["videos"])
    rnd.shuffle(pred["boxes"])
    with tempfile.TemporaryDirectory() as d:
        p = _write(Path(d) / "p.json", pred)
        _assert_close(evaluate("stvg", CASES_GT, p), CASES_EXPECTED)


def test_sampling_options_match_tubedetr(bench, tmp_path: Path) -> None:
    """``--option sample_fps=2 --option video_max_len=50`` = TubeDETR's ``fps=2, video_max_len=50``.

    Predictions: the cases' boxes on every native frame (TubeDETR then reads the 2-fps ones). Expected:
    TubeDETR summarize() x 100 on cases_gt.json and this prediction (same run as the module docstring).
    """
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_cases", DATA / "make_cases.py")
    mc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mc)
    videos, boxes = [], []
    for i, (_, vid, tid, seg, _, qtype, sted, mode) in enumerate(mc.CASES):
        videos.append({"video_id": i, "sted": sted, "qtype": qtype})
        boxes += [{"image_id": f"{i}_{f}", "boxes": mc.pred_box(mode, mc.gt_box(vid, tid, f), f)}
                  for f in range(seg[0], seg[1])]
    pred = _write(tmp_path / "pred_all_frames.json", {"videos": videos, "boxes": boxes})
    code, out, err = bench("eval", "--task", "stvg", "--gt", str(CASES_GT), "--pred", str(pred), "--json",
                           "--option", "sample_fps=2", "--option", "video_max_len=50")
    assert code == 0, err
    got = json.loads(out)
    expected = {
        "declarative/m_tIoU": 58.86363636363636, "declarative/m_vIoU": 27.233341882342177,
        "declarative/vIoU@0.3": 30.0, "declarative/vIoU@0.5": 10.0,
        "interrogative/m_tIoU": 56.05503357078523, "interrogative/m_vIoU": 30.532097820268376,
        "interrogative/vIoU@0.3": 50.0, "interrogative/vIoU@0.5": 0.0,
    }
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, abs=1e-6), k
    # the defaults (5 fps, 200 frames) on the same file give TubeDETR's default numbers
    _assert_close(evaluate("stvg", CASES_GT, pred), CASES_EXPECTED)
