"""The SynthVid VidSTG writer ↔ the real VidSTG loader: what is written is what the scenes say,
in both box layouts (TubeDETR's processed json and VidOR trajectories), and each video needs both
space and time to be read."""

from __future__ import annotations

import json

import numpy as np
import pytest

from i2vbench.datasets.synthvid.vidstg import build_vidstg
from i2vbench.datasets.synthvid.world import OPPOSITE
from i2vbench.datasets.vidstg import load_vidstg


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return build_vidstg(tmp_path_factory.mktemp("vidstg") / "d", seed=3, n_train=5, n_val=2, n_test=2,
                        progress=False, workers=1)


def test_round_trip_through_the_loader(data):
    scenes = {vid: (scene, queries) for vid, _, scene, queries in data.scenes()}
    ids = set()
    for split in ("train", "val", "test"):
        ann = load_vidstg(data.json(split))
        vidor = load_vidstg(data.json(split), trajectories=data.vidor_dir)
        assert len(ann) == 6 * data.counts[split]["videos"] and ann.has_boxes
        ids |= set(ann.video_ids)
        for i in range(len(ann)):
            scene, queries = scenes[ann.original_video_ids[i]]
            q = [q for q in queries if q["sentence"] == ann.captions[i] and q["qtype"] == ann.qtypes[i]][0]
            e = scene.events[q["event"]]
            assert ann.target_ids[i] == scene.objects[e.obj].track_id
            frames = np.arange(ann.tube_start[i], ann.tube_end[i]) / scene.fps
            assert frames.min() >= e.start - 1e-9 and frames.max() <= e.end + 1e-9 and len(frames) >= 4
            assert ann.end_frame[i] == scene.n_frames and ann.fps[i] == scene.fps
            for t in range(scene.n_frames):
                a = ann.trajectories[ann.original_video_ids[i]][str(int(ann.target_ids[i]))][str(t)]["bbox"]
                b = vidor.trajectories[ann.original_video_ids[i]][str(int(ann.target_ids[i]))][str(t)]["bbox"]
                x1, y1, x2, y2 = scene.boxes[t, e.obj]
                np.testing.assert_allclose(a, [x1, y1, x2 - x1, y2 - y1], atol=0.006)
                np.testing.assert_allclose(a, b, atol=1e-6)
    assert len(ids) == sum(6 * data.counts[s]["videos"] for s in ("train", "val", "test"))  # ids unique over splits


def test_space_and_time_must_both_be_read(data):
    for _, _, scene, queries in data.scenes():
        ev = scene.events
        assert len(ev) == 3
        a = [e for e in ev if sum(x.obj == e.obj for x in ev) == 2]
        b = [e for e in ev if sum(x.obj == e.obj for x in ev) == 1][0]
        assert len(a) == 2 and {a[0].motion, a[1].motion} == {a[0].motion, OPPOSITE[a[0].motion]}
        assert b.motion in {a[0].motion, a[1].motion}  # the twin does the target's motion, at another time
        oa, ob = scene.objects[a[0].obj], scene.objects[b.obj]
        assert oa.color == ob.color or oa.shape == ob.shape
        for q in queries:
            if q["qtype"] == "interrogative":
                assert q["sentence"].startswith("which ") and q["sentence"].endswith("?")
            else:
                assert scene.objects[ev[q["event"]].obj].name.split()[1] in q["sentence"]


def test_build_is_deterministic(data, tmp_path):
    again = build_vidstg(tmp_path / "again", seed=3, n_train=5, n_val=2, n_test=2, progress=False, workers=1)
    a = json.loads(data.meta_json.read_text())["sha256"]
    b = json.loads(again.meta_json.read_text())["sha256"]
    assert a == b
