"""SynthVid in TAO's own files: open-vocabulary multi-object tracking ground truth.

A built benchmark is a folder the real TAO loader (:func:`i2vbench.datasets.tao.load_tao_gt`)
and a TAO tracker read as they are::

    frames/<split>/SynthVid/<vid>/frame0001.jpg ...  every frame as a JPEG (1-based names, as TAO)
    annotations/train.json                         TAO GT: videos, images, tracks, annotations,
    annotations/validation.json                    categories (LVIS-style, with ``frequency``)
    annotations/test.json
    videos/<vid>.mp4, scenes.jsonl, meta.json      the writer's (scene + every box, novel included)

What TAO has and this keeps:

- **Sparse ground truth**: frames are written at the scene rate (4 fps) but only every
  ``annotate_every``-th frame (1 fps by default) is an ``images`` entry with boxes, as TAO
  labels about one frame per second of 30 fps video. A tracker runs on every frame and is scored
  on the labelled ones (``frame_index`` is 0-based, file names 1-based: ``frame0005.jpg`` is
  frame_index 4, as in TAO).
- **Base and novel categories**, decided as OVTrack decides them, by LVIS' ``frequency``: the
  shapes in :data:`~.world.NOVEL_SHAPES` are ``"r"`` (rare = novel), the others ``"f"`` (base).
  Every file lists all categories (OVTrack runs with the whole vocabulary), but the **training
  file boxes base categories only**: novel objects are in the training videos, unlabelled, as
  LVIS' rare classes are removed from OVTrack's training data. Val and test box both.
- Federated labels: ``neg_category_ids`` are the categories absent from the whole video (in the
  training file only base ones: nothing is claimed about unlabelled novel objects);
  ``not_exhaustive_category_ids`` is empty (every labelled category is boxed wherever it is
  visible).
- Hard cases come from the scene sampler (10-12 s scenes of 3-5 objects; the pool's sampler with
  a shorter, busier, faster config) and from scripted crossings (:func:`tao_scene`): objects
  **cross** and **occlude** each other (a box is labelled while at least ``min_visible`` of the
  object's drawn area is unhidden and it is at least half opaque), **appear and disappear**, and
  many share a colour or a shape with another object of the video (distractors).
  ``videos[].metadata.crossings`` counts the pairs of tracks whose boxes overlap (IoU >=
  ``crossing_iou``) on some frame while both are visible; the OV-MOT runner scores association
  on the videos that have one.
- **Motion between processed frames as TAO's.** TAO labels 1 fps of 30 fps video and trackers
  are run there on the labelled frames, so between two processed frames people, cars and
  animals move a lot and pass through each other's place: that is where IoU association swaps
  identities and appearance keeps them. The pool's objects move under 3 px a frame (4 fps), so
  IoU association on its boxes was near-perfect (on the writer's exact boxes of version 1's 48
  val + test videos an IoU Hungarian tracker, threshold 0.3, switched one identity). Here moves are faster (1.5-4 s
  per move, up to 5 px a frame) and most videos (``max_crossings``, ``crossing_prob``) have a
  **scripted crossing**: two fully visible objects, preferably differing in both colour and
  shape, exchange places in a straight line at 24-40 px/s (6-10 px a frame), meeting at the
  midpoint, and then follow each other's former paths. On the writer's exact boxes the IoU
  tracker (the baseline's) keeps 12 % of the identities through the crossings of 12 val videos,
  an ideal appearance embedding all of them (``tests/test_synthvid_tao.py``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from i2vbench.datasets.synthvid.world import (
    NOVEL_SHAPES,
    SHAPES,
    Event,
    Scene,
    SceneConfig,
    interpolate,
    interpolate_at,
    scene_from_json,
    size_class,
)
from i2vbench.datasets.synthvid.writer import (
    SPLITS,
    BuildOptions,
    Built,
    Records,
    TaskFolder,
    TaskWriter,
    WriterConfig,
    build,
    check_split,
    task_rng,
    video_scene,
)

if TYPE_CHECKING:
    from typing import Unpack

GT_FILES = {"train": "annotations/train.json", "val": "annotations/validation.json",
            "test": "annotations/test.json"}
SPLIT_DIR = {"train": "train", "val": "val", "test": "test"}  # TAO's video name prefixes
SOURCE = "SynthVid"  # TAO's second name component is the source dataset (YFCC100M, ArgoVerse, ...)


def _scene_config() -> SceneConfig:
    # 10-12 s videos (40-48 frames at 4 fps) with up to 5 objects: crossings come sooner than in
    # the pool's 15-25 s scenes, and the run stays in budget (the detector reads every frame).
    # Moves last 1.5-4 s (the pool's 2.5-6.5 s): 4.5-19 px/s, up to 5 px between frames, as TAO's
    # objects move a lot between the 1 fps frames trackers process there. The camera exposes a
    # frame for its 0.25 s interval (the pool's 1 s would smear a crossing object over 30 px).
    return SceneConfig(min_duration=10.0, max_duration=12.0, min_objects=3, max_objects=5, min_events=3,
                       max_events=6, min_event_s=1.5, max_event_s=4.0, exposure_s=0.25)


@dataclass(frozen=True)
class TAOConfig(WriterConfig):
    """Sizes, the labelling rate and what counts as visible; with the seed, the folder's identity."""

    scene: SceneConfig = field(default_factory=_scene_config)
    n_train: int = 40
    n_val: int = 16
    n_test: int = 32
    annotate_every: int = 4  # label one frame in this many (4 at SynthVid's 4 fps: TAO's 1 fps)
    min_visible: float = 0.25  # a box is labelled if this share of the object is unhidden
    crossing_iou: float = 0.2  # two tracks cross where their boxes overlap this much
    jpeg_quality: int = 90
    # Scripted crossings (:func:`tao_scene`): up to ``max_crossings`` per video, each drawn with
    # probability ``crossing_prob``; two objects exchange places at ``crossing_speed`` px/s.
    max_crossings: int = 2
    crossing_prob: float = 0.6
    crossing_speed: tuple[float, float] = (24.0, 40.0)  # 6-10 px between frames at 4 fps


def category_table() -> list[dict]:
    """TAO/LVIS-style categories: id (1-based), name, synset, frequency ("r" = novel)."""
    return [{"id": i + 1, "name": s, "synset": f"{s}.n.01", "frequency": "r" if s in NOVEL_SHAPES else "f"}
            for i, s in enumerate(SHAPES)]


def novel_category_ids() -> list[int]:
    return [c["id"] for c in category_table() if c["frequency"] == "r"]


def _xywh(b: np.ndarray) -> list[float]:
    return [round(float(b[0]), 2), round(float(b[1]), 2), round(float(b[2] - b[0]), 2),
            round(float(b[3] - b[1]), 2)]


def crossing_pairs(boxes: np.ndarray, visible: np.ndarray, thr: float) -> list[tuple[int, int]]:
    """Pairs (a, b), a < b, of objects whose boxes (T, N, 4 xyxy) overlap with IoU >= thr on a
    frame where both are visible."""
    n = boxes.shape[1]
    area = (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    pairs = []
    for a in range(n):
        for b in range(a + 1, n):
            x0 = np.maximum(boxes[:, a, 0], boxes[:, b, 0])
            y0 = np.maximum(boxes[:, a, 1], boxes[:, b, 1])
            x1 = np.minimum(boxes[:, a, 2], boxes[:, b, 2])
            y1 = np.minimum(boxes[:, a, 3], boxes[:, b, 3])
            inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
            iou = inter / np.maximum(area[:, a] + area[:, b] - inter, 1e-6)
            if ((iou >= thr) & visible[:, a] & visible[:, b]).any():
                pairs.append((a, b))
    return pairs


_MOVES = ("move left", "move right", "move up", "move down")


def _busy(scene: Scene, j: int, crossings: list[dict]) -> list[tuple[float, float]]:
    """Time windows in which object j does something (an event or a scripted crossing)."""
    out = [(e.start, e.end) for e in scene.events if e.obj == j]
    return out + [(c["start"], c["end"]) for c in crossings if j in c["objects"]]


def _cross(scene: Scene, a: int, b: int, t0: float, t1: float) -> Scene:
    """``scene`` with objects a and b exchanging places from t0 to t1: each goes in a straight
    line to where the other is, and afterwards follows the other's path (so both stay on paths
    the sampler made, inside the frame). Sizes and opacity stay each object's own; the later
    moves of the paths change hands in ``events`` too."""
    kf = {v: [list(map(list, per)) for per in lists] for v, lists in scene.keyframes.items()}
    for v in ("cx", "cy"):
        at = interpolate_at({v: [kf[v][a], kf[v][b]]}, np.array([t0]))[v][0]
        pa, pb = float(at[0]), float(at[1])
        old_a, old_b = kf[v][a], kf[v][b]
        kf[v][a] = [k for k in old_a if k[0] < t0] + [[t0, pa], [t1, pb]] + [k for k in old_b if k[0] > t1]
        kf[v][b] = [k for k in old_b if k[0] < t0] + [[t0, pb], [t1, pa]] + [k for k in old_a if k[0] > t1]
    arrays = interpolate(kf, scene.n_frames, scene.fps)
    swap = {a: b, b: a}
    events = []
    for e in scene.events:
        if e.motion in _MOVES and e.start >= t1 and e.obj in swap:
            j = swap[e.obj]
            e = Event(j, e.motion, e.start, e.end,
                      int(size_class(interpolate_at({"half": [kf["half"][j]]}, np.array([e.start]))["half"][0, 0],
                                     scene.image_size)))
        events.append(e)
    return Scene(scene.image_size, scene.fps, scene.n_frames, scene.background, scene.objects, events,
                 arrays["cx"], arrays["cy"], arrays["half"], arrays["alpha"], keyframes=kf,
                 extra=dict(scene.extra), exposure_s=scene.exposure_s, exposure_samples=scene.exposure_samples)


def tao_scene(seed: int, split: str, index: int, cfg: TAOConfig) -> Scene:
    """The pool's sampler (with the TAO scene config) plus scripted **crossings**: two objects
    exchange places between a few processed frames, as people, cars and animals of TAO cross at
    its 1 fps. Each crossing (at most ``max_crossings``, each with probability
    ``crossing_prob``) takes a pair of objects fully visible and idle over the window, preferring
    pairs that differ in both colour and shape (appearance can tell them apart; the video's other
    objects remain distractors), at a speed drawn from ``crossing_speed``; both pass through the
    midpoint at the same time, the one drawn later on top. ``crossing_events`` in the record lists
    them (objects, start, end in seconds)."""
    scene = video_scene(seed, split, index, cfg.scene)
    rng = task_rng(seed, split, index, "tao/crossings")
    n, s, fps = len(scene.objects), scene.image_size, scene.fps
    crossings: list[dict] = []
    for _ in range(cfg.max_crossings):
        if rng.random() >= cfg.crossing_prob or n < 2:
            continue
        pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
        w = np.array([3.0 if scene.objects[a].color != scene.objects[b].color
                      and scene.objects[a].shape != scene.objects[b].shape else 1.0 for a, b in pairs])
        speed = float(rng.uniform(*cfg.crossing_speed))
        starts = np.round(np.arange(0.5, scene.duration - 1.0, 0.1), 1)
        for k in rng.choice(len(pairs), size=len(pairs), replace=False, p=w / w.sum()).tolist():
            a, b = pairs[k]
            st = interpolate_at(scene.keyframes, starts)
            d = np.hypot(st["cx"][:, a] - st["cx"][:, b], st["cy"][:, a] - st["cy"][:, b])
            ends = np.round(starts + np.maximum(0.5, np.round(d / speed, 1)), 1)
            h = st["half"][:, a] + st["half"][:, b]
            ok = (d >= h) & (d <= 0.75 * s) & (ends <= scene.duration - 0.5)
            busy = _busy(scene, a, crossings) + _busy(scene, b, crossings)
            for i in np.flatnonzero(ok).tolist():
                t0, t1 = starts[i], ends[i]
                grid = np.arange(t0 - 1 / fps, t1 + 1 / fps + 1e-9, 0.05)
                alpha = interpolate_at({"alpha": [scene.keyframes["alpha"][a], scene.keyframes["alpha"][b]]},
                                       grid)["alpha"]
                ok[i] = (alpha >= 1).all() and not any(x < t1 + 0.1 and y > t0 - 0.1 for x, y in busy)
            if ok.any():
                i = int(rng.choice(np.flatnonzero(ok)))
                t0, t1 = float(starts[i]), float(ends[i])
                scene = _cross(scene, a, b, t0, t1)
                for c in crossings:  # a later crossing on a's path after t1 is b's now, and vice versa
                    if c["start"] >= t1:
                        c["objects"] = sorted({a: b, b: a}.get(o, o) for o in c["objects"])
                crossings.append({"objects": [a, b], "start": t0, "end": t1})
                break
    scene.extra["crossing_events"] = sorted(crossings, key=lambda c: c["start"])
    return scene


def annotate(scene: Scene, rng: np.random.Generator, cfg: TAOConfig) -> dict:
    """Every labelled frame's boxes (novel objects included; the training file drops them).

    ``tao_boxes``: [frame_index, object index, x, y, w, h] rows; ``crossings`` as in the module
    docstring. Deterministic: no random draws.
    """
    boxes = scene.boxes
    unhidden = scene.visible_fraction()
    labelled = scene.visibility & (unhidden >= cfg.min_visible)
    labelled &= (boxes[..., 2] - boxes[..., 0] >= 1) & (boxes[..., 3] - boxes[..., 1] >= 1)
    rows = []
    for t in range(0, scene.n_frames, cfg.annotate_every):
        for j in np.flatnonzero(labelled[t]).tolist():
            rows.append([t, j, *_xywh(boxes[t, j])])
    return {"tao_boxes": rows, "crossings": len(crossing_pairs(boxes, scene.visibility, cfg.crossing_iou))}


def video_name(split: str, vid: str) -> str:
    """TAO's ``<split>/<source>/<video>`` name (also the video's frame folder under ``frames/``)."""
    return f"{SPLIT_DIR[check_split(split)]}/{SOURCE}/{vid}"


def frame_file(name: str, frame_index: int) -> str:
    """TAO's 1-based JPEG name of 0-based ``frame_index``."""
    return f"{name}/frame{frame_index + 1:04d}.jpg"


def _gt_json(records: list[dict], split: str, cfg: TAOConfig) -> str:
    cats = category_table()
    novel = {c["id"] for c in cats if c["frequency"] == "r"}
    cat_of = {c["name"]: c["id"] for c in cats}
    videos, images, tracks, anns = [], [], [], []
    image_count: dict[int, set] = {c["id"]: set() for c in cats}
    instance_count = {c["id"]: 0 for c in cats}
    for v, r in enumerate(records, start=1):
        name = video_name(split, r["vid"])
        size = r["image_size"]
        obj_cat = [cat_of[o["category"]] for o in r["objects"]]
        present = set(obj_cat)
        neg = [c["id"] for c in cats if c["id"] not in present and not (split == "train" and c["id"] in novel)]
        videos.append({"id": v, "name": name, "width": size, "height": size, "neg_category_ids": neg,
                       "not_exhaustive_category_ids": [],
                       "metadata": {"dataset": SOURCE, "crossings": r["crossings"], "fps": r["fps"]}})
        image_id = {}
        for t in range(0, r["n_frames"], cfg.annotate_every):
            image_id[t] = len(images) + 1
            images.append({"id": image_id[t], "video_id": v, "file_name": frame_file(name, t),
                           "frame_index": t, "width": size, "height": size, "video": name})
        track_id = {}
        for j, c in enumerate(obj_cat):
            boxed = any(row[1] == j for row in r["tao_boxes"])
            if boxed and not (split == "train" and c in novel):
                track_id[j] = len(tracks) + 1
                tracks.append({"id": track_id[j], "category_id": c, "video_id": v})
                instance_count[c] += 1
        for t, j, x, y, w, h in r["tao_boxes"]:
            if j not in track_id:
                continue
            c = obj_cat[j]
            image_count[c].add(image_id[t])
            anns.append({"id": len(anns) + 1, "image_id": image_id[t], "video_id": v, "track_id": track_id[j],
                         "category_id": c, "bbox": [x, y, w, h], "area": round(w * h, 2), "iscrowd": 0})
    for c in cats:
        c["image_count"] = len(image_count[c["id"]])
        c["instance_count"] = instance_count[c["id"]]
    data = {"info": {"description": f"SynthVid TAO-format {split} split", "version": "1"},
            "licenses": [], "videos": videos, "images": images, "tracks": tracks, "annotations": anns,
            "categories": cats}
    return json.dumps(data, separators=(",", ":")) + "\n"


def _jpeg(frame: np.ndarray, quality: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def tao_files(records: Records, cfg: TAOConfig) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {GT_FILES[s]: _gt_json(records[s], s, cfg) for s in SPLITS}
    for s in SPLITS:
        for r in records[s]:
            name = video_name(s, r["vid"])
            for t, frame in enumerate(scene_from_json(r).render()):
                files[f"frames/{frame_file(name, t)}"] = _jpeg(frame, cfg.jpeg_quality)
    return files


def _counts(records: list[dict]) -> dict[str, int]:
    novel = set(NOVEL_SHAPES)
    return {"labelled boxes": sum(len(r["tao_boxes"]) for r in records),
            "videos with a crossing": sum(r["crossings"] > 0 for r in records),
            "novel objects": sum(o["shape"] in novel for r in records for o in r["objects"])}


TAO = TaskWriter("tao", "2", annotate, tao_files, _counts,
                 {"categories": category_table(), "novel": "frequency == 'r' (OVTrack's split)"}, scene=tao_scene)


@dataclass(frozen=True)
class SynthVidTAO(TaskFolder):
    """A built SynthVid TAO-format benchmark (see the module docstring for the layout)."""

    frames_dir: Path
    annotations_dir: Path

    def gt_json(self, split: str) -> Path:
        """TAO GT json of "train", "val" (``validation.json``) or "test"."""
        return self.root / GT_FILES[check_split(split)]

    def scenes(self, split: str | None = None) -> Iterator[tuple[str, str, Scene, dict]]:
        """(id, split, scene, record) for every video, from ``scenes.jsonl``."""
        return self.scenes_with(None, split)


def _handle(built: Built) -> SynthVidTAO:
    return SynthVidTAO(**built.folder_fields(), frames_dir=built.root / "frames",
                       annotations_dir=built.root / "annotations")


def build_tao(root: Path | str | None = None, *, config: TAOConfig | None = None,
              **options: Unpack[BuildOptions]) -> SynthVidTAO:
    """Generate (or reuse) the SynthVid TAO-format benchmark; returns its paths.

    ``n_train`` / ``n_val`` / ``n_test`` override the config's video counts. ``options``
    are those of :func:`.writer.build`.
    """
    return build(TAO, config or TAOConfig(), _handle, root, **options)
