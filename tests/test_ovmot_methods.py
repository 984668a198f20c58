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
    embedding_match,
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


def test_qdtrack_sampling_makes_a_duplicate_box_a_positive_not_a_negative():
    # view 1 holds object 0's matched box, a duplicate box on object 0 (IoU 0.6, not matched
    # one-to-one) and object 1's box; the embedding puts the duplicate next to object 0
    obj = torch.tensor([0, 1, 0, -1, 1])
    near, near_iou = torch.tensor([0, 1, 0, 0, 1]), torch.tensor([1.0, 1.0, 1.0, 0.6, 1.0])
    b = StillBatch(torch.zeros(5, dtype=torch.long), torch.tensor([0, 0, 1, 1, 1]), torch.zeros(5, 2),
                   torch.zeros(5, 2), torch.zeros(5, 2), obj, obj, near, near_iou)
    e = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [0, 1], [1, 0], [1, 0.05], [0, 1]]), dim=-1)
    one_to_one = two_view_contrastive(e, b, 0.1)
    qdtrack = two_view_contrastive(e, b, 0.1, pos_iou=0.5)
    assert qdtrack < 0.01 < 0.1 < one_to_one  # one-to-one: the duplicate is a hard negative of object 0
    # between neg_iou and pos_iou the duplicate is left out: neither pulls nor pushes
    b.near_iou[3] = 0.4
    assert two_view_contrastive(e, b, 0.1, pos_iou=0.5) == pytest.approx(float(qdtrack), abs=1e-4)


def test_bisoftmax_cosine_sharpens_a_close_call_and_keeps_the_cosine_order():
    cos = np.array([[0.9, 0.8], [0.8, 0.9]], np.float32)
    m = embedding_match(cos, TrackerConfig(emb_match="bisoftmax_cosine", emb_temperature=0.1))
    s = 1 / (1 + np.exp(-1.0))  # softmax of (0.9, 0.8) / 0.1, either way
    assert m == pytest.approx(np.array([[s + 0.9, 1 - s + 0.8], [1 - s + 0.8, s + 0.9]]) / 2, abs=1e-5)
    assert m[0, 0] - m[0, 1] > cos[0, 0] - cos[0, 1]
    assert embedding_match(cos, TrackerConfig()) is cos


def test_box_iou():
    a = np.array([[0, 0, 10, 10]], np.float32)
    assert box_iou(a, np.array([[5, 0, 15, 10], [20, 20, 30, 30]], np.float32)).ravel().tolist() == \
        pytest.approx([1 / 3, 0.0])


def _class_stills(n_still: int, rng: np.random.Generator, text: np.ndarray, n_base: int):
    """Stills of two objects each, in two views: the class is in the crop embedding (its name's
    text embedding, plus a lean towards name 0 that skews zero-shot classification as tinyclip's
    leans towards "circle", plus noise); the region embedding is noise, as tinyground's nearly is."""
    from i2vbench.methods.ovmot.base import Stills

    still = np.repeat(np.arange(n_still), 4)
    view = np.tile([0, 0, 1, 1], n_still)
    obj = still * 10 + np.tile([0, 1, 0, 1], n_still)
    label = rng.integers(0, n_base, (n_still, 2))[:, [0, 1, 0, 1]].reshape(-1)
    crop = text[label] + 1.6 * text[0] + 0.3 * rng.standard_normal((len(label), text.shape[1]))
    crop /= np.linalg.norm(crop, axis=1, keepdims=True)
    region = rng.standard_normal((len(label), 6)).astype(np.float32)
    return Stills(still, view, region, crop.astype(np.float32), np.full((len(label), len(text)), 0.5, np.float32),
                  obj, label)


def test_ovtrack_classifies_base_boxes_when_its_heads_read_the_crop_embedding():
    from i2vbench.methods.ovmot.base import OVMOTSplit
    from i2vbench.methods.ovmot.ovtrack import OVTrack, OVTrackConfig
    from i2vbench.methods.trainable import TrainConfig

    rng = np.random.default_rng(0)
    text = np.linalg.qr(rng.standard_normal((8, 4)))[0].T.astype(np.float32)  # 4 orthonormal names
    cats = [{"id": i + 1, "name": f"c{i}", "frequency": "r" if i == 3 else "f"} for i in range(4)]
    base = np.array([True, True, True, False])
    train = OVMOTSplit(cats, base, text, 20.0, [], _class_stills(40, rng, text, 3))
    test = _class_stills(30, rng, text, 3)
    v = VideoDetections("v", 1, 1, np.zeros(len(test.label), np.int64), np.zeros((len(test.label), 4), np.float32),
                        test.scores, test.region, test.crop, {})
    acc = {}
    for with_crop in (True, False):
        cfg = OVTrackConfig(hidden=32, assoc_dim=8, with_crop=with_crop,
                            train=TrainConfig(epochs=20, batch_size=16, lr=5e-3, grad_clip=1.0))
        torch.manual_seed(0)
        m = OVTrack(6, 8, cfg)
        m.fit(train, seed=0, progress=False)
        acc[with_crop] = float((m.class_probs(train, v).argmax(1) == test.label).mean())
    zero_shot = float(((test.crop @ text.T).argmax(1) == test.label).mean())
    assert acc[False] < 0.5  # the region embedding alone carries no class: about chance (1/3)
    assert acc[True] > zero_shot + 0.1  # from the crop, the text head learns past the skewed zero-shot class


def test_distractor_removal_drops_low_scoring_boxes_that_overlap_a_better_one():
    from i2vbench.methods.ovmot.base import distractors

    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [30, 30, 40, 40], [0.5, 0, 10.5, 10]], np.float32)
    scores = np.array([0.3, 0.2, 0.1, 0.9], np.float32)  # box 3 (0.9) is the best of the overlapping three
    cfg = TrackerConfig(distractor_iou=0.5, distractor_score=0.5)
    np.testing.assert_array_equal(distractors(boxes, scores, cfg), [True, True, False, False])
    # a confident box is never a distractor, however much it overlaps a better one
    np.testing.assert_array_equal(distractors(boxes, scores, TrackerConfig(distractor_iou=0.5, distractor_score=0.25)),
                                  [False, True, False, False])
