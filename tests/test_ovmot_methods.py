"""The OV-MOT pieces under the methods: per-phrase candidates to detections, crops, the point
tracker, the association loop, the two-view contrast."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from i2vbench.methods.ovmot.base import (
    StillBatch,
    Tracker,
    TrackerConfig,
    VideoDetections,
    box_iou,
    two_view_contrastive,
)
from i2vbench.methods.ovmot.detector import crop_batch, frame_detections
from i2vbench.methods.ovmot.points import Pyramid, track_points


def test_candidates_of_several_phrases_become_one_detection_scored_for_each():
    boxes = np.array([[[10, 10, 20, 20], [40, 40, 50, 50]],      # phrase 0: object A, object B
                      [[10.5, 10, 20, 20.5], [0, 0, 5, 5]]], np.float32)  # phrase 1: object A again, junk
    scores = np.array([[0.9, 0.6], [0.7, 0.05]], np.float32)
    emb = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)
    d = frame_detections(boxes, scores, emb, keep_score=0.1, nms_iou=0.7)
    assert len(d.boxes) == 2  # A (merged over phrases) and B; the junk is below keep_score
    a = int(np.argmin(d.boxes[:, 0]))
    np.testing.assert_allclose(d.scores[a], [0.9, 0.7])
    np.testing.assert_allclose(d.scores[1 - a], [0.6, 0.0])
    np.testing.assert_allclose(d.embeddings[a], emb[0, 0])  # the kept candidate's own embedding


def test_crops_cut_the_box():
    frames = np.zeros((2, 32, 32, 3), np.uint8)
    frames[1, 8:16, 4:20] = (200, 10, 30)
    c = crop_batch(frames, np.array([1]), np.array([[4, 8, 20, 16]], np.float32), 16, context=0.0)
    assert c.shape == (1, 3, 16, 16)
    torch.testing.assert_close(c[0, :, 2:-2, 2:-2].mean((1, 2)), torch.tensor([200.0, 10.0, 30.0]), atol=1, rtol=0)


def test_lucas_kanade_follows_a_moving_blob():
    yy, xx = np.mgrid[:48, :48]

    def frame(cx: float) -> np.ndarray:
        return (255 * np.exp(-((xx - cx) ** 2 + (yy - 24) ** 2) / 40)).astype(np.float32)

    pts = np.array([[20.0, 22.0], [22.0, 26.0]], np.float32)
    new, ok = track_points(Pyramid(frame(20)), Pyramid(frame(22.5)), pts)
    assert ok.all()
    np.testing.assert_allclose(new - pts, [[2.5, 0], [2.5, 0]], atol=0.25)


def _crossing_video() -> tuple[VideoDetections, np.ndarray]:
    """Two same-size objects swap places horizontally through each other, object 0 hidden
    behind object 1 where they meet (frame 4); embeddings tell them apart. Rows per frame:
    object 0 then object 1 (``row % 2`` is the object)."""
    t_n = 9
    xs = np.linspace(5, 35, t_n)
    boxes, frame = [], []
    for t in range(t_n):
        for j, x in enumerate((xs[t], 40 - xs[t])):
            boxes.append([x, 10, x + 10, 20] if not (t == 4 and j == 0) else [0, 0, 0.1, 0.1])
            frame.append(t)
    boxes = np.array(boxes, np.float32)
    emb = np.tile(np.eye(2, dtype=np.float32), (t_n, 1))
    score = np.full((len(boxes), 2), 0.9, np.float32)
    score[8] = 0.0  # the hidden object is not detected
    v = VideoDetections("v", 1, t_n, np.array(frame), boxes, score,
                        emb, emb, {t: t + 1 for t in range(t_n)})
    return v, emb


def _identity_switches(tracks: list[list[int]]) -> int:
    return sum(len({r % 2 for r in rows}) - 1 for rows in tracks)


def test_embeddings_keep_identities_where_iou_swaps_them():
    v, emb = _crossing_video()
    iou_only = Tracker(TrackerConfig(iou_weight=1.0, emb_weight=0.0, match_thresh=0.1)).run(v, None)
    learned = Tracker(TrackerConfig(iou_weight=0.5, emb_weight=1.0, match_thresh=0.5)).run(v, emb)
    assert _identity_switches(learned) == 0 and len(learned) == 2
    assert _identity_switches(iou_only) > 0


def test_tracks_end_after_max_age_and_new_ones_need_a_confident_detection():
    v, _ = _crossing_video()
    keep = v.frame != 5  # a gap of one frame
    v2 = VideoDetections("v", 1, v.n_frames, v.frame[keep], v.boxes[keep], v.scores[keep], v.region[keep],
                         v.crop[keep], v.images)
    assert len(Tracker(TrackerConfig(max_age=2, emb_weight=1, iou_weight=0)).run(v2, v2.region)) == 2
    assert len(Tracker(TrackerConfig(max_age=0, emb_weight=1, iou_weight=0)).run(v2, v2.region)) == 4
    assert Tracker(TrackerConfig(new_thresh=0.95)).run(v2, None) == []


def test_two_view_contrast_is_low_for_matching_views_and_high_for_swapped_ones():
    obj = torch.tensor([0, 1, 0, 1])
    b = StillBatch(torch.zeros(4, dtype=torch.long), torch.tensor([0, 0, 1, 1]), torch.zeros(4, 2),
                   torch.zeros(4, 2), torch.zeros(4, 2), obj, obj)
    good = torch.tensor([[1.0, 0], [0, 1], [1, 0], [0, 1]])
    bad = torch.tensor([[1.0, 0], [0, 1], [0, 1], [1, 0]])
    assert two_view_contrastive(good, b, 0.1) < 0.01 < 10 < two_view_contrastive(bad, b, 0.1)


def test_box_iou():
    a = np.array([[0, 0, 10, 10]], np.float32)
    assert box_iou(a, np.array([[5, 0, 15, 10], [20, 20, 30, 30]], np.float32)).ravel().tolist() == \
        pytest.approx([1 / 3, 0.0])
