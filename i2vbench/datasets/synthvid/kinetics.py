"""The SynthVid Kinetics-400-like split: appearance classes, in Kinetics-400's own files.

A built benchmark is a folder the real Kinetics loader reads as it is::

    videos/<youtube_id>_<start:06d>_<end:06d>.mp4   H.264 clips, all ``clip_s`` seconds long
    kinetics-400_{train,val,test}.csv               ``label,youtube_id,time_start,time_end,split,is_cc``
    label_map_k400.txt                              the class names, one a line (index = line)
    scenes.jsonl, meta.json                         the writer's (scene, label, main object)

The class of a clip is **what its main object is** (colour x shape, ``colors`` x ``shapes``:
16 classes by default), which one frame shows: the main object is visible in every frame, is
drawn on top, and is always the largest object (at least ~1.3x the half-size of any other),
while what it does (moves, growing, shrinking) is drawn independently of the class. Distractors
are small, often share the main object's colour or shape, and may themselves be another class's
colour x shape, so "the biggest thing" matters, not "any red circle".

Format choices, from the real files: the csv header is that of ``kinetics-400_val.csv``
(ActivityNet crawler, with ``is_cc``, always 0 here), labels with a space are double-quoted,
LF line endings, rows sorted by label as in the real file; the label map is mmaction2's
``label_map_k400.txt`` layout (the sorted class names). Youtube ids are 11 characters of
``[A-Za-z0-9]`` (real ids also use ``-`` and ``_``; ours avoid them so file names split
unambiguously). Real Kinetics has no public test labels; SynthVid's ``test`` csv has the same
layout with split ``test``: the runner chooses on ``val`` and reports ``test``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from i2vbench.datasets.synthvid.world import (
    COLORS,
    SHAPES,
    SIZE_FRAC,
    Scene,
    SceneConfig,
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

CSV_HEADER = "label,youtube_id,time_start,time_end,split,is_cc"
LABEL_MAP = "label_map_k400.txt"
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_MAIN_MOTIONS = ("move left", "move right", "move up", "move down", "grow", "shrink")
_SCALE = 1.3  # the main object's grow/shrink factor: it stays the largest object either way


def _scene_config() -> SceneConfig:
    # 4 s clips (16 frames at 4 fps): min_objects/max_objects count the main object too, and
    # min_events/max_events are the main object's events.
    return SceneConfig(min_duration=4.0, max_duration=4.0, min_objects=1, max_objects=3,
                       min_events=1, max_events=2)


@dataclass(frozen=True)
class KineticsConfig(WriterConfig):
    """The classes, the clip look and the sizes (with the seed, the folder's identity)."""

    scene: SceneConfig = field(default_factory=_scene_config)
    n_train: int = 480
    n_val: int = 160
    n_test: int = 160
    colors: tuple[str, ...] = ("red", "green", "blue", "yellow")
    shapes: tuple[str, ...] = ("circle", "square", "triangle", "star")
    distractor_move_prob: float = 0.5  # chance that a distractor makes one move during the clip

    @property
    def classes(self) -> list[str]:
        """Class names by index (the label map): sorted, as mmaction2's map is."""
        return sorted(f"{c} {s}" for c in self.colors for s in self.shapes)


@dataclass(frozen=True)
class SynthVidKinetics(TaskFolder):
    """A built SynthVid Kinetics-400-like benchmark (see the module docstring for the layout)."""

    train_csv: Path
    val_csv: Path
    test_csv: Path
    label_map: Path
    classes: list[str]

    def csv(self, split: str) -> Path:
        """``kinetics-400_<split>.csv`` of "train", "val" or "test"."""
        return {"train": self.train_csv, "val": self.val_csv, "test": self.test_csv}[check_split(split)]

    def clips(self, split: str) -> list[tuple[str, str]]:
        """(clip name, label) of ``split`` in csv order; the clip's file is ``video(name)``."""
        out = []
        with self.csv(split).open(encoding="utf-8", newline="") as f:
            for r in csv.DictReader(f):
                out.append((f"{r['youtube_id']}_{int(r['time_start']):06d}_{int(r['time_end']):06d}", r["label"]))
        return out

    def scenes(self, split: str | None = None) -> Iterator[tuple[str, str, Scene, str]]:
        """(clip name, split, scene, label) for every clip, from ``scenes.jsonl``."""
        return self.scenes_with("label", split)


def kinetics_scene(seed: int, split: str, index: int, cfg: KineticsConfig) -> Scene:
    """Clip ``index`` of ``split``: class ``index % n_classes`` (balanced), the rest drawn.

    The main object is the last object (drawn on top); ``extra["main_object"]`` says so.
    """
    rng = task_rng(seed, split, index, "kinetics400/scene")
    sc, s = cfg.scene, cfg.scene.image_size
    color, shape = cfg.classes[index % len(cfg.classes)].split(" ")
    main = (SHAPES.index(shape), COLORS.index(color))
    n_dis = int(rng.integers(sc.min_objects, sc.max_objects + 1)) - 1
    objects: list[tuple[int, int, float]] = []
    taken = {main}
    while len(objects) < n_dis:
        u = rng.random()  # hard distractors: the main object's colour or shape, half the time
        sh = main[0] if u < 0.25 else int(rng.integers(len(SHAPES)))
        co = main[1] if 0.25 <= u < 0.5 else int(rng.integers(len(COLORS)))
        if (sh, co) in taken:
            continue
        taken.add((sh, co))
        objects.append((sh, co, SIZE_FRAC[0] * s * float(rng.uniform(0.9, 1.1))))
    duration = round(sc.min_duration * sc.fps) / sc.fps
    script: list[tuple[int, str, float, float, float]] = []
    for j in range(n_dis):
        if rng.random() < cfg.distractor_move_prob:
            (st, en), = slot_windows(rng, duration, 1, (0.4, 0.8))
            m = _MAIN_MOTIONS[int(rng.integers(4))]
            script.append((j, m, st, en, float(rng.uniform(0.15, 0.3)) * s))
    # main: half-size 0.16-0.19 of the image; a grow only from below 0.17, so it stays in frame
    half = float(rng.uniform(0.16, 0.19)) * s
    k = int(rng.integers(sc.min_events, sc.max_events + 1))
    used: set[str] = set()
    h = half
    for st, en in slot_windows(rng, duration, k):
        options = [m for m in _MAIN_MOTIONS if m not in used
                   and not (m == "grow" and h > 0.17 * s) and not (m == "shrink" and h < 0.16 * s)]
        m = options[int(rng.integers(len(options)))]
        used.add(m)
        amount = {"grow": _SCALE, "shrink": 1 / _SCALE}.get(m, float(rng.uniform(0.18, 0.3)) * s)
        h = h * amount if m in ("grow", "shrink") else h
        script.append((n_dis, m, st, en, amount))
    objects.append((*main, half))
    script.sort(key=lambda e: (e[2], e[0]))
    scene = scripted_scene(rng, sc, objects, script, n_frames=round(duration * sc.fps))
    scene.extra["main_object"] = n_dis
    return scene


def _youtube_id(rng: np.random.Generator) -> str:
    return "".join(_ID_CHARS[i] for i in rng.integers(len(_ID_CHARS), size=11))


def sample_clip(scene: Scene, rng: np.random.Generator, cfg: KineticsConfig) -> dict:
    """Kinetics' annotations of a clip: its label (the main object's colour and shape), a
    youtube id and the clip's window in that (fictional) youtube video."""
    main = scene.objects[scene.extra["main_object"]]
    start = int(rng.integers(0, 300))
    return {"label": f"{COLORS[main.color]} {SHAPES[main.shape]}", "youtube_id": _youtube_id(rng),
            "time_start": start, "time_end": start + round(scene.duration)}


def clip_name(split: str, index: int, annotations: dict, cfg: WriterConfig) -> str:
    """``<youtube_id>_<start:06d>_<end:06d>``: the clip file names of the Kinetics downloaders."""
    a = annotations
    return f"{a['youtube_id']}_{a['time_start']:06d}_{a['time_end']:06d}"


def _csv(records: list[dict], split: str) -> str:
    rows = sorted(records, key=lambda r: (r["label"], r["vid"]))  # the real csv is sorted by label
    lines = [CSV_HEADER]
    for r in rows:
        label = f'"{r["label"]}"' if " " in r["label"] else r["label"]
        lines.append(f"{label},{r['youtube_id']},{r['time_start']},{r['time_end']},{split},0")
    return "".join(line + "\n" for line in lines)


def kinetics_files(records: Records, cfg: KineticsConfig) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {f"kinetics-400_{s}.csv": _csv(records[s], s) for s in SPLITS}
    files[LABEL_MAP] = "".join(c + "\n" for c in cfg.classes)
    return files


def _counts(records: list[dict]) -> dict[str, int]:
    labels = [r["label"] for r in records]
    return {f"class {c}": labels.count(c) for c in sorted(set(labels))}


KINETICS = TaskWriter("kinetics400", "1", sample_clip, kinetics_files, _counts,
                      {"classes": "the main object's colour and shape"}, scene=kinetics_scene, vid=clip_name)


def _handle(built: Built) -> SynthVidKinetics:
    root = built.root
    return SynthVidKinetics(
        **built.folder_fields(), train_csv=root / "kinetics-400_train.csv",
        val_csv=root / "kinetics-400_val.csv", test_csv=root / "kinetics-400_test.csv",
        label_map=root / LABEL_MAP, classes=(root / LABEL_MAP).read_text(encoding="utf-8").splitlines(),
    )


def build_kinetics(root: Path | str | None = None, *, config: KineticsConfig | None = None,
                   **options: Unpack[BuildOptions]) -> SynthVidKinetics:
    """Generate (or reuse) the SynthVid Kinetics-400-like benchmark; returns its paths.

    ``n_train`` / ``n_val`` / ``n_test`` override the config's clip counts. ``options``
    are those of :func:`.writer.build`.
    """
    return build(KINETICS, config or KineticsConfig(), _handle, root, **options)
