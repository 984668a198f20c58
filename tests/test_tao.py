"""TAO loaders: the real mmtracking excerpt, result files of every shape, located errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import i2vbench.datasets.tao as tao
from i2vbench.datasets.tao import load_tao_gt, load_tao_results
from i2vbench.errors import BenchError
from i2vbench.metrics.teta import teta

DATA = Path(__file__).parent / "data" / "ovmot"


def test_real_tao_excerpt(annotations: Path, tmp_path: Path) -> None:
    """mmtracking's demo TAO file: 1 video, 2 annotated frames, 4 boxes; category 95 is used
    but not listed (so only 805 is evaluated); licenses is a list of strings."""
    path = annotations / "tao" / "mmtracking_demo_tao_data" / "ann.json"
    gt = load_tao_gt(path)
    assert gt.video_names == ["train/YFCC100M/v_f69ebe5b731d3e87c1a3992ee39c3b7e"]
    assert gt.frame_index.tolist() == [390, 420]
    assert len(gt.box_frame) == 4 and sorted(set(gt.box_track.tolist())) == [1, 3]
    assert gt.evaluated_category_ids == [805]
    assert gt.neg_category_ids[0] == [342, 57, 651, 357, 738]
    # its own boxes as results: a perfect tracker for the one evaluated class
    raw = json.loads(path.read_text())
    pred = [{"image_id": a["image_id"], "video_id": a["video_id"], "category_id": a["category_id"],
             "bbox": a["bbox"], "score": 0.9, "track_id": a["track_id"]}
            for a in raw["annotations"]]
    (tmp_path / "pred.json").write_text(json.dumps(pred))
    out = teta(gt, load_tao_results(tmp_path / "pred.json", gt))
    assert out["TETA"] == pytest.approx(100.0)


def test_result_columns_and_order() -> None:
    gt = load_tao_gt(DATA / "edge_gt.json")
    r = load_tao_results(DATA / "edge_pred.json", gt)
    assert r.boxes.dtype == np.float64 and r.boxes.shape == (15, 4)
    assert (np.diff(r.box_frame) >= 0).all()  # grouped by frame ...
    for f in np.unique(r.box_frame):  # ... keeping file order within a frame
        assert (np.diff(r.file_index[r.box_frame == f]) > 0).all()


def test_limit_per_image_keeps_top_scores_stably() -> None:
    gt = load_tao_gt(DATA / "edge_gt.json")
    r = load_tao_results(DATA / "edge_pred.json", gt)
    lim = r.limit_per_image(2)
    f11 = np.flatnonzero(gt.image_ids == 11)[0]
    # image 11 had 4 results with scores .9, .9, .8, .6: the two .9 stay, in file order
    sel = lim.box_frame == f11
    assert lim.scores[sel].tolist() == [0.9, 0.9]
    assert lim.file_index[sel].tolist() == sorted(lim.file_index[sel].tolist())
    assert r.limit_per_image(0) is r and r.limit_per_image(300) is r


def test_chunked_parsing_equals_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Results are parsed in pieces cut at '},{'; any cut gives the same columns, and a string
    holding '},{' (a bad cut) falls back to one whole parse."""
    gt = load_tao_gt(DATA / "synth_grid_gt.json")
    whole = load_tao_results(DATA / "synth_grid_pred.json", gt)
    pieces = tao._json_list_pieces
    monkeypatch.setattr(tao, "_json_list_pieces", lambda raw, path: pieces(raw, path, 200))
    for src in (DATA / "synth_grid_pred.json",):
        cut = load_tao_results(src, gt)
        for k in ("box_frame", "box_track", "box_category", "boxes", "scores", "file_index"):
            assert np.array_equal(getattr(cut, k), getattr(whole, k)), k
    res = json.loads((DATA / "synth_grid_pred.json").read_text())
    for i in range(0, len(res), 7):
        res[i]["note"] = "},{"
    p = tmp_path / "odd.json"
    p.write_text(json.dumps(res))
    odd = load_tao_results(p, gt)
    assert np.array_equal(odd.boxes, whole.boxes)


def _gt(tmp_path: Path, mutate) -> Path:
    gt = json.loads((DATA / "edge_gt.json").read_text())
    mutate(gt)
    p = tmp_path / "gt.json"
    p.write_text(json.dumps(gt))
    return p


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda g: g.pop("annotations"), "missing key 'annotations'"),
    (lambda g: g["annotations"][3].pop("track_id"), "annotations[3]]: missing key 'track_id'"),
    (lambda g: g["annotations"][0].update(image_id=999), "annotations[0]]: unknown image_id 999"),
    (lambda g: g["annotations"][0].update(bbox=[1, 2, 3]), "annotations[0]]: bbox must be"),
    (lambda g: g["images"][0].update(video_id=77), "images[0]]: unknown video_id 77"),
    (lambda g: g["annotations"][1].update(image_id=11), "GT track_id 100 occurs more than once"),
    (lambda g: g["annotations"][0].update(video_id=2), "video_id 2 but image 11 belongs"),
    (lambda g: g["categories"].append({"id": 9, "name": "dog"}), "duplicate category name 'dog'"),
    (lambda g: g["categories"].append({"id": 1, "name": "x"}), "duplicate category id 1"),
])
def test_malformed_gt(tmp_path: Path, mutate, message: str) -> None:
    p = _gt(tmp_path, mutate)
    with pytest.raises(BenchError) as e:
        load_tao_gt(p)
    assert str(p) in str(e.value)
    assert message in str(e.value)


@pytest.mark.parametrize(("item", "message"), [
    ({"video_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1, "track_id": 1},
     "[item 1]: missing key 'image_id'"),
    ({"image_id": 11, "category_id": 1, "bbox": [0, 0, 1, 1], "score": "high", "track_id": 1},
     "[item 1]: score must be a number"),
    ({"image_id": 11, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1, "track_id": "7"},
     "[item 1]: track_id must be a number"),
    ({"image_id": 11, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1, "track_id": 1.5},
     "[item 1]: track_id must be an integer"),
    ({"image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1, "track_id": 5},
     "[item 1]: unknown image_id 99"),
    ({"image_id": 11, "video_id": 3, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1,
      "track_id": 5}, "[item 1]: video_id 3 but image 11 belongs to video 1"),
    ({"image_id": 11, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1, "track_id": 1},
     "result track_id 1 occurs more than once in image 11"),
    ({"image_id": 11, "category_id": 1, "bbox": [0, 0, "x", 1], "score": 1, "track_id": 2},
     "[item 1]: bbox must be [x, y, w, h] numbers"),
])
def test_malformed_results(tmp_path: Path, item: dict, message: str) -> None:
    gt = load_tao_gt(DATA / "edge_gt.json")
    first = {"image_id": 11, "video_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10],
             "score": 0.5, "track_id": 1}
    p = tmp_path / "pred.json"
    p.write_text(json.dumps([first, item]))
    with pytest.raises(BenchError) as e:
        load_tao_results(p, gt)
    assert str(p) in str(e.value) and message in str(e.value)


@pytest.mark.parametrize(("text", "message"), [
    ('{"image_id": 1}', "expected a JSON list"),
    ("[{]", "malformed JSON"),
    ("[1, 2]", "[item 0]: expected a result object"),
])
def test_results_not_a_list_of_objects(tmp_path: Path, text: str, message: str) -> None:
    gt = load_tao_gt(DATA / "edge_gt.json")
    p = tmp_path / "pred.json"
    p.write_text(text)
    with pytest.raises(BenchError) as e:
        load_tao_results(p, gt)
    assert str(p) in str(e.value) and message in str(e.value)


def test_empty_results_file(tmp_path: Path) -> None:
    gt = load_tao_gt(DATA / "edge_gt.json")
    p = tmp_path / "pred.json"
    p.write_text("[]")
    r = load_tao_results(p, gt)
    assert len(r.box_frame) == 0
    assert teta(gt, r)["TETA"] == 0.0
