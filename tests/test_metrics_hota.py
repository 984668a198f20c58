"""HOTA/DetA/AssA parity with the ``trackeval`` package (1.3.0) on TAO.

Expected numbers are literals printed by trackeval run outside the repository on the same files:
``trackeval.datasets.TAO`` (defaults; ``MAX_DETECTIONS`` as given) with ``trackeval.metrics.HOTA``,
``USE_PARALLEL=False``, reading ``res['TAO'][tracker]['COMBINED_SEQ']['cls_comb_cls_av']['HOTA']``
and printing ``100 * mean(field)`` over the alphas.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from i2vbench.datasets.tao import load_tao_gt, load_tao_results
from i2vbench.metrics.hota import HOTA_ALPHAS, hota, hota_files

DATA = Path(__file__).parent / "data" / "ovmot"

TRACKEVAL = {
    ("edge", 300): dict(HOTA=55.4765741887597, DetA=48.181818181818194, AssA=63.88888888888889),
    ("edge", 1): dict(HOTA=60.49029006116508, DetA=53.333333333333336, AssA=75.0),
    ("synth_grid", 300): dict(HOTA=30.850751313362036, DetA=17.608942231491785,
                              AssA=55.87723683475417),
    ("synth_smooth", 300): dict(HOTA=25.858856880436353, DetA=17.530117368767065,
                                AssA=40.90347395982071),
}
# synth_grid with every video's neg_category_ids = [1, 2], not_exhaustive_category_ids = [2, 3]
TRACKEVAL_NEG_NEXH = {
    300: dict(HOTA=42.491630436938664, DetA=34.62523334107256, AssA=56.22870971845983),
    3: dict(HOTA=40.356175047720974, DetA=34.316946634173405, AssA=49.959835103632095),
}


@pytest.mark.parametrize(("case", "max_dets"), sorted(TRACKEVAL))
def test_matches_trackeval(case: str, max_dets: int) -> None:
    got = hota_files(DATA / f"{case}_gt.json", DATA / f"{case}_pred.json", max_dets)
    assert got == pytest.approx(TRACKEVAL[(case, max_dets)], abs=1e-6)


@pytest.mark.parametrize("max_dets", sorted(TRACKEVAL_NEG_NEXH))
def test_negative_and_not_exhaustive_classes(tmp_path: Path, max_dets: int) -> None:
    """Unlike TETA (exhaustive=False), TrackEval's TAO uses both lists: false positives of a
    class count in frames without its GT only if the class is negative for the video (and not
    also not-exhaustive); for a not-exhaustive class, unmatched predictions are dropped."""
    gt = json.loads((DATA / "synth_grid_gt.json").read_text())
    for v in gt["videos"]:
        v["neg_category_ids"], v["not_exhaustive_category_ids"] = [1, 2], [2, 3]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    got = hota_files(tmp_path / "gt.json", DATA / "synth_grid_pred.json", max_dets)
    assert got == pytest.approx(TRACKEVAL_NEG_NEXH[max_dets], abs=1e-6)


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
