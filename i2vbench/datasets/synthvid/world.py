"""The SynthVid world: shapes, colours, sizes, motions, and scenes with events in time.

A :class:`Scene` is the full ground truth of one video: its objects (with a track id and a
category on a base/novel split), its events (which object does which motion, from when to when),
and per-frame state arrays (centre, half-size, opacity) from which boxes, visibility and the
rendered frames are all derived. Every task's writer (TVG now; TAO, VidSTG, SSv2-like classes,
QA and captions later) reads the same :class:`Scene`, so the tasks can never disagree about what
happened in a video.

Sampling is a pure function of a ``numpy.random.Generator``: the same seed gives the same scene.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "star", "cross", "ring", "heart")
COLORS: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple", "orange", "white", "cyan")
# Saturated, mutually distant colours that stay distinct after 4:2:0 chroma subsampling.
RGB = np.array(
    [
        (225, 35, 35),    # red
        (40, 190, 55),    # green
        (45, 85, 235),    # blue
        (240, 220, 40),   # yellow
        (155, 55, 205),   # purple
        (250, 140, 20),   # orange
        (240, 240, 240),  # white
        (40, 215, 225),   # cyan
    ],
    dtype=np.float32,
)
SIZES: tuple[str, ...] = ("small", "medium", "large")
# Half-size of an object of each size class, as a fraction of the image side.
SIZE_FRAC: tuple[float, ...] = (0.085, 0.13, 0.19)
# Size-class boundaries (geometric midpoints) used to name a possibly growing object's size.
_SIZE_EDGES = (float(np.sqrt(SIZE_FRAC[0] * SIZE_FRAC[1])), float(np.sqrt(SIZE_FRAC[1] * SIZE_FRAC[2])))
MOTIONS: tuple[str, ...] = (
    "move left", "move right", "move up", "move down",
    "appear", "disappear", "grow", "shrink", "stay",
)
# What one still can show of a motion (SceneConfig's camera blurs along the path, softens a
# scaling rim, makes a fading object translucent): its kind, never its direction.
MOTION_KIND: dict[str, str] = {
    "move left": "horizontal", "move right": "horizontal", "move up": "vertical", "move down": "vertical",
    "grow": "scaling", "shrink": "scaling", "appear": "fading", "disappear": "fading", "stay": "still",
}
KINDS: tuple[str, ...] = ("horizontal", "vertical", "scaling", "fading", "still")
# "stay" is never sampled as an event (there is nothing to localise); writers of classification
# tasks take event-free stretches of a video as "stay" clips.
OPPOSITE = {"move left": "move right", "move right": "move left",
            "move up": "move down", "move down": "move up",
            "appear": "disappear", "disappear": "appear", "grow": "shrink", "shrink": "grow"}
# Open-vocabulary tracking: trackers train on base categories and are tested on novel ones too.
NOVEL_SHAPES: tuple[str, ...] = ("ring", "heart")
BASE_SHAPES: tuple[str, ...] = tuple(s for s in SHAPES if s not in NOVEL_SHAPES)

GROW = 1.5  # size factor of a "grow" event (1 / GROW for "shrink")
VISIBLE_ALPHA = 0.5  # an object counts as visible in a frame at or above this opacity


def size_class(half_size: np.ndarray | float, image_size: int) -> np.ndarray:
    """Index into SIZES of a half-size in pixels (objects grow and shrink continuously)."""
    frac = np.asarray(half_size, dtype=np.float64) / image_size
    return np.digitize(frac, _SIZE_EDGES)


def region(cx: np.ndarray | float, cy: np.ndarray | float, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(column, row) in 0..2 of the image third a centre falls in."""
    col = np.clip((np.asarray(cx) * 3 // image_size).astype(int), 0, 2)
    row = np.clip((np.asarray(cy) * 3 // image_size).astype(int), 0, 2)
    return col, row


@dataclass(frozen=True)
class Background:
    """A mild linear gradient between two dark colours, so frames are not plain black."""

    c0: tuple[int, int, int]
    c1: tuple[int, int, int]
    angle: float  # radians; direction of the gradient

    @staticmethod
    def sample(rng: np.random.Generator) -> Background:
        c0 = tuple(int(v) for v in rng.integers(10, 80, size=3))
        c1 = tuple(int(v) for v in rng.integers(10, 80, size=3))
        return Background(c0, c1, round(float(rng.uniform(0, 2 * np.pi)), 4))  # type: ignore[arg-type]


@dataclass(frozen=True)
class SceneObject:
    track_id: int
    shape: int   # index into SHAPES
    color: int   # index into COLORS
    size: int    # index into SIZES at the first frame

    @property
    def category(self) -> str:
        """The tracking category (the shape); see NOVEL_SHAPES for the open-vocabulary split."""
        return SHAPES[self.shape]

    @property
    def novel(self) -> bool:
        return SHAPES[self.shape] in NOVEL_SHAPES

    @property
    def name(self) -> str:
        return f"{COLORS[self.color]} {SHAPES[self.shape]}"


@dataclass(frozen=True)
class Event:
    obj: int        # index into Scene.objects
    motion: str     # one of MOTIONS
    start: float    # seconds, one decimal (Charades-STA precision)
    end: float
    size: int       # index into SIZES of the object when the event starts (for sentences)


@dataclass
class Scene:
    """Ground truth of one SynthVid video.

    Per-frame arrays are (T, N): centre ``cx, cy`` and ``half`` size in pixels, opacity ``alpha``.
    Object j is drawn after (on top of) objects 0..j-1, so objects may occlude each other.
    """

    image_size: int
    fps: float
    n_frames: int
    background: Background
    objects: list[SceneObject]
    events: list[Event]
    cx: np.ndarray
    cy: np.ndarray
    half: np.ndarray
    alpha: np.ndarray
    # Piecewise-linear keyframes the per-frame arrays were interpolated from: for "cx", "cy",
    # "half", "alpha", one list of [time, value] per object. Exact and compact (scenes.jsonl).
    keyframes: dict[str, list[list[list[float]]]] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    # The camera: each frame integrates the scene over ``exposure_s`` seconds centred on its
    # timestamp, sampled at ``exposure_samples`` instants (see :func:`exposure_times`).
    exposure_s: float = 0.0
    exposure_samples: int = 1

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    @property
    def times(self) -> np.ndarray:
        """Timestamp in seconds of each frame (frame i is shown at i / fps)."""
        return np.arange(self.n_frames) / self.fps

    @property
    def shapes(self) -> np.ndarray:
        return np.array([o.shape for o in self.objects], dtype=np.int64)

    @property
    def colors(self) -> np.ndarray:
        return np.array([o.color for o in self.objects], dtype=np.int64)

    @property
    def boxes(self) -> np.ndarray:
        """(T, N, 4) float32 boxes x1, y1, x2, y2 in pixels, clipped to the image."""
        return object_boxes(self.cx, self.cy, self.half, self.shapes[None, :], self.image_size)

    @property
    def visibility(self) -> np.ndarray:
        """(T, N) bool: the object is drawn at >= VISIBLE_ALPHA opacity in that frame."""
        return self.alpha >= VISIBLE_ALPHA

    def exposed_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(cx, cy, half, alpha), each (T, E, N): the state at every exposure sample of every
        frame (E = 1 and the per-frame arrays when the scene has no camera blur or keyframes)."""
        if self.exposure_samples <= 1 or self.exposure_s <= 0 or not self.keyframes:
            return tuple(a[:, None, :] for a in (self.cx, self.cy, self.half, self.alpha))  # type: ignore[return-value]
        times = exposure_times(self.times, self.exposure_s, self.exposure_samples)
        st = interpolate_at(self.keyframes, times)
        return st["cx"], st["cy"], st["half"], st["alpha"]

    def _render(self, areas: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from i2vbench.datasets.synthvid.render import render_frames

        t = self.n_frames
        return render_frames(
            *self.exposed_state(),
            np.broadcast_to(self.shapes, (t, len(self.objects))),
            np.broadcast_to(self.colors, (t, len(self.objects))),
            [self.background] * t, self.image_size, areas=areas,
        )

    def render(self) -> np.ndarray:
        """The raw (pre-codec) frames as the camera records them, (T, S, S, 3) uint8 RGB."""
        return self._render(areas=False)[0]

    def visible_fraction(self) -> np.ndarray:
        """(T, N) float32: share of each object's drawn area not hidden by objects on top of it
        (0 where it is not drawn); for trackers' occlusion-aware ground truth."""
        _, area, full = self._render(areas=True)
        return np.where(full > 0, area / np.maximum(full, 1e-6), 0).astype(np.float32)

    def to_json(self) -> dict:
        """The scene as JSON: objects, events, background and the exact keyframes.

        Per-frame arrays (boxes, visibility, centres) are not stored: they follow exactly from
        the keyframes (:func:`scene_from_json` re-interpolates them bit for bit).
        """
        return {
            "image_size": self.image_size, "fps": self.fps, "n_frames": self.n_frames,
            "duration": round(self.duration, 4),
            "background": {"c0": list(self.background.c0), "c1": list(self.background.c1),
                           "angle": self.background.angle},
            "objects": [{"track_id": o.track_id, "shape": SHAPES[o.shape], "color": COLORS[o.color],
                         "size": SIZES[o.size], "category": o.category,
                         "category_split": "novel" if o.novel else "base"} for o in self.objects],
            "events": [{"object": e.obj, "track_id": self.objects[e.obj].track_id,
                        "motion": e.motion, "start": e.start, "end": e.end, "size": SIZES[e.size]}
                       for e in self.events],
            "keyframes": self.keyframes,
            "camera": {"exposure_s": self.exposure_s, "exposure_samples": self.exposure_samples},
            **self.extra,
        }


def interpolate(keyframes: dict[str, list[list[list[float]]]], n_frames: int, fps: float
                ) -> dict[str, np.ndarray]:
    """Per-frame (T, N) float32 arrays from per-object [time, value] keyframes."""
    return interpolate_at(keyframes, np.arange(n_frames) / fps)


def interpolate_at(keyframes: dict[str, list[list[list[float]]]], times: np.ndarray
                   ) -> dict[str, np.ndarray]:
    """float32 arrays ``times.shape + (N,)`` of each variable at arbitrary times (seconds)."""
    times = np.asarray(times, dtype=np.float64)
    out = {}
    for v, per_obj in keyframes.items():
        out[v] = np.stack([np.interp(times, [a for a, _ in kf], [b for _, b in kf]) for kf in per_obj],
                          axis=-1).astype(np.float32)
    return out


def exposure_times(times: np.ndarray, exposure_s: float, samples: int) -> np.ndarray:
    """(len(times), samples) instants the camera integrates each frame over: evenly spread
    over ``exposure_s`` centred on the frame's timestamp (midpoints of equal sub-intervals)."""
    offsets = ((np.arange(samples) + 0.5) / samples - 0.5) * exposure_s
    return np.asarray(times, dtype=np.float64)[:, None] + offsets[None, :]


def scene_from_json(d: dict) -> Scene:
    """Inverse of :meth:`Scene.to_json`: the same scene, per-frame arrays included."""
    bg = d["background"]
    objects = [SceneObject(o["track_id"], SHAPES.index(o["shape"]), COLORS.index(o["color"]),
                           SIZES.index(o["size"])) for o in d["objects"]]
    events = [Event(e["object"], e["motion"], e["start"], e["end"], SIZES.index(e["size"]))
              for e in d["events"]]
    known = {"image_size", "fps", "n_frames", "duration", "background", "objects", "events", "keyframes",
             "camera"}
    arr = interpolate(d["keyframes"], d["n_frames"], d["fps"])
    camera = d.get("camera", {})
    return Scene(d["image_size"], d["fps"], d["n_frames"],
                 Background(tuple(bg["c0"]), tuple(bg["c1"]), bg["angle"]), objects, events,
                 arr["cx"], arr["cy"], arr["half"], arr["alpha"], keyframes=d["keyframes"],
                 extra={k: v for k, v in d.items() if k not in known},
                 exposure_s=float(camera.get("exposure_s", 0.0)),
                 exposure_samples=int(camera.get("exposure_samples", 1)))


# ---------------------------------------------------------------------------------------------
# Shape geometry: signed distance (negative inside) in units of the object's half-size.


def _box(x: np.ndarray, y: np.ndarray, a: float, b: float) -> np.ndarray:
    dx, dy = np.abs(x) - a, np.abs(y) - b
    outside = np.hypot(np.maximum(dx, 0), np.maximum(dy, 0))
    return outside + np.minimum(np.maximum(dx, dy), 0)


def _circle(x: np.ndarray, y: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    return np.hypot(x - cx, y - cy) - r


def _diamond(x: np.ndarray, y: np.ndarray, oy: float = 0.0, d: float = 1.0) -> np.ndarray:
    return (np.abs(x) + np.abs(y - oy) - d) * np.float32(1 / np.sqrt(2))


def sdf(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Approximate signed distance of ``shape`` (half-size 1, centred at 0, y pointing down)."""
    if shape == "circle":
        return np.hypot(x, y) - 1.0
    if shape == "square":
        return _box(x, y, 0.86, 0.86)
    if shape == "triangle":  # pointing up
        k = 1.8 / np.hypot(1.8, 1.0)
        return np.maximum(y - 0.8, (1.8 * np.abs(x) - (y + 1.0)) * (k / 1.8))
    if shape == "diamond":
        return _diamond(x, y)
    if shape == "star":  # five points, outer radius 1, inner 0.45
        rho = np.hypot(x, y)
        theta = np.arctan2(x, -y)  # 0 at the top point
        phase = np.abs(((theta / (2 * np.pi / 5)) % 1.0) - 0.5) * 2  # 1 at a point, 0 between
        rb = 0.45 + 0.55 * phase
        return (rho - rb) * 0.55
    if shape == "cross":
        return np.minimum(_box(x, y, 0.95, 0.32), _box(x, y, 0.32, 0.95))
    if shape == "ring":
        return np.abs(np.hypot(x, y) - 0.72) - 0.28
    if shape == "heart":  # a diamond with two circles on its upper edges
        s = 0.92
        xs, ys = x / s, y / s
        d = np.minimum(_diamond(xs, ys, 0.1, 0.9),
                       np.minimum(_circle(xs, ys, -0.45, -0.35, 0.636), _circle(xs, ys, 0.45, -0.35, 0.636)))
        return d * s
    raise ValueError(f"unknown shape {shape!r}")


# Exact extents x1, y1, x2, y2 of each shape at half-size 1, from the geometry in :func:`sdf`
# (tests/test_synthvid.py checks them against a dense rasterisation).
EXTENTS = np.array(
    [
        (-1.0, -1.0, 1.0, 1.0),            # circle
        (-0.86, -0.86, 0.86, 0.86),        # square
        (-1.0, -1.0, 1.0, 0.8),            # triangle
        (-1.0, -1.0, 1.0, 1.0),            # diamond
        (-0.951, -1.0, 0.951, 0.809),      # star: points at 0, +-72, +-144 degrees
        (-0.95, -0.95, 0.95, 0.95),        # cross
        (-1.0, -1.0, 1.0, 1.0),            # ring
        (-0.9991, -0.9071, 0.9991, 0.92),  # heart: 0.92 * (lobe 0.45 + 0.636, top -0.35 - 0.636, tip 1)
    ],
    dtype=np.float32,
)


def object_boxes(cx: np.ndarray, cy: np.ndarray, half: np.ndarray, shape: np.ndarray,
                 image_size: int) -> np.ndarray:
    """Boxes (..., 4) x1, y1, x2, y2 in pixels of objects with the given centres/half-sizes.

    Pixel (i, j) covers [j, j+1) x [i, i+1) and its centre is (j + 0.5, i + 0.5); the box is the
    shape's exact extent, clipped to [0, image_size].
    """
    ext = EXTENTS[np.asarray(shape)]
    half = np.asarray(half, dtype=np.float32)[..., None]
    ctr = np.stack([cx, cy, cx, cy], axis=-1).astype(np.float32)
    return np.clip(ctr + half * ext, 0, image_size).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Scene sampling


@dataclass(frozen=True)
class SceneConfig:
    """What a sampled video looks like. Part of a generated dataset's identity (its hash)."""

    image_size: int = 64
    fps: float = 4.0
    min_duration: float = 15.0
    max_duration: float = 25.0
    min_objects: int = 3
    max_objects: int = 4
    min_events: int = 3
    max_events: int = 5
    min_event_s: float = 2.5
    max_event_s: float = 6.5
    min_gap_s: float = 0.5
    # Camera: a frame integrates the scene over ``exposure_s`` (sampled at ``exposure_samples``
    # instants), so one still shows the kind of change underway but not its direction. It is
    # longer than the 0.25 s between frames on purpose: objects move 3-12 px/s, so a 0.25 s
    # exposure would blur them by under 3 px (and a scaling rim by under 1 px) on 64 px frames.
    exposure_s: float = 1.0
    exposure_samples: int = 8


def _sample_objects(rng: np.random.Generator, n: int, s: int) -> tuple[list[SceneObject], np.ndarray, np.ndarray, np.ndarray]:
    """Objects with distinct (colour, shape), many sharing one attribute with another (distractors)."""
    objs: list[SceneObject] = []
    taken: set[tuple[int, int]] = set()
    cx, cy, half = np.zeros(n), np.zeros(n), np.zeros(n)
    while len(objs) < n:
        u = rng.random()
        if objs and u < 0.45:      # same colour as an existing object, another shape
            color = objs[int(rng.integers(len(objs)))].color
            shape = int(rng.integers(len(SHAPES)))
        elif objs and u < 0.75:    # same shape, another colour
            shape = objs[int(rng.integers(len(objs)))].shape
            color = int(rng.integers(len(COLORS)))
        else:
            shape, color = int(rng.integers(len(SHAPES))), int(rng.integers(len(COLORS)))
        if (color, shape) in taken:
            continue
        size = int(rng.integers(len(SIZES)))
        j = len(objs)
        half[j] = SIZE_FRAC[size] * s * float(rng.uniform(0.93, 1.07))
        for _ in range(20):  # initial positions: inside the frame, not piled on top of each other
            cx[j], cy[j] = rng.uniform(half[j] + 1, s - half[j] - 1, size=2)
            d = np.hypot(cx[:j] - cx[j], cy[:j] - cy[j])
            if np.all(d > 0.7 * (half[:j] + half[j])):
                break
        taken.add((color, shape))
        objs.append(SceneObject(j + 1, shape, color, size))
    return objs, cx, cy, half


def _windows(rng: np.random.Generator, duration: float, k: int, cfg: SceneConfig) -> list[tuple[float, float]]:
    """k non-overlapping event windows (one-decimal times) with gaps of at least min_gap_s."""
    lens = rng.uniform(cfg.min_event_s, cfg.max_event_s, size=k)
    while True:
        room = 0.9 * (duration - (k + 1) * cfg.min_gap_s)  # leave some slack for the gaps
        if lens[:k].sum() > room:  # squeeze the windows to fit, down to 80 % of the minimum length
            lens[:k] *= room / lens[:k].sum()
        if k == 1 or lens[:k].min() >= 0.8 * cfg.min_event_s:
            break
        k -= 1
        lens = rng.uniform(cfg.min_event_s, cfg.max_event_s, size=k)
    lens = np.floor(lens[:k] * 10) / 10
    slack = duration - lens.sum() - (k + 1) * cfg.min_gap_s
    gaps = cfg.min_gap_s + rng.dirichlet(np.ones(k + 1)) * slack
    out, t = [], 0.0
    for i in range(k):
        t += gaps[i]
        st = max(np.ceil(t * 10) / 10, round(out[-1][1] + cfg.min_gap_s, 1) if out else 0.1)
        en = round(st + lens[i], 1)
        out.append((round(float(st), 1), round(float(en), 1)))
        t = en
    # rounding may push the last window past the end; shift the whole block back if needed
    over = out[-1][1] - (duration - 0.1)
    if over > 0:
        out = [(round(a - over, 1), round(b - over, 1)) for a, b in out]
    return out


def sample_scene(rng: np.random.Generator, cfg: SceneConfig = SceneConfig(),
                 n_objects: int | None = None) -> Scene:
    """A random video: objects, a sequence of events, and the per-frame state they imply.

    Events do not overlap in time. Each (object, motion) pair happens at most once, so a sentence
    naming the object (by colour and shape, unique within the video) and the motion identifies
    exactly one window. Choices are biased towards hard negatives: the same motion by another
    object, and the opposite motion by the same object, at another time.
    """
    s = cfg.image_size
    t_frames = int(rng.integers(round(cfg.min_duration * cfg.fps), round(cfg.max_duration * cfg.fps) + 1))
    duration = t_frames / cfg.fps
    n = n_objects or int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    objs, cx0, cy0, half0 = _sample_objects(rng, n, s)
    bg = Background.sample(rng)
    k = int(rng.integers(cfg.min_events, cfg.max_events + 1))
    wins = _windows(rng, duration, k, cfg)

    # keyframes per object and variable: list of (time, value)
    keys: dict[str, list[list[tuple[float, float]]]] = {
        v: [[(0.0, float(a[j]))] for j in range(n)]
        for v, a in (("cx", cx0), ("cy", cy0), ("half", half0), ("alpha", np.ones(n)))
    }
    cur = {"cx": cx0.copy(), "cy": cy0.copy(), "half": half0.copy()}
    used: set[tuple[int, str]] = set()
    has_event = np.zeros(n, bool)
    gone = np.zeros(n, bool)
    events: list[Event] = []
    n_appear = n_disappear = 0
    for st, en in wins:
        cands: list[tuple[int, str, float, float]] = []  # (obj, motion, weight, amount)
        for j in range(n):
            if gone[j]:
                continue
            h = cur["half"][j]
            for m in MOTIONS[:4]:
                if (j, m) in used:
                    continue
                dist = float(rng.uniform(0.28, 0.45)) * s
                axis = "cx" if m in ("move left", "move right") else "cy"
                sign = -1 if m in ("move left", "move up") else 1
                target = cur[axis][j] + sign * dist
                if h + 1 <= target <= s - h - 1:
                    w = 2.0
                    for e in events:
                        if e.motion == m and e.obj != j:
                            w += 3.0  # the same motion by another object, at another time
                        if e.obj == j and e.motion == OPPOSITE[m]:
                            w += 4.0  # the same object, the other way
                    cands.append((j, m, w, sign * dist))
            if not has_event[j] and n_appear == 0 and (j, "appear") not in used:
                cands.append((j, "appear", 0.8, 0.0))
            if n_disappear == 0 and (n - gone.sum()) > 1 and (j, "disappear") not in used:
                cands.append((j, "disappear", 0.6, 0.0))
            fits = min(cur["cx"][j], cur["cy"][j], s - cur["cx"][j], s - cur["cy"][j]) - 1
            if (j, "grow") not in used and h * GROW <= SIZE_FRAC[2] * s * 1.08 and h * GROW <= fits:
                cands.append((j, "grow", 1.0 + 3.0 * any(e.obj == j and e.motion == "shrink" for e in events), GROW))
            if (j, "shrink") not in used and h / GROW >= SIZE_FRAC[0] * s * 0.92:
                cands.append((j, "shrink", 1.0 + 3.0 * any(e.obj == j and e.motion == "grow" for e in events), 1 / GROW))
        if not cands:
            continue
        w = np.array([c[2] for c in cands])
        j, m, _, amount = cands[int(rng.choice(len(cands), p=w / w.sum()))]
        size_now = int(size_class(cur["half"][j], s))
        if m in ("move left", "move right", "move up", "move down"):
            axis = "cx" if m in ("move left", "move right") else "cy"
            keys[axis][j] += [(st, float(cur[axis][j])), (en, float(cur[axis][j] + amount))]
            cur[axis][j] += amount
        elif m in ("grow", "shrink"):
            keys["half"][j] += [(st, float(cur["half"][j])), (en, float(cur["half"][j] * amount))]
            cur["half"][j] *= amount
        elif m == "appear":
            keys["alpha"][j] = [(0.0, 0.0), (st, 0.0), (en, 1.0)]
            n_appear += 1
        elif m == "disappear":
            keys["alpha"][j] += [(st, 1.0), (en, 0.0)]
            gone[j] = True
            n_disappear += 1
        used.add((j, m))
        has_event[j] = True
        events.append(Event(j, m, st, en, size_now))

    kf = {v: [[[float(a), float(b)] for a, b in per] for per in lists] for v, lists in keys.items()}
    arrays = interpolate(kf, t_frames, cfg.fps)
    return Scene(s, cfg.fps, t_frames, bg, objs, events, arrays["cx"], arrays["cy"], arrays["half"],
                 arrays["alpha"], keyframes=kf, exposure_s=cfg.exposure_s,
                 exposure_samples=cfg.exposure_samples)


# ---------------------------------------------------------------------------------------------
# Derived scenes: a scene played backwards, and a scene that follows a given script. Both are
# additive (sample_scene is untouched), for the writers whose classes or pairs are decided by
# what happens in which order (SSv2-like motion templates, MSR-VTT twins).


def reverse_scene(scene: Scene) -> Scene:
    """``scene`` played backwards: the same objects, the opposite events in reverse order.

    Time is mirrored about the last frame (t -> (T - 1) / fps - t), so frame j of the result is
    frame T - 1 - j of ``scene``: the camera's exposure is symmetric, so the two videos hold the
    same stills in opposite order, and anything that pools frames without order cannot tell
    them apart. Event times are mirrored too (rounded to 0.01 s, clamped to the video), sizes
    are re-read at each event's new start.
    """
    t_last = (scene.n_frames - 1) / scene.fps
    kf = {v: [[[round(t_last - t, 6), x] for t, x in reversed(per)] for per in lists]
          for v, lists in scene.keyframes.items()}
    arrays = interpolate(kf, scene.n_frames, scene.fps)
    s = scene.image_size
    half0 = interpolate_at({"half": kf["half"]}, np.zeros(1))["half"][0]
    objects = [SceneObject(o.track_id, o.shape, o.color, int(size_class(half0[j], s)))
               for j, o in enumerate(scene.objects)]
    events = []
    for e in reversed(scene.events):
        st = max(0.0, round(t_last - e.end, 2))
        en = min(round(scene.duration, 2), round(t_last - e.start, 2))
        h = interpolate_at({"half": [kf["half"][e.obj]]}, np.array([st]))["half"][0, 0]
        events.append(Event(e.obj, OPPOSITE[e.motion], st, en, int(size_class(h, s))))
    return Scene(s, scene.fps, scene.n_frames, scene.background, objects, events, arrays["cx"],
                 arrays["cy"], arrays["half"], arrays["alpha"], keyframes=kf, extra=dict(scene.extra),
                 exposure_s=scene.exposure_s, exposure_samples=scene.exposure_samples)


def scripted_scene(rng: np.random.Generator, cfg: SceneConfig, objects: list[tuple[int, int, float]],
                   script: list[tuple[int, str, float, float, float]], n_frames: int | None = None) -> Scene:
    """A scene in which exactly the scripted events happen (nothing else moves).

    ``objects``: (shape, colour, half-size in pixels at the first frame), drawn in that order
    (the last on top). ``script``: (object, motion, start, end, amount) in time order, where
    amount is the distance in pixels of a move (direction from the motion) and the size factor
    of grow/shrink (ignored for appear/disappear/stay). Each object's start position is drawn
    uniformly from where its whole path stays inside the frame (an object with no room is
    centred). An object whose first event is "appear" is invisible until then.
    """
    s = cfg.image_size
    t_frames = n_frames or int(rng.integers(round(cfg.min_duration * cfg.fps), round(cfg.max_duration * cfg.fps) + 1))
    bg = Background.sample(rng)
    n = len(objects)
    keys: dict[str, list[list[tuple[float, float]]]] = {v: [] for v in ("cx", "cy", "half", "alpha")}
    for j, (shape, _, half) in enumerate(objects):
        steps = [e for e in script if e[0] == j]
        # the path's extent relative to the start, and the largest half-size along it
        x = y = lo_x = hi_x = lo_y = hi_y = 0.0
        h = h_max = half
        for _, m, _, _, amount in steps:
            if m in ("move left", "move right"):
                x += amount if m == "move right" else -amount
            elif m in ("move up", "move down"):
                y += amount if m == "move down" else -amount
            elif m in ("grow", "shrink"):
                h *= amount
            lo_x, hi_x, lo_y, hi_y = min(lo_x, x), max(hi_x, x), min(lo_y, y), max(hi_y, y)
            h_max = max(h_max, h)
        ext = EXTENTS[shape]
        pos = []
        for lo, hi, e_lo, e_hi in ((lo_x, hi_x, ext[0], ext[2]), (lo_y, hi_y, ext[1], ext[3])):
            a, b = 1 - lo - e_lo * h_max, s - 1 - hi - e_hi * h_max
            pos.append(float(rng.uniform(a, b)) if a < b else (s / 2 - (lo + hi) / 2))
        cur = {"cx": pos[0], "cy": pos[1], "half": float(half)}
        kf = {v: [(0.0, cur[v])] for v in ("cx", "cy", "half")}
        kf["alpha"] = [(0.0, 0.0 if steps and steps[0][1] == "appear" else 1.0)]
        for _, m, st, en, amount in steps:
            if m in ("move left", "move right", "move up", "move down"):
                axis = "cx" if m in ("move left", "move right") else "cy"
                sign = -1.0 if m in ("move left", "move up") else 1.0
                kf[axis] += [(st, cur[axis]), (en, cur[axis] + sign * amount)]
                cur[axis] += sign * amount
            elif m in ("grow", "shrink"):
                kf["half"] += [(st, cur["half"]), (en, cur["half"] * amount)]
                cur["half"] *= amount
            elif m == "appear":
                kf["alpha"] += [(st, 0.0), (en, 1.0)]
            elif m == "disappear":
                kf["alpha"] += [(st, 1.0), (en, 0.0)]
        for v in keys:
            keys[v].append(kf[v])
    kfj = {v: [[[float(a), float(b)] for a, b in per] for per in lists] for v, lists in keys.items()}
    arrays = interpolate(kfj, t_frames, cfg.fps)
    half_at = {(j, st): interpolate_at({"half": [kfj["half"][j]]}, np.array([st]))["half"][0, 0]
               for j, _, st, _, _ in script}
    objs = [SceneObject(j + 1, shape, color, int(size_class(half, s)))
            for j, (shape, color, half) in enumerate(objects)]
    events = [Event(j, m, st, en, int(size_class(half_at[(j, st)], s))) for j, m, st, en, _ in script
              if m != "stay"]
    assert len(objs) == n
    return Scene(s, cfg.fps, t_frames, bg, objs, events, arrays["cx"], arrays["cy"], arrays["half"],
                 arrays["alpha"], keyframes=kfj, exposure_s=cfg.exposure_s,
                 exposure_samples=cfg.exposure_samples)


def slot_windows(rng: np.random.Generator, duration: float, k: int, fill: tuple[float, float] = (0.65, 0.85),
                 ) -> list[tuple[float, float]]:
    """k event windows in time order (one-decimal times): the video cut into k equal slots, each
    holding one window of ``fill`` (a uniform range) of its slot at a random place in it."""
    slot = duration / k
    out = []
    for i in range(k):
        length = float(rng.uniform(*fill)) * slot
        st = i * slot + float(rng.uniform(0.05, 0.95)) * (slot - length)
        st = max(round(st, 1), round(out[-1][1] + 0.1, 1) if out else 0.0)
        out.append((st, min(round(st + length, 1), round(duration - 0.1, 1))))
    return out
