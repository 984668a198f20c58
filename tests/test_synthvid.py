"""SynthVid: the frame-caption set (pretraining data), the scene model and the renderer."""

from __future__ import annotations

import numpy as np
import pytest

from i2vbench.datasets.synthvid import (
    COLORS,
    MOTIONS,
    SHAPES,
    SIZES,
    VOCABULARY,
    FrameCaptionSet,
    frame_caption_set,
    sample_scene,
    scene_from_json,
    tokenize,
    zero_shot_prompts,
)
from i2vbench.datasets.synthvid.render import render_frames
from i2vbench.datasets.synthvid.world import RGB, Background


def test_constants_are_distinct_and_sized():
    assert 8 <= len(SHAPES) <= 10 and len(set(SHAPES)) == len(SHAPES)
    assert len(COLORS) == 8 and SIZES == ("small", "medium", "large")
    assert {"move left", "move right", "move up", "move down", "appear", "disappear", "grow",
            "shrink", "stay"} == set(MOTIONS)
    # colours far apart in RGB (min pairwise distance)
    d = np.linalg.norm(RGB[:, None] - RGB[None], axis=-1) + np.eye(len(RGB)) * 1e9
    assert d.min() > 60
    assert list(VOCABULARY) == sorted(set(VOCABULARY)) and all(w == w.lower() for w in VOCABULARY)


def test_frame_caption_set_shapes_and_determinism():
    fs = frame_caption_set(24, seed=7)
    assert isinstance(fs, FrameCaptionSet)
    assert fs.images.shape == (24, 64, 64, 3) and fs.images.dtype == np.uint8
    assert len(fs.captions) == 24 and fs.shape.shape == (24,) and fs.color.shape == (24,)
    again = frame_caption_set(24, seed=7)
    assert np.array_equal(fs.images, again.images) and fs.captions == again.captions
    other = frame_caption_set(24, seed=8)
    assert not np.array_equal(fs.images, other.images)
    # item i depends only on (seed, i): a smaller set is a prefix of a larger one
    small = frame_caption_set(5, seed=7)
    assert np.array_equal(small.images, fs.images[:5]) and small.captions == fs.captions[:5]


def test_captions_name_the_main_object_first_and_only_its_event_underway():
    """Alt-text names what the still shows and, for the main object only, the event underway at
    that instant in the task sentences' words (or "stays still" / nothing), never a sequence."""
    from i2vbench.datasets.synthvid.text import EVENT_TEMPLATES, event_phrase

    fs = frame_caption_set(300, seed=1)
    order_words = {"then", "before", "after", "first", "while"}
    named = 0
    for cap, s, c, m, phrase in zip(fs.captions, fs.shape, fs.color, fs.motion, fs.event_phrase, strict=True):
        words = tokenize(cap)
        assert set(words) <= set(VOCABULARY) and not set(words) & order_words
        first, *rest = cap.split(" and ")
        assert f"{COLORS[c]} {SHAPES[s]}" in first
        assert any(sz in first for sz in SIZES)
        assert any(p in first for p in ("left", "right", "top", "bottom", "centre"))
        assert len(words) <= 23  # fits the text tower's context (24) with its end token
        if phrase:
            named += 1
            assert first.endswith(" " + phrase) and all(phrase not in r for r in rest)
            phrasings = {t.replace("{the} ", "").replace("{a} ", "").rstrip(".")
                         for t in EVENT_TEMPLATES[MOTIONS[m]]}
            assert phrase in phrasings
    assert 0.6 < named / len(fs) < 0.95  # name_event = 0.8
    assert event_phrase(np.random.default_rng(0), "grow") in {"grows", "gets bigger", "becomes larger"}
    # stills sit inside events more often than not (in_event = 0.7), and every kind occurs
    kinds = {MOTIONS[m] for m in fs.motion}
    assert {"move left", "grow", "appear", "stay"} <= kinds


def test_the_camera_streaks_a_moving_object_along_its_path_only():
    """Exposure samples of a static object give exactly the one-sample image; a horizontally
    moving one is smeared horizontally (wider, same height) with a translucent tail."""
    bg = [Background((0, 0, 0), (0, 0, 0), 0.0)]
    e = 8
    still = np.full((1, e, 1), 32.0, np.float32)
    moving = np.linspace(26, 38, e, dtype=np.float32).reshape(1, e, 1)
    half = np.full((1, e, 1), 6.0, np.float32)
    alpha = np.ones((1, e, 1), np.float32)
    shape, color = np.zeros((1, 1), int), np.zeros((1, 1), int)
    sharp, *_ = render_frames(still[:, 0], still[:, 0], half[:, 0], alpha[:, 0], shape, color, bg, 64)
    same, *_ = render_frames(still, still, half, alpha, shape, color, bg, 64)
    assert np.array_equal(sharp, same)
    blur, area, full = render_frames(moving, still, half, alpha, shape, color, bg, 64)
    red = blur[0, :, :, 0].astype(int)
    cols, rows = np.nonzero(red.max(0) > 10)[0], np.nonzero(red.max(1) > 10)[0]
    s_cols, s_rows = np.nonzero(sharp[0, :, :, 0].max(0) > 10)[0], np.nonzero(sharp[0, :, :, 0].max(1) > 10)[0]
    assert len(cols) >= len(s_cols) + 10 and len(rows) == len(s_rows)
    assert 20 < red[32, 21] < 200  # the tail is translucent
    assert full[0, 0] == pytest.approx(np.pi * 36, rel=0.03)  # coverage is conserved


def test_video_frames_are_exposed_like_the_stills():
    """A video frame is the average of its exposure instants; a scene without a camera is sharp."""
    from dataclasses import replace

    sc = sample_scene(np.random.default_rng(3))
    cx, cy, half, alpha = sc.exposed_state()
    assert cx.shape == (sc.n_frames, sc.exposure_samples, len(sc.objects)) and sc.exposure_samples > 1
    ev = sc.events[0]
    t = int(round((ev.start + ev.end) / 2 * sc.fps))
    spread = {v: np.ptp(a[t, :, ev.obj]) for v, a in (("cx", cx), ("cy", cy), ("half", half), ("alpha", alpha))}
    assert max(spread.values()) > 0  # the object changes within the exposure of a mid-event frame
    sharp = replace(sc, exposure_samples=1)
    assert not np.array_equal(sharp.render(), sc.render())


def test_single_object_frames_show_the_named_colour():
    fs = frame_caption_set(40, seed=3, single_object=True)
    assert all(" and " not in c for c in fs.captions)
    # the named colour is the commonest palette colour among pixels close to a palette colour
    # (objects fading in or out may be named at >= 25 % opacity, so a few frames have none)
    hits = 0
    for img, c in zip(fs.images, fs.color, strict=True):
        px = img.reshape(-1, 3).astype(np.float32)
        d = np.linalg.norm(px[:, None] - RGB[None], axis=-1)
        near = d.argmin(1)[d.min(1) < 40]
        hits += near.size > 10 and np.bincount(near, minlength=len(COLORS)).argmax() == c
    assert hits >= 0.85 * len(fs.images)


def test_partial_captions_and_zero_shot_prompts_share_the_grammar():
    assert zero_shot_prompts("shape") == [f"a {s}" for s in SHAPES]
    assert "an orange shape" in zero_shot_prompts("color") and len(zero_shot_prompts("color")) == 8
    fs = frame_caption_set(200, seed=2, partial=1.0)
    caps = " | ".join(fs.captions)
    assert " shape" in caps
    for p in zero_shot_prompts("shape") + zero_shot_prompts("color"):
        assert set(tokenize(p)) <= set(VOCABULARY)
    with pytest.raises(ValueError):
        zero_shot_prompts("texture")


def test_position_is_in_the_caption_and_in_the_pixels():
    fs = frame_caption_set(40, seed=4, single_object=True, codec=False)
    for img, cap, phrase in zip(fs.images, fs.captions, fs.event_phrase, strict=True):
        cap = cap.removesuffix(" " + phrase) if phrase else cap  # "moves to the right" is no position
        mask = img.max(-1).astype(int) - img.min(-1) > 90  # saturated / bright object pixels
        if "white" in cap or mask.sum() < 5:
            continue
        ys, xs = np.nonzero(mask)
        cx = xs.mean()
        if "left" in cap:
            assert cx < 32
        if "right" in cap:
            assert cx > 32


def test_scene_json_roundtrip_renders_the_same_frames():
    sc = sample_scene(np.random.default_rng(0))
    back = scene_from_json(sc.to_json())
    assert back.n_frames == sc.n_frames and back.events == sc.events
    diff = np.abs(back.render().astype(int) - sc.render().astype(int))
    assert diff.max() <= 2  # states are stored to 1e-3 px


def test_occlusion_reduces_visible_area():
    one = np.full((1, 2), 32.0, np.float32)
    half = np.array([[8.0, 12.0]], np.float32)
    alpha = np.ones((1, 2), np.float32)
    _, area, full = render_frames(one, one, half, alpha, np.zeros((1, 2), int), np.array([[0, 1]]),
                                  [Background((0, 0, 0), (0, 0, 0), 0.0)], 64)
    assert area[0, 0] < 1.0 and area[0, 1] == pytest.approx(full[0, 1])
    assert full[0, 1] == pytest.approx(np.pi * 144, rel=0.02)


def test_visible_fraction_sees_occlusion():
    for i in range(40):
        sc = sample_scene(np.random.default_rng(i))
        v = sc.visible_fraction()
        assert v.shape == sc.alpha.shape and v.min() >= 0 and v.max() <= 1.0001
        top = len(sc.objects) - 1
        drawn = sc.alpha[:, top] > 0
        assert np.allclose(v[drawn, top], 1, atol=1e-4)  # nothing is drawn over the top object
        if (v[sc.alpha > 0] < 0.9).any():
            return
    pytest.fail("no occlusion in 40 scenes")


def test_shape_extents_match_the_geometry():
    from i2vbench.datasets.synthvid.world import EXTENTS, sdf

    g = np.linspace(-1.2, 1.2, 2401)
    x, y = np.meshgrid(g, g)
    for k, s in enumerate(SHAPES):
        inside = sdf(s, x, y) <= 0
        got = (x[inside].min(), y[inside].min(), x[inside].max(), y[inside].max())
        assert np.allclose(got, EXTENTS[k], atol=2e-3), s
