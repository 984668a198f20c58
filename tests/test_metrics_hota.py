"""HOTA/DetA/AssA parity with the ``trackeval`` package (1.3.0) on TAO, called live.

The reference is trackeval itself, run in this process on the same files (it is in the test extra;
without it this module fails to import, it does not skip): ``trackeval.datasets.TAO`` (defaults;
``MAX_DETECTIONS`` as given) with ``trackeval.metrics.HOTA``, ``USE_PARALLEL=False``, reading
``res['TAO'][tracker]['COMBINED_SEQ']['cls_comb_cls_av']['HOTA']`` as ``100 * mean(field)`` over the
alphas — the engine ``bench eval --engine official`` runs (``i2vbench.metrics.evaluate``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trackeval  # noqa: F401  (the reference: a missing package fails this module, never skips it)

from i2vbench.datasets.tao import load_tao_gt, load_tao_results
from i2vbench.metrics.hota import HOTA_ALPHAS, hota, hota_files

DATA = Path(__file__).parent / "data" / "ovmot"

CASES = [("edge", 300), ("edge", 1), ("synth_grid", 300), ("synth_smooth", 300)]


def _trackeval(gt: Path, pred: Path, max_dets: int) -> dict[str, float]:
    from i2vbench.metrics.evaluate import official_evaluate

    return official_evaluate("ovmot", gt, pred, hota_max_dets=max_dets)


@pytest.mark.parametrize(("case", "max_dets"), CASES)
def test_matches_trackeval(case: str, max_dets: int) -> None:
    gt, pred = DATA / f"{case}_gt.json", DATA / f"{case}_pred.json"
    got = hota_files(gt, pred, max_dets)
    want = _trackeval(gt, pred, max_dets)
    assert set(want) == {"HOTA", "DetA", "AssA"} and 0 < want["HOTA"] < 100
    assert got == pytest.approx(want, abs=1e-9)


@pytest.mark.parametrize("max_dets", [300, 3])
def test_negative_and_not_exhaustive_classes(tmp_path: Path, max_dets: int) -> None:
    """Unlike TETA (exhaustive=False), TrackEval's TAO uses both lists: false positives of a
    class count in frames without its GT only if the class is negative for the video (and not
    also not-exhaustive); for a not-exhaustive class, unmatched predictions are dropped."""
    gt = json.loads((DATA / "synth_grid_gt.json").read_text())
    for v in gt["videos"]:
        v["neg_category_ids"], v["not_exhaustive_category_ids"] = [1, 2], [2, 3]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    pred = DATA / "synth_grid_pred.json"
    got = hota_files(tmp_path / "gt.json", pred, max_dets)
    want = _trackeval(tmp_path / "gt.json", pred, max_dets)
    assert got == pytest.approx(want, abs=1e-9)
    # the lists change the number (so this case tests them)
    assert want["HOTA"] != pytest.approx(_trackeval(DATA / "synth_grid_gt.json", pred, max_dets)["HOTA"])


def test_perfect_tracker_and_alphas() -> None:
    gt = load_tao_gt(DATA / "synth_smooth_gt.json")
    raw = json.loads((DATA / "synth_smooth_gt.json").read_text())["annotations"]
    pred = [{"image_id": a["image_id"], "video_id": a["video_id"], "category_id": a["category_id"],
             "bbox": a["bbox"], "score": 1.0, "track_id": a["track_id"]} for a in raw]
    import tempfile

    p = Path(tempfile.mkdtemp()) / "pred.json"
    p.write_text(json.dumps(pred))
    assert hota(gt, load_tao_results(p, gt)) == pytest.approx(
        {"HOTA": 100.0, "DetA": 100.0, "AssA": 100.0})
    assert len(HOTA_ALPHAS) == 19 and HOTA_ALPHAS[0] == 0.05
