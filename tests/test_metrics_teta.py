"""TETA parity with SysCV/tet and the definitional details it pins.

Expected numbers come from the official evaluator, SysCV/tet commit a62a9c0 with
``teta/scripts/run_tao.py`` settings (TAO dataset, ``TETA(exhaustive=False)``,
``USE_PARALLEL=False``), run outside this repository on the same files by
``tools/parity/ovmot/teta.py`` (its ``_summary_row`` replaced on the metric instance by
``100 * mean(field)`` unrounded instead of a 5-digit string), which writes them to
``data/ovmot/teta_parity.json``. (SysCV/tet is not a package on PyPI, so it cannot be called live.)

tests/data/ovmot/edge_*.json is hand-built to hit the edge cases (see its comments in
``test_edge_case_contents``); synth_* are small synthetic TAO files from
``i2vbench.perf.ovmot.synthetic_tao`` (grid=True puts coordinates on an integer grid, so IoUs
exactly on 0.5/0.75 and score ties are frequent).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from i2vbench.datasets.tao import load_tao_gt, load_tao_results
from i2vbench.errors import BenchError
from i2vbench.metrics.evaluate import evaluate
from i2vbench.metrics.tao_matching import EPS, pair_iou
from i2vbench.metrics.teta import ALPHAS, FIELDS, compute_teta, teta

DATA = Path(__file__).parent / "data" / "ovmot"

# official SysCV/tet outputs (see module docstring), keyed by (case, MAX_DETECTIONS)
PARITY = json.loads((DATA / "teta_parity.json").read_text())["cases"]
OFFICIAL = {(c["gt"].removesuffix("_gt.json"), c["max_dets"]): c["expected"]
            for c in PARITY.values() if "gt" in c and not c.get("neg_lists")}


def _run(case: str, max_dets: int = 0, gt_path: Path | None = None) -> dict[str, float]:
    g = load_tao_gt(gt_path or DATA / f"{case}_gt.json")
    return teta(g, load_tao_results(DATA / f"{case}_pred.json", g, max_dets=max_dets))


@pytest.mark.parametrize(("case", "max_dets"), sorted(OFFICIAL))
def test_matches_official(case: str, max_dets: int) -> None:
    got = _run(case, max_dets)
    assert list(got) == list(FIELDS)
    for k, v in OFFICIAL[(case, max_dets)].items():
        assert got[k] == pytest.approx(v, abs=1e-6), k


def test_edge_case_contents() -> None:
    """The edge file holds what its name promises (so the parity test above covers it)."""
    g = load_tao_gt(DATA / "edge_gt.json")
    r = load_tao_results(DATA / "edge_pred.json", g)
    assert r.n_read == 16 and r.n_off_frames == 1  # one result on an image without GT boxes
    assert 4 in g.box_category and 4 not in g.evaluated_category_ids  # GT of an unlisted class
    assert g.evaluated_category_ids == [1, 2]  # "cat" (3) is listed but has no GT; 5 merged into 2
    assert 5 not in r.box_category  # predictions labelled with the merged id are folded too
    assert 2 not in set(g.video_ids[g.frame_video[r.box_frame]].tolist())  # video 2: no results
    ious = pair_iou(np.array([[0, 0, 10, 10], [20, 20, 10, 10.0]]),
                    np.array([[0, 0, 10, 5], [20, 20, 10, 7.5]]))
    assert ious.tolist() == [0.5, 0.75]  # exactly on the overlap and on an alpha threshold


def test_overlap_threshold_is_inclusive() -> None:
    """One GT box, one prediction of height h: IoU 0.5 joins the cluster (>=) and is matched at
    alphas 0..0.5 (11 of 20; 1 of the 10 class alphas); IoU 0.75 at 16 of 20 (alpha 0.75 is
    matched: IoU >= alpha - eps); IoU 0.4999 is outside every cluster, so even alpha 0 misses.
    Expected values: official SysCV/tet on the same one-box files."""
    gt = {"videos": [{"id": 1}], "images": [{"id": 1, "video_id": 1, "frame_index": 0}],
          "annotations": [{"id": 1, "image_id": 1, "video_id": 1, "track_id": 1,
                           "category_id": 1, "bbox": [0, 0, 10, 10]}],
          "categories": [{"id": 1, "name": "a"}]}
    for h, loc, cls in ((5.0, 55.0, 10.0), (7.5, 80.0, 60.0), (4.999, 0.0, 0.0)):
        pred = [{"image_id": 1, "video_id": 1, "category_id": 1, "bbox": [0, 0, 10, h],
                 "score": 1.0, "track_id": 1}]
        out = _teta_dicts(gt, pred)
        assert out == pytest.approx(PARITY[f"one_box_h{h}"]["expected"], abs=1e-9)
        for k in ("LocA", "LocRe", "LocPr", "AssocA", "AssocRe", "AssocPr"):
            assert out[k] == pytest.approx(loc, abs=1e-9), (h, k)
        for k in ("ClsA", "ClsRe", "ClsPr"):
            assert out[k] == pytest.approx(cls, abs=1e-9), (h, k)
        assert out["TETA"] == pytest.approx((2 * loc + cls) / 3, abs=1e-9)
    assert ALPHAS[10] == 0.5 and 0.75 >= ALPHAS[15] - EPS


def _teta_dicts(gt: dict, pred: list, tmp: Path | None = None) -> dict[str, float]:
    import tempfile

    d = Path(tmp or tempfile.mkdtemp())
    (d / "gt.json").write_text(json.dumps(gt))
    (d / "pred.json").write_text(json.dumps(pred))
    g = load_tao_gt(d / "gt.json")
    return teta(g, load_tao_results(d / "pred.json", g))


def test_negative_and_not_exhaustive_lists_do_not_matter(tmp_path: Path) -> None:
    """exhaustive=False: the official number on synth_grid with every video's neg /
    not-exhaustive lists filled is the same as without them."""
    gt = json.loads((DATA / "synth_grid_gt.json").read_text())
    for v in gt["videos"]:
        v["neg_category_ids"], v["not_exhaustive_category_ids"] = [1, 2], [2, 3]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    got = _run("synth_grid", gt_path=tmp_path / "gt.json")
    assert got == pytest.approx(PARITY["synth_grid_neg_lists@0"]["expected"], abs=1e-6)
    assert got == pytest.approx(OFFICIAL[("synth_grid", 0)], abs=1e-9)


def test_perfect_tracker_scores_100() -> None:
    gt = json.loads((DATA / "synth_smooth_gt.json").read_text())
    pred = [{"image_id": a["image_id"], "video_id": a["video_id"], "category_id": a["category_id"],
             "bbox": a["bbox"], "score": 1.0, "track_id": a["track_id"]} for a in gt["annotations"]]
    out = _teta_dicts(gt, pred)
    assert all(v == pytest.approx(100.0) for v in out.values()), out


def test_empty_predictions_score_zero_and_per_class() -> None:
    g = load_tao_gt(DATA / "edge_gt.json")
    r = load_tao_results(DATA / "edge_pred.json", g)
    empty = r.subset(np.zeros(0, np.int64))
    res = compute_teta(g, empty)
    assert all(v == 0.0 for v in res.summary.values())
    assert set(res.per_class) == {1, 2}


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 10**9))
def test_invariant_to_track_id_renaming(seed: int, offset: int) -> None:
    """Track ids are names: any injective renaming (per video) leaves every number unchanged."""
    pred = json.loads((DATA / "synth_grid_pred.json").read_text())
    ids = sorted({p["track_id"] for p in pred})
    new = np.random.default_rng(seed).permutation(len(ids)) * 7 + offset
    ren = dict(zip(ids, new.tolist(), strict=True))
    pred2 = [dict(p, track_id=ren[p["track_id"]]) for p in pred]
    gt = json.loads((DATA / "synth_grid_gt.json").read_text())
    assert _teta_dicts(gt, pred2) == pytest.approx(OFFICIAL[("synth_grid", 0)], abs=1e-9)


def test_evaluator_and_cli(bench) -> None:
    gt, pred = DATA / "edge_gt.json", DATA / "edge_pred.json"
    out = evaluate("ovmot", gt, pred, hota=False)
    # the edge file's categories carry LVIS frequencies: OVTrack's base/novel rows come after
    assert {k: out[k] for k in FIELDS} == pytest.approx(OFFICIAL[("edge", 0)], abs=1e-6)
    subsets = [k for k in out if "/" in k]
    assert subsets and all(k.split("/")[0] in ("base", "novel") for k in subsets)
    code, stdout, stderr = bench("eval", "--task", "ovmot", "--gt", str(gt), "--pred", str(pred),
                                 "--json")
    assert code == 0, stderr
    got = json.loads(stdout)
    assert list(got) == [*FIELDS, *subsets, "HOTA", "DetA", "AssA"]
    assert got["TETA"] == pytest.approx(OFFICIAL[("edge", 0)]["TETA"], abs=1e-6)
    assert "1 of 16 results are on images without GT boxes" in stderr
    code, stdout, _ = bench("eval", "--task", "ovmot", "--gt", str(gt), "--pred", str(pred),
                            "--json", "--option", "max_dets=1", "--option", "hota=false")
    got = json.loads(stdout)
    assert code == 0 and {k: got[k] for k in FIELDS} == pytest.approx(OFFICIAL[("edge", 1)], abs=1e-6)


def test_cli_bad_prediction_file(bench, tmp_path: Path) -> None:
    bad = tmp_path / "pred.json"
    bad.write_text(json.dumps([{"image_id": 11, "video_id": 1, "category_id": 1,
                                "bbox": [0, 0, 1], "score": 0.5, "track_id": 1}]))
    code, _, stderr = bench("eval", "--task", "ovmot", "--gt", str(DATA / "edge_gt.json"),
                            "--pred", str(bad))
    assert code == 2
    assert str(bad) in stderr and "item 0" in stderr and "bbox" in stderr


def test_cli_needs_gt(bench) -> None:
    code, _, stderr = bench("eval", "--task", "ovmot", "--pred", str(DATA / "edge_pred.json"))
    assert code == 2 and "ovmot needs --gt" in stderr


def test_no_evaluable_class_is_an_error(tmp_path: Path) -> None:
    gt = {"videos": [{"id": 1}], "images": [{"id": 1, "video_id": 1, "frame_index": 0}],
          "annotations": [], "categories": [{"id": 1, "name": "a"}]}
    with pytest.raises(BenchError, match="nothing to evaluate"):
        _teta_dicts(gt, [], tmp_path)


def test_perf_case_quick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The perf case builds its synthetic TAO input deterministically and scores it."""
    monkeypatch.setenv("I2VBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("TETA_REF", str(tmp_path / "no-reference-here"))
    from i2vbench.perf.ovmot import cases

    (case,) = cases(quick=True)
    assert case.reference is None and "reference skipped" in case.note
    first = case.ours()
    assert set(FIELDS) <= set(first) and 0 < first["TETA"] < 100
    gt = (tmp_path / "perf" / "ovmot-quick" / "gt.json").read_bytes()
    (tmp_path / "perf" / "ovmot-quick" / "gt.json").unlink()
    (case,) = cases(quick=True)  # regenerated: byte-identical
    assert (tmp_path / "perf" / "ovmot-quick" / "gt.json").read_bytes() == gt
    assert case.ours() == first
