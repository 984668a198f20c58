"""SynthVid TVG benchmark: Charades-STA format (train/val/test), determinism, videos matching the boxes.

The generic writer (cache, reuse checks, atomic build, shared scene pool) is tested in
test_synthvid_writer.py; this file tests what TVG adds.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from i2vbench.datasets.charades_sta import load_charades_sta, load_durations
from i2vbench.datasets.synthvid import COLORS, SHAPES, VOCABULARY, tokenize
from i2vbench.datasets.synthvid.codec import decode
from i2vbench.datasets.synthvid.tvg import CSV_HEADER, TVG, TVGConfig, build_tvg
from i2vbench.datasets.synthvid.world import OPPOSITE, RGB
from i2vbench.errors import BenchError

LINE = re.compile(r"^(\S+) (\d+\.\d) (\d+\.\d)##([a-z ]+\.)$")
SPLITS = ("train", "val", "test")
SMALL = {"seed": 3, "n_train": 5, "n_val": 3, "n_test": 4, "progress": False}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sv") / "a"
    build_tvg(root, **SMALL, workers=1)
    return root


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_layout_and_charades_sta_syntax(small: Path):
    ds = build_tvg(small, **SMALL)  # reused, not rebuilt
    assert ds.root == small and ds.fps == 4.0
    assert [ds.counts[s]["videos"] for s in SPLITS] == [5, 3, 4]
    for split in SPLITS:
        assert ds.txt(split).name == f"charades_sta_{split}.txt"
        assert ds.durations_csv(split).name == f"Charades_v1_{split}.csv"
        raw = ds.txt(split).read_bytes()
        assert raw.endswith(b"\n") and b"\r" not in raw
        durations = {}
        with ds.durations_csv(split).open(newline="") as f:
            rows = list(csv.reader(f))
        assert tuple(rows[0]) == CSV_HEADER
        assert ds.durations_csv(split).read_bytes().count(b"\r\n") == len(rows)  # CRLF like the real csv
        for r in rows[1:]:
            durations[r[0]] = float(r[-1])
        for line in raw.decode().splitlines():
            m = LINE.match(line)
            assert m, line
            vid, st, en, sent = m[1], float(m[2]), float(m[3]), m[4]
            assert 0 <= st < en <= durations[vid]
            assert set(tokenize(sent)) <= set(VOCABULARY)
            assert (ds.videos_dir / f"{vid}.mp4").is_file()
        assert len(durations) == ds.counts[split]["videos"]


def test_val_split_with_the_real_loaders(small: Path):
    """The val files are Charades-STA files like the others: the real loaders read all three."""
    ds = build_tvg(small, **SMALL)
    seen: set[str] = set()
    for split in SPLITS:
        durations = load_durations(ds.durations_csv(split))
        moments = load_charades_sta(ds.txt(split), durations)
        assert len(moments) == ds.counts[split]["queries"] == len(ds.txt(split).read_text().splitlines())
        assert [m.qid for m in moments] == [f"{split}{i}" for i in range(len(moments))]
        scenes = {vid: scene for vid, _, scene, _ in ds.scenes(split)}
        assert durations == pytest.approx({vid: s.duration for vid, s in scenes.items()})
        assert {m.vid for m in moments} <= set(scenes) and not seen & set(scenes)
        seen |= set(scenes)
    assert ds.val_txt == ds.txt("val") and ds.val_durations_csv == ds.durations_csv("val")
    with pytest.raises(BenchError, match="unknown split 'dev'"):
        ds.txt("dev")


def test_same_seed_gives_byte_identical_files_whatever_the_workers(small: Path, tmp_path: Path):
    again = build_tvg(tmp_path / "b", **SMALL, workers=2)
    names = sorted(p.name for p in small.iterdir() if p.is_file())
    assert len(names) == 8  # 3 txt + 3 csv + scenes.jsonl + meta.json
    for n in names:
        assert _sha(small / n) == _sha(again.root / n), n
    for v in sorted((small / "videos").iterdir()):  # the videos too (libx264, one thread)
        assert _sha(v) == _sha(again.videos_dir / v.name), v.name
    other = build_tvg(tmp_path / "c", **{**SMALL, "seed": 4}, workers=1)
    assert _sha(small / "charades_sta_val.txt") != _sha(other.root / "charades_sta_val.txt")


def test_decoded_video_matches_scene_boxes(small: Path):
    ds = build_tvg(small, **SMALL)
    vid, _, scene, queries = next(ds.scenes("test"))
    frames = decode(ds.video(vid))
    assert frames.shape == (scene.n_frames, 64, 64, 3)
    assert queries and all(q["end"] <= scene.duration for q in queries)
    boxes, vis = scene.boxes, scene.visibility
    assert boxes.shape == (scene.n_frames, len(scene.objects), 4) and vis.shape == boxes.shape[:2]
    checked = 0
    half_shutter = scene.exposure_s / 2
    for t in range(0, scene.n_frames, 7):
        for j, o in enumerate(scene.objects):
            # only the top-most object, fully opaque, so nothing occludes it, and still during
            # the whole exposure (the camera blurs a moving object along its path)
            moving = any(e.obj == j and e.start - half_shutter <= scene.times[t] <= e.end + half_shutter
                         for e in scene.events)
            if j != len(scene.objects) - 1 or scene.alpha[t, j] < 1 or moving:
                continue
            near = np.linalg.norm(frames[t].astype(np.float32) - RGB[o.color], axis=-1) < 45
            ys, xs = np.nonzero(near)
            assert xs.size > 5
            x1, y1, x2, y2 = boxes[t, j]
            inside = (xs + 0.5 >= x1 - 1.5) & (xs + 0.5 <= x2 + 1.5) & (ys + 0.5 >= y1 - 1.5) & (ys + 0.5 <= y2 + 1.5)
            # other objects of the same colour may exist: most colour pixels inside the box
            # must cover the box, and the box must be filled with the colour
            box_px = (np.floor(x2) - np.ceil(x1)) * (np.floor(y2) - np.ceil(y1))
            assert inside.sum() >= 0.35 * box_px, (vid, t, j)
            assert abs(xs[inside].mean() + 0.5 - scene.cx[t, j]) < 2.5 or o.shape == SHAPES.index("ring")
            checked += 1
    assert checked >= 3


def test_queries_need_time_and_identify_one_window():
    cfg = TVGConfig()
    same_motion_other_object = opposite_same_object = 0
    for i in range(60):
        scene, ann = TVG.video(0, "train", i, cfg)
        queries = ann["queries"]
        names = [(o.color, o.shape) for o in scene.objects]
        assert len(set(names)) == len(names)  # colour + shape names an object uniquely
        pairs = [(e.obj, e.motion) for e in scene.events]
        assert len(set(pairs)) == len(pairs)  # so (object, motion) names one window
        assert 3 <= len(scene.objects) <= 4 and 2 <= len(queries) <= 4
        for a, b in zip(scene.events, scene.events[1:], strict=False):
            assert b.start >= a.end
        for q in queries:
            e = scene.events[q["event"]]
            o = scene.objects[e.obj]
            assert f"{COLORS[o.color]} {SHAPES[o.shape]}" in q["sentence"]
            assert (q["start"], q["end"]) == (e.start, e.end)
        motions = Counter(e.motion for e in scene.events)
        same_motion_other_object += any(c > 1 for c in motions.values())
        opposite_same_object += any((e.obj, OPPOSITE.get(e.motion)) in pairs for e in scene.events)
    assert same_motion_other_object >= 15 and opposite_same_object >= 15


def test_motion_is_in_the_pixels():
    """A 'move left' event: the object's box centre goes left over the window, not outside it."""
    for i in range(30):
        scene, _ = TVG.video(1, "train", i, TVGConfig())
        for e in scene.events:
            if e.motion not in ("move left", "move right"):
                continue
            t = scene.times
            inside = (t >= e.start) & (t <= e.end)
            before, after = t < e.start, t > e.end
            cx = scene.cx[:, e.obj]
            if before.any() and after.any():
                d = cx[after][0] - cx[before][-1]
                assert (d < -10) if e.motion == "move left" else (d > 10)
                assert np.ptp(cx[before]) < 1e-3 or any(
                    x.obj == e.obj and x.end <= e.start and x.motion in ("move left", "move right")
                    for x in scene.events)
            assert inside.any()
            return
    pytest.fail("no horizontal move found")


def test_reuse_needs_the_same_seed_and_counts(small: Path):
    with pytest.raises(BenchError, match="different seed"):
        build_tvg(small, **{**SMALL, "seed": 99})
    with pytest.raises(BenchError, match="different config"):
        build_tvg(small, **{**SMALL, "n_val": 4})


def test_default_root_in_cache_and_registry(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("I2VBENCH_CACHE", str(tmp_path))
    from i2vbench.datasets.registry import load_all

    spec = load_all().get("synthvid")
    assert spec.tasks == ("tvg",)
    ds = spec.load(seed=0, n_train=2, n_val=1, n_test=1, progress=False)
    assert ds.root.parent == tmp_path / "synthvid" and ds.root.name.startswith("tvg-")
    assert spec.load(seed=0, n_train=2, n_val=1, n_test=1, progress=False).root == ds.root


def test_module_entry_point(tmp_path: Path, capsys):
    from i2vbench.datasets.synthvid.__main__ import main

    args = ["--out", str(tmp_path / "e"), "--n-train", "2", "--n-val", "1", "--n-test", "1", "--quiet"]
    assert main(["--task", "tvg", *args, "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "train 2 videos" in out and "val 1 videos" in out and "queries" in out
    assert main([*args, "--seed", "2"]) == 2


def test_bench_lists_synthvid(bench):
    code, out, _ = bench("list", "datasets")
    assert code == 0 and "synthvid" in out
