"""SynthVid TVG benchmark: Charades-STA format, determinism, decoded videos matching the boxes."""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from i2vbench.datasets.synthvid import COLORS, SHAPES, VOCABULARY, tokenize
from i2vbench.datasets.synthvid.codec import decode
from i2vbench.datasets.synthvid.tvg import CSV_HEADER, TVGConfig, _video, build_tvg
from i2vbench.datasets.synthvid.world import OPPOSITE, RGB
from i2vbench.errors import BenchError

LINE = re.compile(r"^(\S+) (\d+\.\d) (\d+\.\d)##([a-z ]+\.)$")


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sv") / "a"
    build_tvg(root, seed=3, n_train=6, n_test=4, progress=False, workers=1)
    return root


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_layout_and_charades_sta_syntax(small: Path):
    ds = build_tvg(small, seed=3, n_train=6, n_test=4, progress=False)  # reused, not rebuilt
    assert ds.root == small and ds.fps == 4.0 and ds.counts["train"]["videos"] == 6
    for split in ("train", "test"):
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


def test_same_seed_gives_byte_identical_annotations(small: Path, tmp_path: Path):
    again = build_tvg(tmp_path / "b", seed=3, n_train=6, n_test=4, progress=False, workers=2)
    names = ["charades_sta_train.txt", "charades_sta_test.txt", "Charades_v1_train.csv",
             "Charades_v1_test.csv", "scenes.jsonl", "meta.json"]
    for n in names:
        assert _sha(small / n) == _sha(again.root / n), n
    for v in sorted((small / "videos").iterdir()):  # the videos too (libx264, one thread)
        assert _sha(v) == _sha(again.videos_dir / v.name), v.name
    other = build_tvg(tmp_path / "c", seed=4, n_train=6, n_test=4, progress=False, workers=1)
    assert _sha(small / names[0]) != _sha(other.root / names[0])


def test_decoded_video_matches_scene_boxes(small: Path):
    ds = build_tvg(small, seed=3, n_train=6, n_test=4, progress=False)
    vid, _, scene, queries = next(ds.scenes("test"))
    frames = decode(ds.video(vid))
    assert frames.shape == (scene.n_frames, 64, 64, 3)
    assert queries and all(q["end"] <= scene.duration for q in queries)
    boxes, vis = scene.boxes, scene.visibility
    assert boxes.shape == (scene.n_frames, len(scene.objects), 4) and vis.shape == boxes.shape[:2]
    checked = 0
    for t in range(0, scene.n_frames, 7):
        for j, o in enumerate(scene.objects):
            # only the top-most object, fully opaque, so nothing occludes it
            if j != len(scene.objects) - 1 or scene.alpha[t, j] < 1:
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
        scene, queries = _video(0, "train", i, cfg)
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
        scene, _ = _video(1, "train", i, TVGConfig())
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


def test_errors_and_reuse(small: Path, tmp_path: Path):
    with pytest.raises(BenchError, match="different generator version, seed or config"):
        build_tvg(small, seed=99, n_train=6, n_test=4, progress=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x").write_text("x")
    with pytest.raises(BenchError, match="not a SynthVid benchmark"):
        build_tvg(tmp_path / "junk", n_train=1, n_test=1, progress=False)
    with pytest.raises(BenchError, match="not a SynthVid benchmark"):
        build_tvg(tmp_path / "junk", n_train=1, n_test=1, progress=False, force=True)


def test_interrupted_build_leaves_nothing(tmp_path: Path, monkeypatch):
    import i2vbench.datasets.synthvid.tvg as tvg

    def boom(records):
        raise KeyboardInterrupt

    monkeypatch.setattr(tvg, "_csv", boom)
    with pytest.raises(KeyboardInterrupt):
        build_tvg(tmp_path / "d", n_train=2, n_test=1, progress=False, workers=1)
    assert list(tmp_path.iterdir()) == []


def test_default_root_in_cache_and_registry(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("I2VBENCH_CACHE", str(tmp_path))
    from i2vbench.datasets.registry import load_all

    spec = load_all().get("synthvid")
    assert spec.tasks == ("tvg",)
    ds = spec.load(seed=0, n_train=2, n_test=1, progress=False)
    assert ds.root.parent == tmp_path / "synthvid" and ds.root.name.startswith("tvg-")
    assert spec.load(seed=0, n_train=2, n_test=1, progress=False).root == ds.root


def test_charades_loader_reads_it(small: Path):
    """The real Charades-STA loader reads the generated files (when it is present)."""
    cs = pytest.importorskip("i2vbench.datasets.charades_sta")
    if not hasattr(cs, "load_charades_sta"):
        pytest.skip("Charades-STA loader not there yet")
    moments = cs.load_charades_sta(small / "charades_sta_test.txt", small / "Charades_v1_test.csv")
    n = sum(1 for _ in (small / "charades_sta_test.txt").open())
    assert len(moments) == n


def test_module_entry_point(tmp_path: Path, capsys):
    from i2vbench.datasets.synthvid.__main__ import main

    assert main(["--task", "tvg", "--out", str(tmp_path / "e"), "--seed", "1", "--n-train", "2",
                 "--n-test", "1", "--quiet"]) == 0
    assert "train 2 videos" in capsys.readouterr().out
    assert main(["--out", str(tmp_path / "e"), "--seed", "2", "--n-train", "2", "--n-test", "1",
                 "--quiet"]) == 2


def test_bench_lists_synthvid(bench):
    code, out, _ = bench("list", "datasets")
    assert code == 0 and "synthvid" in out
