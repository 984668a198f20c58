"""VidSTG loaders: the original json (real files), TubeDETR's processed json, VidOR boxes, frame sampling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from i2vbench.datasets.vidstg import gt_boxes, load_vidor_trajectories, load_vidstg, sample_frames
from i2vbench.errors import BenchError
from i2vbench.metrics.evaluate import evaluate


def _loop_sample(start: int, end: int, video_fps: float, fps: float = 5, max_len: int = 200) -> list[int]:
    """TubeDETR's sampling rule written as the plain loop it is (datasets/vidstg.py, vidstg_eval.py)."""
    rate = fps / video_fps
    ids = [start]
    for f in range(start, end):
        if int(ids[-1] * rate) < int(f * rate):
            ids.append(f)
    if len(ids) > max_len:
        ids = [ids[(j * len(ids)) // max_len] for j in range(max_len)]
    return ids


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5000), st.integers(-3, 2500),
                          st.one_of(st.sampled_from([29.97002997002997, 23.976023976023978, 29.97, 24.0, 25.0,
                                                     10.0, 5.0, 29.96969696969697]),
                                    st.floats(0.5, 120.0, allow_nan=False))), min_size=1, max_size=8),
       st.integers(1, 250), st.sampled_from([5.0, 2.0, 1.0]))
def test_sample_frames_equals_tubedetr_loop(rows, max_len: int, target_fps: float) -> None:
    start = np.array([r[0] for r in rows])
    end = start + np.array([r[1] for r in rows])
    fps = np.array([r[2] for r in rows])
    frames, offsets = sample_frames(start, end, fps, target_fps, max_len)
    for i, (s, e, f) in enumerate(zip(start.tolist(), end.tolist(), fps.tolist(), strict=True)):
        assert frames[offsets[i]:offsets[i + 1]].tolist() == _loop_sample(s, e, f, target_fps, max_len)


def test_sample_frames_by_hand() -> None:
    # 25 fps → every 5th frame; an empty segment keeps its start; 30 fps over 1800 frames gives 300
    # frames 0, 6, ..., 1794, capped to 200 as frames[(j * 300) // 200]: indices 0, 1, 3, 4, 6, ..., 298
    frames, off = sample_frames(np.array([0, 7, 0]), np.array([21, 7, 1800]), np.array([25.0, 25.0, 30.0]))
    assert frames[off[0]:off[1]].tolist() == [0, 5, 10, 15, 20]
    assert frames[off[1]:off[2]].tolist() == [7]
    long = frames[off[2]:off[3]].tolist()
    assert len(long) == 200 and long[:6] == [0, 6, 18, 24, 36, 42] and long[-1] == 6 * 298


# ---------------------------------------------------------------- the real VidSTG files

def test_real_original_files(full_annotations: Path) -> None:
    d = full_annotations / "vidstg"
    test = load_vidstg(d / "test_annotations.json")
    # published split sizes (SOURCE.md): 4610 declarative + 5693 interrogative = 10303 test queries
    assert len(test) == 10303 and (test.qtypes == "declarative").sum() == 4610
    assert not test.has_boxes and test.meta["format"] == "vidstg"
    # TubeDETR's numbering: per entry questions first, then the caption (entry 0 has one of each)
    assert test.video_ids[:2] == ["0", "1"] and test.qtypes[:2].tolist() == ["interrogative", "declarative"]
    assert test.captions[0] == "what walks in front of a man in white?"
    raw = json.loads((d / "test_annotations.json").read_text())
    n_quirk = sum((len(e["questions"]) + len(e["captions"])) * (e["temporal_gt"]["end_fid"] > e["used_segment"]["end_fid"])
                  for e in raw)
    assert int((test.tube_end > test.end_frame).sum()) == n_quirk  # kept as is: both ends are exclusive
    val = load_vidstg(d / "val_annotations.json")
    assert len(val) == 8956 and (val.qtypes == "interrogative").sum() == 4960


def test_real_file_as_gt_scores_tiou(full_annotations: Path, tmp_path: Path, bench) -> None:
    gt = full_annotations / "vidstg" / "test_annotations.json"
    ann = load_vidstg(gt)
    videos = [{"video_id": int(v), "sted": [int(s), int(e)], "qtype": q}
              for v, s, e, q in zip(ann.video_ids, ann.tube_start, ann.tube_end, ann.qtypes, strict=True)]
    # query 0: GT [0, 390); predict [195, 585) → tIoU = 195 / 585 = 1/3 (hand-computed)
    assert (videos[0]["sted"]) == [0, 390]
    videos[0]["sted"] = [195, 585]
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"videos": videos, "boxes": []}))
    code, out, err = bench("eval", "--task", "stvg", "--gt", str(gt), "--pred", str(pred), "--json")
    assert code == 0, err
    got = json.loads(out)
    assert set(got) == {"m_tIoU", "declarative/m_tIoU", "interrogative/m_tIoU"}
    assert got["m_tIoU"] == pytest.approx(100 * (10302 + 1 / 3) / 10303, abs=1e-9)
    assert got["interrogative/m_tIoU"] == pytest.approx(100 * (5692 + 1 / 3) / 5693, abs=1e-9)
    assert got["declarative/m_tIoU"] == 100.0
    assert "only m_tIoU" in err and "trajectories" in err


# ---------------------------------------------------------------- original + VidOR boxes == TubeDETR form

def _box(tid: int, f: int) -> dict:
    return {"xmin": 10 + tid + f % 13, "ymin": 5 + f % 7, "xmax": 60 + tid + f % 13, "ymax": 45 + f % 7}


@pytest.fixture
def both_forms(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """The same two VidSTG entries as an original json + VidOR folder, and in TubeDETR's form."""
    entries = [
        {"vid": "111", "fps": 29.97002997002997, "frame_count": 300, "width": 640, "height": 360,
         "used_segment": {"begin_fid": 0, "end_fid": 299}, "temporal_gt": {"begin_fid": 40, "end_fid": 300},
         "subject/objects": [{"tid": 0, "category": "adult"}, {"tid": 1, "category": "dog"}],
         "used_relation": {"subject_tid": 0, "object_tid": 1, "predicate": "watch", "begin_fid": 40, "end_fid": 300},
         "captions": [{"description": "an adult watches a dog.", "type": "person", "target_id": 0}],
         "questions": [{"description": "who watches a dog?", "type": "person", "target_id": 0},
                       {"description": "what is watched by an adult?", "type": "object", "target_id": 1}]},
        {"vid": "222", "fps": 25, "frame_count": 120, "width": 320, "height": 240,
         "used_segment": {"begin_fid": 10, "end_fid": 119}, "temporal_gt": {"begin_fid": 20, "end_fid": 90},
         "subject/objects": [{"tid": 3, "category": "cat"}],
         "used_relation": {"subject_tid": 3, "object_tid": 3, "predicate": "x", "begin_fid": 20, "end_fid": 90},
         "captions": [{"description": "a cat.", "type": "object", "target_id": 3}], "questions": []},
    ]
    orig = tmp_path / "test_annotations.json"
    orig.write_text(json.dumps(entries))
    vidor = tmp_path / "vidor" / "validation"
    tubes = {"111": (300, (0, 1)), "222": (120, (3,))}
    for vid, (n_frames, tids) in tubes.items():
        (vidor / "0001").mkdir(parents=True, exist_ok=True)
        traj = [[{"tid": t, "bbox": _box(t, f), "generated": 0, "tracker": "x"} for t in tids] for f in range(n_frames)]
        (vidor / "0001" / f"{vid}.json").write_text(json.dumps({"video_id": vid, "trajectories": traj}))
    videos, traj_out = [], {}
    for e in entries:
        for field, qtype in (("questions", "interrogative"), ("captions", "declarative")):
            for s in e[field]:
                videos.append({"video_id": len(videos), "original_video_id": e["vid"], "fps": e["fps"],
                               "start_frame": e["used_segment"]["begin_fid"], "end_frame": e["used_segment"]["end_fid"],
                               "tube_start_frame": e["temporal_gt"]["begin_fid"],
                               "tube_end_frame": e["temporal_gt"]["end_fid"], "target_id": s["target_id"],
                               "qtype": qtype, "caption": s["description"]})
                n_frames = tubes[e["vid"]][0]
                traj_out.setdefault(e["vid"], {})[str(s["target_id"])] = {
                    str(f): {"bbox": [b["xmin"], b["ymin"], b["xmax"] - b["xmin"], b["ymax"] - b["ymin"]]}
                    for f in range(n_frames) for b in [_box(s["target_id"], f)]}
    processed = tmp_path / "test.json"
    processed.write_text(json.dumps({"videos": videos, "trajectories": traj_out}))
    # a prediction: moments around the GT, boxes shifted by 3 px on every sampled frame
    ann = load_vidstg(processed)
    frames, off = sample_frames(ann.start_frame, ann.end_frame, ann.fps)
    pv, pb = [], []
    for i, v in enumerate(videos):
        pv.append({"video_id": v["video_id"], "sted": [v["tube_start_frame"] + 12, v["tube_end_frame"] - 4]})
        for f in frames[off[i]:off[i + 1]].tolist():
            b = _box(v["target_id"], f)
            pb.append({"image_id": f"{i}_{f}", "boxes": [[b["xmin"] + 3, b["ymin"], b["xmax"] + 3, b["ymax"]]]})
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"videos": pv, "boxes": pb}))
    return orig, vidor.parent, processed, pred


def test_original_with_vidor_equals_processed(both_forms, tmp_path: Path, bench) -> None:
    orig, vidor, processed, pred = both_forms
    a, b = load_vidstg(orig, trajectories=vidor), load_vidstg(processed)
    assert a.video_ids == b.video_ids == ["0", "1", "2", "3"]
    assert a.qtypes.tolist() == b.qtypes.tolist() == ["interrogative", "interrogative", "declarative", "declarative"]
    for col in ("target_ids", "fps", "start_frame", "end_frame", "tube_start", "tube_end"):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col))
    frames, off = sample_frames(a.start_frame, a.end_frame, a.fps)
    ia, ba = gt_boxes(a, frames, off)
    ib, bb = gt_boxes(b, frames, off)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(ba, bb)
    ref = evaluate("stvg", processed, pred)
    assert ref["m_vIoU"] > 0 and ref["m_tIoU"] > 0
    code, out, err = bench("eval", "--task", "stvg", "--gt", str(orig), "--pred", str(pred), "--json",
                           "--option", f"trajectories={vidor}")
    assert code == 0, err
    assert json.loads(out) == ref
    # TubeDETR's vidor_validation.json form of the same boxes
    vj = tmp_path / "vidor_validation.json"
    vj.write_text(json.dumps({vid: {"trajectories": t} for vid, t in load_vidor_trajectories(vidor).items()}))
    assert evaluate("stvg", orig, pred, trajectories=vj) == ref


def test_gt_box_missing_on_a_sampled_frame(both_forms, tmp_path: Path) -> None:
    _, _, processed, pred = both_forms
    data = json.loads(processed.read_text())
    del data["trajectories"]["222"]["3"]["20"]
    p = tmp_path / "gt_hole.json"
    p.write_text(json.dumps(data))
    with pytest.raises(BenchError, match=r"gt_hole.json \[trajectories\['222'\]\['3'\]\['20'\]\].*frame 20.*query '3'"):
        evaluate("stvg", p, pred)


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda d: d[0].pop("used_segment"), r"\[\[0\]\.used_segment\]: expected this field"),
    (lambda d: d[1]["captions"][0].pop("target_id"), r"\[\[1\]\.captions\[0\]\]"),
    (lambda d: d[1].__setitem__("fps", 0), r"\[\[1\]\.fps\]: expected a positive frame rate"),
    (lambda d: d[0]["temporal_gt"].__setitem__("end_fid", "12"), r"temporal_gt.end_fid\]: expected a non-negative integer"),
])
def test_malformed_original(both_forms, tmp_path: Path, mutate, match: str) -> None:
    orig = both_forms[0]
    data = json.loads(orig.read_text())
    mutate(data)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(data))
    with pytest.raises(BenchError, match=match):
        load_vidstg(p)


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda d: d["videos"][1].pop("tube_end_frame"), r"videos\[1\]\.tube_end_frame\]: expected this field"),
    (lambda d: d["videos"][2].__setitem__("qtype", "imperative"), r"videos\[2\]\.qtype"),
    (lambda d: d["videos"][3].__setitem__("video_id", 0), r"videos\[3\]\.video_id\]: duplicate query id '0'"),
    (lambda d: d.__setitem__("trajectories", []), r"\[trajectories\]"),
])
def test_malformed_processed(both_forms, tmp_path: Path, mutate, match: str) -> None:
    processed = both_forms[2]
    data = json.loads(processed.read_text())
    mutate(data)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(data))
    with pytest.raises(BenchError, match=match):
        load_vidstg(p)


def test_low_fps_is_an_error(both_forms, tmp_path: Path) -> None:
    _, _, processed, pred = both_forms
    data = json.loads(processed.read_text())
    data["videos"][3]["fps"] = 4
    p = tmp_path / "lowfps.json"
    p.write_text(json.dumps(data))
    with pytest.raises(BenchError, match=r"video '3'.*fps 4.0 is below the sampling rate 5.0"):
        evaluate("stvg", p, pred)


def test_registered_dataset() -> None:
    from i2vbench.datasets.registry import DATASETS

    spec = DATASETS.get("vidstg")
    assert spec.tasks == ("stvg",) and spec.load is load_vidstg


def test_malformed_gt_bbox(both_forms, tmp_path: Path) -> None:
    _, _, processed, pred = both_forms
    data = json.loads(processed.read_text())
    data["trajectories"]["222"]["3"]["25"]["bbox"] = [1, 2, "w", 4]
    p = tmp_path / "gt_bad_box.json"
    p.write_text(json.dumps(data))
    with pytest.raises(BenchError, match=r"gt_bad_box.json \[trajectories\['222'\]\].*on frame 25, got \[1, 2, 'w', 4\]"):
        evaluate("stvg", p, pred)


@pytest.mark.parametrize("change,message", [
    (lambda e: e["used_segment"].update(end_fid=10**9), r"used_segment.end_fid\]: expected a non-negative integer \(at most"),
    (lambda e: e["temporal_gt"].update(begin_fid=300, end_fid=100), r"GT tube ends before it starts \(300 > 100\)"),
    (lambda e: e.update(fps=1e308), "positive frame rate"),
])
def test_budgets_before_sampling(tmp_path, change, message):
    """A 1e9-frame range once allocated gigabytes in frame sampling before any check."""
    e = {"vid": "v", "fps": 30.0, "frame_count": 600, "used_segment": {"begin_fid": 0, "end_fid": 500},
         "temporal_gt": {"begin_fid": 10, "end_fid": 200}, "captions": [{"description": "x", "target_id": 0}],
         "questions": []}
    change(e)
    (tmp_path / "gt.json").write_text(json.dumps([e]))
    with pytest.raises(BenchError, match=message):
        load_vidstg(tmp_path / "gt.json")
