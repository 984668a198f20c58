"""Single stills with alt-text: the ILFM's image-text pretraining data.

Each still is one instant of a freshly sampled SynthVid video (same scene sampler, renderer,
camera, backgrounds and sizes), pushed through the same H.264 encode/decode as the benchmark
videos. The camera integrates over its exposure, so a still shows the *kind* of change underway
(a streak along the path, a soft rim while scaling, translucency while fading) but never its
direction. Captions name what the still shows (shape, colour, size, position) and, like a
photo's alt-text naming the action it caught, often the event underway for the main object, in
the words the task sentences use ("a small red circle on the left moves to the left"). Every
sample is one still and one caption: no second frame, no time input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from i2vbench.datasets.synthvid.codec import roundtrip
from i2vbench.datasets.synthvid.render import render_frames
from i2vbench.datasets.synthvid.text import event_phrase, object_caption
from i2vbench.datasets.synthvid.world import (
    MOTIONS,
    SceneConfig,
    exposure_times,
    interpolate_at,
    region,
    sample_scene,
    size_class,
)

NAMED_ALPHA = 0.25  # an object this opaque can be named (a fading one is translucent)


@dataclass
class FrameCaptionSet:
    images: np.ndarray        # (n, S, S, 3) uint8 RGB
    captions: list[str]       # alt-text of one still each
    shape: np.ndarray         # (n,) index into SHAPES of the first-named object
    color: np.ndarray         # (n,) index into COLORS of the first-named object
    size: np.ndarray          # (n,) index into SIZES of the first-named object
    position: np.ndarray      # (n,) index into POSITIONS order (row * 3 + column) of that object
    motion: np.ndarray        # (n,) index into MOTIONS of that object's event underway ("stay": none)
    event_phrase: list[str]   # the caption's phrase for that event ("" if the caption omits it)

    def __len__(self) -> int:
        return len(self.captions)


def frame_caption_set(n: int, seed: int, image_size: int = 64, single_object: bool = False, *,
                      max_objects: int = 3, max_named: int = 2, partial: float = 0.0,
                      in_event: float = 0.7, name_event: float = 0.8,
                      codec: bool = True) -> FrameCaptionSet:
    """``n`` stills of random SynthVid videos with captions such as
    "a large red circle on the left grows and a small blue square at the top".

    Item i depends only on (seed, i), so a smaller ``n`` gives a prefix of a larger one and a
    training stream can call this once per step with ``seed=step``. A still shows 1..max_objects
    objects (exactly one if ``single_object``), at an instant inside a random event with
    probability ``in_event`` (else any instant with something visible). The caption names up to
    ``max_named`` objects (the most visible: at least ``NAMED_ALPHA`` opaque and at least 40 %
    unoccluded), in random order, except that the object whose event the still caught comes
    first when it can be named, as a photo's alt-text names the action it caught. The
    first-named one is the still's main object, and with probability ``name_event`` its caption
    ends with the event underway ("grows", "stays still").
    With probability ``partial`` per named object each of its size, colour, position and shape
    is left out with probability 1/2 (a dropped shape reads "shape"; colour and shape are never
    both dropped), which puts the :func:`zero_shot_prompts` phrasing ("a circle", "a red
    shape") in the training distribution. ``codec=False`` skips the H.264 round trip.
    """
    cfg = SceneConfig(image_size=image_size)
    s = image_size
    k = 1 if single_object else max_objects
    e = cfg.exposure_samples
    cx, cy, half, alpha = (np.zeros((n, e, k), np.float32) for _ in range(4))
    shp = np.zeros((n, k), np.int64)
    col = np.zeros((n, k), np.int64)
    motion = np.full((n, k), MOTIONS.index("stay"), np.int64)
    focus = np.full(n, -1, np.int64)  # the object whose event the still was taken in, if any
    bgs = []
    rngs = []
    for i in range(n):
        rng = np.random.default_rng([seed, i, 0x5F])
        m = 1 if single_object else int(rng.integers(1, max_objects + 1))
        sc = sample_scene(rng, cfg, n_objects=m)
        if sc.events and rng.random() < in_event:
            ev = sc.events[int(rng.integers(len(sc.events)))]
            t = float(rng.uniform(ev.start, ev.end))
            focus[i] = ev.obj
        else:
            vis = np.flatnonzero((sc.alpha >= 0.5).any(axis=1))
            t = float(vis[rng.integers(len(vis))] if len(vis) else rng.integers(sc.n_frames)) / sc.fps
        st = interpolate_at(sc.keyframes, exposure_times(np.array([t]), cfg.exposure_s, e))
        cx[i, :, :m], cy[i, :, :m], half[i, :, :m], alpha[i, :, :m] = (st[v][0] for v in ("cx", "cy", "half", "alpha"))
        shp[i, :m], col[i, :m] = sc.shapes, sc.colors
        for ev in sc.events:
            if ev.start <= t <= ev.end:
                motion[i, ev.obj] = MOTIONS.index(ev.motion)
        bgs.append(sc.background)
        rngs.append(rng)
    images, area, full = render_frames(cx, cy, half, alpha, shp, col, bgs, s)
    if codec:
        images = roundtrip(images, cfg.fps)

    mid = e // 2  # the still's own instant: what its caption's size and position describe
    c_half, c_alpha = half[:, mid], alpha[:, mid]
    sizes = size_class(c_half, s)
    cols, rows = region(cx[:, mid], cy[:, mid], s)
    captions: list[str] = []
    phrases: list[str] = []
    main = np.zeros(n, np.int64)
    for i, rng in enumerate(rngs):
        ok = (c_alpha[i] >= NAMED_ALPHA) & (area[i] >= 0.4 * np.maximum(full[i], 1e-6)) & (area[i] >= 4)
        cand = np.flatnonzero(ok)
        if cand.size == 0:
            cand = np.array([int(np.argmax(area[i]))])
        cand = cand[np.argsort(-area[i][cand], kind="stable")][:max_named]
        cand = cand[rng.permutation(len(cand))]
        if focus[i] >= 0 and ok[focus[i]]:  # the object whose event was caught comes first
            cand = np.array([focus[i], *(j for j in cand if j != focus[i])])[:max_named]
        parts = []
        for j in cand:
            drop = (False, False, False, False)
            if partial > 0 and rng.random() < partial:
                drop = tuple(bool(v) for v in rng.random(4) < 0.5)  # type: ignore[assignment]
            parts.append(object_caption(int(col[i, j]), int(shp[i, j]), int(sizes[i, j]),
                                        int(cols[i, j]), int(rows[i, j]), drop))  # type: ignore[arg-type]
        main[i] = cand[0]
        phrase = event_phrase(rng, MOTIONS[motion[i, cand[0]]]) if rng.random() < name_event else ""
        if phrase:  # the main object only: one event per caption keeps it within the context
            parts[0] += " " + phrase
        captions.append(" and ".join(parts))
        phrases.append(phrase)
    r = np.arange(n)
    return FrameCaptionSet(
        images=images, captions=captions, shape=shp[r, main], color=col[r, main],
        size=sizes[r, main].astype(np.int64), position=(rows[r, main] * 3 + cols[r, main]).astype(np.int64),
        motion=motion[r, main], event_phrase=phrases,
    )
