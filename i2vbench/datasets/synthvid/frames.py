"""Single frames with frame-level captions: the ILFM's image-text pretraining data.

Each frame is one frame of a freshly sampled SynthVid video (same scene sampler, renderer,
backgrounds and sizes), pushed through the same H.264 encode/decode as the benchmark videos.
Captions describe only what one frame shows (shape, colour, size, position): no motion, no
time. Position is named so that frozen frame features carry *where* objects are, which is what
makes motion recoverable from a sequence of frame features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from i2vbench.datasets.synthvid.codec import roundtrip
from i2vbench.datasets.synthvid.render import render_frames
from i2vbench.datasets.synthvid.text import object_caption
from i2vbench.datasets.synthvid.world import SceneConfig, region, sample_scene, size_class


@dataclass
class FrameCaptionSet:
    images: np.ndarray        # (n, S, S, 3) uint8 RGB
    captions: list[str]       # frame-level text only
    shape: np.ndarray         # (n,) index into SHAPES of the first-named object
    color: np.ndarray         # (n,) index into COLORS of the first-named object
    size: np.ndarray          # (n,) index into SIZES of the first-named object
    position: np.ndarray      # (n,) index into POSITIONS order (row * 3 + column) of that object

    def __len__(self) -> int:
        return len(self.captions)


def frame_caption_set(n: int, seed: int, image_size: int = 64, single_object: bool = False, *,
                      max_objects: int = 3, max_named: int = 2, partial: float = 0.0,
                      codec: bool = True) -> FrameCaptionSet:
    """``n`` frames of random SynthVid videos with captions such as
    "a large red circle on the left and a small blue square at the top".

    Item i depends only on (seed, i), so a smaller ``n`` gives a prefix of a larger one and a
    training stream can call this once per step with ``seed=step``. A frame shows 1..max_objects
    objects (exactly one if ``single_object``); the caption names up to ``max_named`` of them
    (the most visible: at least half opaque and at least 40 % unoccluded), in random order; the
    first-named one is the frame's main object. With probability ``partial`` per named object
    each of its size, colour, position and shape is left out with probability 1/2 (a
    dropped shape reads "shape"; colour and shape are never both dropped), which puts the
    :func:`zero_shot_prompts` phrasing ("a circle", "a red shape") in the training distribution.
    ``codec=False`` skips the H.264 round trip (raw renderer output).
    """
    cfg = SceneConfig(image_size=image_size)
    s = image_size
    k = 1 if single_object else max_objects
    cx, cy, half, alpha = (np.zeros((n, k), np.float32) for _ in range(4))
    alpha[:] = 0.0
    shp = np.zeros((n, k), np.int64)
    col = np.zeros((n, k), np.int64)
    bgs = []
    rngs = []
    for i in range(n):
        rng = np.random.default_rng([seed, i, 0x5F])
        m = 1 if single_object else int(rng.integers(1, max_objects + 1))
        sc = sample_scene(rng, cfg, n_objects=m)
        vis = np.flatnonzero((sc.alpha >= 0.5).any(axis=1))
        t = int(vis[rng.integers(len(vis))]) if len(vis) else int(rng.integers(sc.n_frames))
        cx[i, :m], cy[i, :m], half[i, :m], alpha[i, :m] = sc.cx[t], sc.cy[t], sc.half[t], sc.alpha[t]
        shp[i, :m], col[i, :m] = sc.shapes, sc.colors
        bgs.append(sc.background)
        rngs.append(rng)
    images, area, full = render_frames(cx, cy, half, alpha, shp, col, bgs, s)
    if codec:
        images = roundtrip(images, cfg.fps)

    sizes = size_class(half, s)
    cols, rows = region(cx, cy, s)
    captions: list[str] = []
    main = np.zeros(n, np.int64)
    for i, rng in enumerate(rngs):
        ok = (alpha[i] >= 0.5) & (area[i] >= 0.4 * np.maximum(full[i], 1e-6)) & (area[i] >= 4)
        cand = np.flatnonzero(ok)
        if cand.size == 0:
            cand = np.array([int(np.argmax(area[i]))])
        cand = cand[np.argsort(-area[i][cand], kind="stable")][:max_named]
        cand = cand[rng.permutation(len(cand))]
        parts = []
        for j in cand:
            drop = (False, False, False, False)
            if partial > 0 and rng.random() < partial:
                drop = tuple(bool(v) for v in rng.random(4) < 0.5)  # type: ignore[assignment]
            parts.append(object_caption(int(col[i, j]), int(shp[i, j]), int(sizes[i, j]),
                                        int(cols[i, j]), int(rows[i, j]), drop))  # type: ignore[arg-type]
        captions.append(" and ".join(parts))
        main[i] = cand[0]
    r = np.arange(n)
    return FrameCaptionSet(
        images=images, captions=captions, shape=shp[r, main], color=col[r, main],
        size=sizes[r, main].astype(np.int64), position=(rows[r, main] * 3 + cols[r, main]).astype(np.int64),
    )
