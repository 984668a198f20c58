"""Single stills with boxes and phrases: the grounding ILFM's pretraining data (MDETR's role).

Each still is one instant of a freshly sampled SynthVid video (same scene sampler, renderer,
camera and H.264 round trip as the benchmark videos, as in :mod:`.frames`), with the box of
every object visible in it and two kinds of phrase, as MDETR / Grounding DINO pretrain on:

* **category names** (detection): the shape's name ("circle"); its targets are all visible
  objects of that shape, possibly none (a name absent from the still is a negative);
* **referring expressions**: the shortest-looking description that singles one object out among
  those visible ("the red circle", "the small circle on the left"), built from the task grammar
  (:func:`~i2vbench.datasets.synthvid.text.noun_phrase`, positions).

Every sample is one still: no second frame, no time input. Item ``i`` depends only on
``(seed, i)`` (a smaller ``n`` gives a prefix of a larger one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from i2vbench.datasets.synthvid.codec import roundtrip
from i2vbench.datasets.synthvid.render import render_frames
from i2vbench.datasets.synthvid.text import event_phrase, noun_phrase, position_phrase
from i2vbench.datasets.synthvid.world import (
    EXTENTS,
    MOTIONS,
    SHAPES,
    VISIBLE_ALPHA,
    SceneConfig,
    exposure_times,
    interpolate_at,
    region,
    sample_scene,
    size_class,
)

MIN_UNOCCLUDED = 0.4  # an object counts as visible (has a box) if this share of it is not hidden


@dataclass
class GroundingStills:
    """``n`` stills, each with K object slots (unused slots have ``visible`` False)."""

    images: np.ndarray   # (n, S, S, 3) uint8 RGB
    boxes: np.ndarray    # (n, K, 4) float32 x1, y1, x2, y2 pixels at the still's instant
    visible: np.ndarray  # (n, K) bool: the object is in the still (alpha and unoccluded area)
    shape: np.ndarray    # (n, K) int64 index into SHAPES
    color: np.ndarray    # (n, K) int64 index into COLORS
    size: np.ndarray     # (n, K) int64 index into SIZES at the still's instant
    col: np.ndarray      # (n, K) int64 image third (0..2) of the centre, horizontally
    row: np.ndarray      # (n, K) int64 image third of the centre, vertically
    motion: np.ndarray   # (n, K) int64 index into MOTIONS of the event underway ("stay": none)

    def __len__(self) -> int:
        return len(self.images)


def grounding_stills(n: int, seed: int, image_size: int = 64, max_objects: int = 4, *,
                     in_event: float = 0.5, codec: bool = True) -> GroundingStills:
    """``n`` stills of random SynthVid videos (1..``max_objects`` objects) with their boxes.

    With probability ``in_event`` a still is taken inside a random event (so moving, scaling and
    fading objects, seen through the exposing camera, are common), else at any instant.
    """
    cfg = SceneConfig(image_size=image_size)
    s, k, e = image_size, max_objects, cfg.exposure_samples
    cx, cy, half, alpha = (np.zeros((n, e, k), np.float32) for _ in range(4))
    shp = np.zeros((n, k), np.int64)
    col = np.zeros((n, k), np.int64)
    motion = np.full((n, k), MOTIONS.index("stay"), np.int64)
    bgs = []
    for i in range(n):
        rng = np.random.default_rng([seed, i, 0x6B0])
        m = int(rng.integers(1, max_objects + 1))
        sc = sample_scene(rng, cfg, n_objects=m)
        if sc.events and rng.random() < in_event:
            ev = sc.events[int(rng.integers(len(sc.events)))]
            t = float(rng.uniform(ev.start, ev.end))
        else:
            t = float(rng.integers(sc.n_frames)) / sc.fps
        st = interpolate_at(sc.keyframes, exposure_times(np.array([t]), cfg.exposure_s, e))
        cx[i, :, :m], cy[i, :, :m], half[i, :, :m], alpha[i, :, :m] = (st[v][0] for v in ("cx", "cy", "half", "alpha"))
        shp[i, :m], col[i, :m] = sc.shapes, sc.colors
        for ev in sc.events:
            if ev.start <= t <= ev.end:
                motion[i, ev.obj] = MOTIONS.index(ev.motion)
        bgs.append(sc.background)
    images, area, full = render_frames(cx, cy, half, alpha, shp, col, bgs, s)
    if codec:
        images = roundtrip(images, cfg.fps)
    mid = e // 2
    c_cx, c_cy, c_half, c_alpha = cx[:, mid], cy[:, mid], half[:, mid], alpha[:, mid]
    visible = (c_alpha >= VISIBLE_ALPHA) & (area >= MIN_UNOCCLUDED * np.maximum(full, 1e-6)) & (area >= 4)
    ext = EXTENTS[shp]
    ctr = np.stack([c_cx, c_cy, c_cx, c_cy], axis=-1)
    boxes = np.clip(ctr + c_half[..., None] * ext, 0, s).astype(np.float32)
    cols, rows = region(c_cx, c_cy, s)
    return GroundingStills(images, boxes, visible, shp, col, size_class(c_half, s).astype(np.int64),
                           cols.astype(np.int64), rows.astype(np.int64), motion)


@dataclass(frozen=True)
class Phrase:
    """One phrase about one still and the object slots it refers to."""

    still: int
    text: str
    targets: tuple[int, ...]  # slots of the referred objects (empty: nothing in the still matches)
    kind: str                 # "category" | "referring"


def category_phrase(shape: int) -> str:
    """The detection prompt of a category: its bare name, as detection datasets name classes."""
    return SHAPES[shape]


def category_phrases(data: GroundingStills, i: int, shapes: list[int] | None = None) -> list[Phrase]:
    """One category phrase per shape in ``shapes`` (default: all) for still ``i``."""
    vis = np.flatnonzero(data.visible[i])
    out = []
    for k in range(len(SHAPES)) if shapes is None else shapes:
        tg = tuple(int(j) for j in vis if data.shape[i, j] == k)
        out.append(Phrase(i, category_phrase(k), tg, "category"))
    return out


# Descriptions tried for a referring expression, as (size, colour, position, shape) kept;
# shorter ones first within a random order of equally long ones.
_ATTRS = [(z, c, p, sh) for z in (0, 1) for c in (0, 1) for p in (0, 1) for sh in (0, 1) if c or sh]


def referring_phrase(data: GroundingStills, i: int, j: int, rng: np.random.Generator,
                     event: float = 0.0) -> str | None:
    """A description of object ``j`` of still ``i`` that no other visible object also fits,
    picked at random among the shortest such ones with one more attribute sometimes added
    (people over-specify); None if even the full description is ambiguous. With probability
    ``event`` it goes on with the event underway ("the red circle that moves to the left"),
    the form of the video tasks' sentences: a still never shows the direction, so the model
    learns to find the object the sentence names whatever the verb says."""
    vis = [int(v) for v in np.flatnonzero(data.visible[i])]
    attrs = (data.size[i], data.color[i], (data.row[i] * 3 + data.col[i]), data.shape[i])

    def fits(keep: tuple[int, ...], o: int) -> bool:
        return all(not kk or a[o] == a[j] for kk, a in zip(keep, attrs, strict=True))

    order = sorted(_ATTRS, key=lambda a: (sum(a), rng.random()))
    unique = [a for a in order if not any(fits(a, o) for o in vis if o != j)]
    if not unique:
        return None
    best = sum(unique[0])
    pool = [a for a in unique if sum(a) <= best + (1 if rng.random() < 0.3 else 0)]
    z, c, p, sh = pool[int(rng.integers(len(pool)))]
    text = noun_phrase("the", int(data.color[i, j]) if c else None, int(data.shape[i, j]) if sh else None,
                       int(data.size[i, j]) if z else None)
    if p:
        text += " " + position_phrase(int(data.col[i, j]), int(data.row[i, j]))
    if event > 0 and rng.random() < event:
        text += " that " + event_phrase(rng, MOTIONS[int(data.motion[i, j])])
    return text


def referring_phrases(data: GroundingStills, i: int, rng: np.random.Generator,
                      event: float = 0.0) -> list[Phrase]:
    """One referring expression per visible object of still ``i`` that can be singled out."""
    out = []
    for j in np.flatnonzero(data.visible[i]):
        t = referring_phrase(data, i, int(j), rng, event)
        if t is not None:
            out.append(Phrase(i, t, (int(j),), "referring"))
    return out
