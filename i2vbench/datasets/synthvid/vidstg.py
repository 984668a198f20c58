"""The SynthVid spatio-temporal video grounding (STVG) benchmark, written in VidSTG's formats.

A built benchmark is a folder the real VidSTG loader (:mod:`i2vbench.datasets.vidstg`) reads as
it is::

    videos/<vid>.mp4              H.264 (libx264, yuv420p) at ``fps``, ``image_size`` square
    {train,val,test}.json         TubeDETR's processed VidSTG: {"videos": [one record per
                                  sentence], "trajectories": {vid: {tid: {frame: {"bbox": xywh}}}}}
    vidor/<vid>.json              VidOR-style annotation per video (per-frame ``trajectories`` of
                                  {tid, bbox: {xmin, ymin, xmax, ymax}}, ``subject/objects``)
    scenes.jsonl, meta.json       the writer's

Each video is scripted so that a sentence can only be grounded by reading both space and time:
a target object A does a motion ``m`` in one time slot and the opposite motion in another, and a
second object B (sharing A's colour or its shape) does the same motion ``m`` in the third slot;
a third object stays still. Every event gets a **declarative** sentence ("the red circle moves
to the left.", the object named by colour and shape) and an **interrogative** one ("which red
shape moves to the left?", naming only what singles the event out among the video's events).
The target tube is the event's object on the frames of the event (``tube_start_frame``
included, ``tube_end_frame`` excluded, as TubeDETR counts).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from i2vbench.datasets.synthvid.text import event_phrase, event_sentence, noun_phrase
from i2vbench.datasets.synthvid.world import (
    COLORS,
    OPPOSITE,
    SHAPES,
    SIZE_FRAC,
    Scene,
    SceneConfig,
    scene_from_json,
    scripted_scene,
    slot_windows,
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
)

if TYPE_CHECKING:
    from typing import Unpack

MOTIONS_STVG = ("move left", "move right", "move up", "move down", "grow", "shrink")


def _scene_config() -> SceneConfig:
    # 24 frames at 5 fps (TubeDETR samples VidSTG at 5 fps): three event slots of 1.6 s
    return SceneConfig(fps=5.0, min_duration=4.8, max_duration=4.8, min_objects=3, max_objects=3)


@dataclass(frozen=True)
class VidSTGConfig(WriterConfig):
    scene: SceneConfig = field(default_factory=_scene_config)
    n_train: int = 200
    n_val: int = 50
    n_test: int = 100
    size_prob: float = 0.3  # chance that a declarative sentence also names the object's size


@dataclass(frozen=True)
class SynthVidSTG(TaskFolder):
    """A built SynthVid STVG benchmark (see the module docstring for the layout)."""

    train_json: Path
    val_json: Path
    test_json: Path
    vidor_dir: Path

    def json(self, split: str) -> Path:
        return {"train": self.train_json, "val": self.val_json, "test": self.test_json}[check_split(split)]

    def scenes(self, split: str | None = None) -> Iterator[tuple[str, str, Scene, list[dict]]]:
        """(vid, split, scene, queries) for every video, from ``scenes.jsonl``."""
        return self.scenes_with("queries", split)


def stvg_scene(seed: int, split: str, index: int, cfg: VidSTGConfig) -> Scene:
    """Video ``index`` of ``split``: A does m and opposite(m), B (a near-twin of A) does m, C stays."""
    rng = task_rng(seed, split, index, "vidstg/scene")
    sc, s = cfg.scene, cfg.scene.image_size
    a_shape, a_color = int(rng.integers(len(SHAPES))), int(rng.integers(len(COLORS)))
    if rng.random() < 0.5:  # B shares A's colour
        b_color, b_shape = a_color, int(rng.choice([k for k in range(len(SHAPES)) if k != a_shape]))
    else:  # or A's shape
        b_shape, b_color = a_shape, int(rng.choice([k for k in range(len(COLORS)) if k != a_color]))
    while True:
        c_shape, c_color = int(rng.integers(len(SHAPES))), int(rng.integers(len(COLORS)))
        if (c_shape, c_color) not in {(a_shape, a_color), (b_shape, b_color)}:
            break
    objects = [(sh, co, float(rng.uniform(SIZE_FRAC[0], SIZE_FRAC[1])) * s)
               for sh, co in ((c_shape, c_color), (b_shape, b_color), (a_shape, a_color))]  # A on top
    m = MOTIONS_STVG[int(rng.integers(len(MOTIONS_STVG)))]
    duration = round(sc.min_duration * sc.fps) / sc.fps
    slots = slot_windows(rng, duration, 3, (0.6, 0.8))
    who = [(2, m), (2, OPPOSITE[m]), (1, m)]
    order = rng.permutation(3)
    script = []
    for (st, en), k in zip(slots, order, strict=True):
        j, mo = who[int(k)]
        amount = {"grow": 1.45, "shrink": 1 / 1.45}.get(mo, float(rng.uniform(0.2, 0.28)) * s)
        script.append((j, mo, st, en, amount))
    return scripted_scene(rng, sc, objects, script, n_frames=round(duration * sc.fps))


def _question(scene: Scene, e_idx: int, rng: np.random.Generator) -> str:
    """"which [colour] <shape|"shape"> <event>?" with the fewest attributes that single the event
    out among the video's events (the motion alone, else with colour or shape, else both)."""
    e = scene.events[e_idx]
    o = scene.objects[e.obj]
    others = [scene.objects[x.obj] for i, x in enumerate(scene.events) if i != e_idx and x.motion == e.motion]
    options = [(False, False), *sorted([(True, False), (False, True)], key=lambda _: rng.random()), (True, True)]
    for use_c, use_s in options:
        if not any((not use_c or p.color == o.color) and (not use_s or p.shape == o.shape) for p in others):
            break
    np_ = noun_phrase("a", o.color if use_c else None, o.shape if use_s else None)
    return f"which {np_.split(' ', 1)[1]} {event_phrase(rng, e.motion)}?"


def sample_queries(scene: Scene, rng: np.random.Generator, cfg: VidSTGConfig) -> dict:
    """A declarative and an interrogative sentence for each event, with its tube's frames."""
    out = []
    for i, e in enumerate(scene.events):
        o = scene.objects[e.obj]
        start = int(np.ceil(round(e.start * scene.fps, 6)))
        end = min(int(np.floor(round(e.end * scene.fps, 6))) + 1, scene.n_frames)
        size = e.size if rng.random() < cfg.size_prob else None
        for qtype, text in (("declarative", event_sentence(rng, e.motion, o.color, o.shape, size)),
                            ("interrogative", _question(scene, i, rng))):
            out.append({"event": i, "qtype": qtype, "sentence": text, "target_id": o.track_id,
                        "tube_start_frame": start, "tube_end_frame": end})
    return {"queries": out}


def _trajectories(r: dict) -> dict[str, dict[str, dict]]:
    """{tid: {frame: {"bbox": [x, y, w, h]}}} of every object on the frames it is visible."""
    scene = scene_from_json(r)
    boxes, vis = scene.boxes, scene.visibility
    out: dict[str, dict[str, dict]] = {}
    for j, o in enumerate(scene.objects):
        out[str(o.track_id)] = {
            str(t): {"bbox": [round(float(b[0]), 2), round(float(b[1]), 2), round(float(b[2] - b[0]), 2),
                              round(float(b[3] - b[1]), 2)]}
            for t, b in enumerate(boxes[:, j]) if vis[t, j]}
    return out


def _processed(records: list[dict], first_id: int) -> tuple[str, int]:
    """TubeDETR's processed json of one split; query ids count on from ``first_id``."""
    videos, traj = [], {}
    qid = first_id
    for r in records:
        traj[r["vid"]] = _trajectories(r)
        for q in r["queries"]:
            o = next(o for o in r["objects"] if o["track_id"] == q["target_id"])
            videos.append({
                "original_video_id": r["vid"], "frame_count": r["n_frames"], "fps": r["fps"],
                "width": r["image_size"], "height": r["image_size"], "start_frame": 0,
                "end_frame": r["n_frames"], "tube_start_frame": q["tube_start_frame"],
                "tube_end_frame": q["tube_end_frame"], "video_path": f"{r['vid']}.mp4",
                "caption": q["sentence"], "type": "synthvid", "target_category": o["category"],
                "target_id": q["target_id"], "qtype": q["qtype"], "video_id": qid,
            })
            qid += 1
    return json.dumps({"videos": videos, "trajectories": traj}, separators=(",", ":")) + "\n", qid


def _vidor(r: dict) -> str:
    """A VidOR annotation file: objects, and per frame the boxes of the visible ones."""
    traj = _trajectories(r)
    frames: list[list[dict]] = [[] for _ in range(r["n_frames"])]
    for tid, per in traj.items():
        for f, rec in per.items():
            x, y, w, h = rec["bbox"]
            frames[int(f)].append({"tid": int(tid), "bbox": {"xmin": x, "ymin": y, "xmax": round(x + w, 2),
                                                             "ymax": round(y + h, 2)},
                                   "generated": 0, "tracker": "none"})
    ann = {"version": "VERSION 1.0", "video_id": r["vid"], "video_hash": r["vid"], "frame_count": r["n_frames"],
           "fps": r["fps"], "width": r["image_size"], "height": r["image_size"],
           "subject/objects": [{"tid": o["track_id"], "category": o["category"]} for o in r["objects"]],
           "trajectories": frames, "relation_instances": []}
    return json.dumps(ann, separators=(",", ":")) + "\n"


def vidstg_files(records: Records, cfg: VidSTGConfig) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {}
    qid = 0
    for split in SPLITS:
        files[f"{split}.json"], qid = _processed(records[split], qid)
        for r in records[split]:
            files[f"vidor/{r['vid']}.json"] = _vidor(r)
    return files


def _counts(records: list[dict]) -> dict[str, int]:
    return {"queries": sum(len(r["queries"]) for r in records)}


VIDSTG = TaskWriter("vidstg", "1", sample_queries, vidstg_files, _counts, scene=stvg_scene)


def _handle(built: Built) -> SynthVidSTG:
    root = built.root
    return SynthVidSTG(**built.folder_fields(), train_json=root / "train.json", val_json=root / "val.json",
                       test_json=root / "test.json", vidor_dir=root / "vidor")


def build_vidstg(root: Path | str | None = None, *, config: VidSTGConfig | None = None,
                 **options: Unpack[BuildOptions]) -> SynthVidSTG:
    """Generate (or reuse) the SynthVid STVG benchmark; returns its paths (caching, reuse,
    ``force``, atomicity and ``workers`` are those of :func:`.writer.build_task`)."""
    return build(VIDSTG, config or VidSTGConfig(), _handle, root, **options)
