"""The SynthVid SSv2-like split: motion templates where order is everything, in SSv2's own files.

A built benchmark is a folder the real Something-Something V2 loader reads as it is::

    videos/<id>.mp4                              H.264 clips, ``clip_s`` seconds
    something-something-v2-train.json            [{id, label, template, placeholders}], one a line
    something-something-v2-validation.json       the same layout (SynthVid's val: choose here)
    something-something-v2-test.json             the same layout, labels included (report here)
    something-something-v2-labels.json           {template without brackets: "index"}
    scenes.jsonl, meta.json                      the writer's (scene, template, placeholder)

The classes (:data:`TEMPLATES`, 18) are what one object does, in SSv2's template style:
single motions ("Moving [something] left", "[Something] appearing") and ordered pairs ("Moving
[something] left then up", "[Something] appearing then shrinking"). The class set is closed
under time reversal, and the videos of a class's reverse are **exactly** its videos played
backwards (:func:`.world.reverse_scene`: a class and its reverse draw their clips from the same
stream, one of them reversed), so their stills have the same distribution and any model that
pools frames without order is at chance between the two: one frame, or a bag of them, is
useless there. For the two-move paths both orders are classes too ("left then up" and "up
then left"), so neither where the object ends up nor which directions it took decides the class;
only the order does. Other objects in the clip are distractors that stay still.

Why ``.mp4`` and not the real ``.webm``: the writer's codec is single-threaded libx264, whose bytes
are reproducible (the determinism tests hash them) and which every PyAV/decord build decodes;
VP9 in webm would need libvpx in the PyAV build and a second codec path. SSv2 readers (mmaction2's
list files, decord) open either container, and the annotation loader never touches videos.

Split names: SSv2's val is its "validation" file, and SSv2's real test file carries no labels;
SynthVid's ``test`` file has the validation layout with labels, and is the held-out split the
runner reports. Ids are decimal strings, unique over the three files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from i2vbench.datasets.synthvid.world import (
    COLORS,
    OPPOSITE,
    SHAPES,
    SIZE_FRAC,
    Scene,
    SceneConfig,
    reverse_scene,
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

FILES = {"train": "something-something-v2-train.json", "val": "something-something-v2-validation.json",
         "test": "something-something-v2-test.json"}
LABELS_JSON = "something-something-v2-labels.json"

# template -> the main object's motions in order. Pairs of classes that are each other's time
# reversal are listed together, the forward one first (its clips are drawn, the other's are
# those clips played backwards).
REVERSE_PAIRS: tuple[tuple[str, str], ...] = (
    ("Moving [something] left", "Moving [something] right"),
    ("Moving [something] up", "Moving [something] down"),
    ("[Something] appearing", "[Something] disappearing"),
    ("[Something] growing", "[Something] shrinking"),
    ("Moving [something] left then up", "Moving [something] down then right"),
    ("Moving [something] up then left", "Moving [something] right then down"),
    ("Moving [something] right then up", "Moving [something] down then left"),
    ("Moving [something] up then right", "Moving [something] left then down"),
    ("[Something] appearing then shrinking", "[Something] growing then disappearing"),
)
_WORD = {"left": "move left", "right": "move right", "up": "move up", "down": "move down",
         "appearing": "appear", "disappearing": "disappear", "growing": "grow", "shrinking": "shrink"}


def motions_of(template: str) -> tuple[str, ...]:
    """The motions a template names, in order: "Moving [something] left then up" ->
    ("move left", "move up")."""
    words = template.replace("[something]", "").replace("[Something]", "").split()
    return tuple(_WORD[w] for w in words if w in _WORD)


TEMPLATES: tuple[str, ...] = tuple(sorted((t for pair in REVERSE_PAIRS for t in pair),
                                          key=lambda t: t.replace("[", "").replace("]", "")))
"""Class templates by index (SSv2's labels json indexes its templates alphabetically)."""
REVERSE: dict[str, str] = {**dict(REVERSE_PAIRS), **{b: a for a, b in REVERSE_PAIRS}}
# both orders of every ordered pair are classes, and each pair's reverse is its reverse's class
assert all(motions_of(REVERSE[t]) == tuple(OPPOSITE[m] for m in reversed(motions_of(t))) for t in TEMPLATES)


def _scene_config() -> SceneConfig:
    # 4 s clips (16 frames at 4 fps); min_objects/max_objects count the main object too.
    return SceneConfig(min_duration=4.0, max_duration=4.0, min_objects=1, max_objects=3)


@dataclass(frozen=True)
class SSv2Config(WriterConfig):
    """The clip look and sizes (with the seed, the folder's identity); the classes are TEMPLATES."""

    scene: SceneConfig = field(default_factory=_scene_config)
    n_train: int = 720
    n_val: int = 180
    n_test: int = 180


@dataclass(frozen=True)
class SynthVidSSv2(TaskFolder):
    """A built SynthVid SSv2-like benchmark (see the module docstring for the layout)."""

    train_json: Path
    val_json: Path
    test_json: Path
    labels_json: Path

    def json(self, split: str) -> Path:
        """The split json of "train", "val" (``-validation.json``) or "test"."""
        return {"train": self.train_json, "val": self.val_json, "test": self.test_json}[check_split(split)]

    def scenes(self, split: str | None = None) -> Iterator[tuple[str, str, Scene, str]]:
        """(id, split, scene, template) for every clip, from ``scenes.jsonl``."""
        return self.scenes_with("template", split)


def _forward_scene(rng: np.random.Generator, template: str, cfg: SSv2Config) -> Scene:
    """A clip of ``template`` (a forward one): the main object does its motions, one per slot."""
    sc, s = cfg.scene, cfg.scene.image_size
    motions = motions_of(template)
    n_dis = int(rng.integers(sc.min_objects, sc.max_objects + 1)) - 1
    objects: list[tuple[int, int, float]] = []
    taken: set[tuple[int, int]] = set()
    while len(objects) < n_dis + 1:
        sh, co = int(rng.integers(len(SHAPES))), int(rng.integers(len(COLORS)))
        if (sh, co) in taken:
            continue
        taken.add((sh, co))
        size = SIZE_FRAC[0] if len(objects) < n_dis else float(rng.uniform(SIZE_FRAC[0], SIZE_FRAC[1]))
        objects.append((sh, co, size * s * float(rng.uniform(0.95, 1.1))))
    duration = round(sc.min_duration * sc.fps) / sc.fps
    main = n_dis  # drawn last, on top
    script = []
    for m, (st, en) in zip(motions, slot_windows(rng, duration, len(motions), (0.7, 0.85)), strict=True):
        amount = {"grow": 1.5, "shrink": 1 / 1.5}.get(m, float(rng.uniform(0.25, 0.38)) * s)
        script.append((main, m, st, en, amount))
    scene = scripted_scene(rng, sc, objects, script, n_frames=round(duration * sc.fps))
    scene.extra["main_object"] = main
    return scene


def ssv2_scene(seed: int, split: str, index: int, cfg: SSv2Config) -> Scene:
    """Clip ``index`` of ``split``: class ``TEMPLATES[index % 18]`` (balanced). A reverse class's
    clip is the forward class's clip from the same stream, played backwards."""
    template = TEMPLATES[index % len(TEMPLATES)]
    forward = template if template in dict(REVERSE_PAIRS) else REVERSE[template]
    scene = _forward_scene(task_rng(seed, split, index, "ssv2/scene"), forward, cfg)
    if forward != template:
        scene = reverse_scene(scene)
    scene.extra["template"] = template
    return scene


def sample_label(scene: Scene, rng: np.random.Generator, cfg: SSv2Config) -> dict:
    """SSv2's fields of a clip: the placeholder is the main object's name, the label the filled
    template in lower case (as 20BN's ``label``)."""
    name = scene.objects[scene.extra["main_object"]].name
    template = scene.extra["template"]
    label = template.replace("[something]", name).replace("[Something]", name)
    return {"label": label[0].lower() + label[1:], "placeholders": [name]}


def _id(split: str, index: int, annotations: dict, cfg: WriterConfig) -> str:
    """Decimal ids, unique over the splits (train from 1, then validation, then test)."""
    return str(1 + {"train": 0, "val": cfg.n_train, "test": cfg.n_train + cfg.n_val}[split] + index)


def _split_json(records: list[dict]) -> str:
    """One record a line inside a list, as 20BN's files."""
    lines = [json.dumps({"id": r["vid"], "label": r["label"], "template": r["template"],
                         "placeholders": r["placeholders"]}, separators=(",", ":")) for r in records]
    return "[\n" + ",\n".join(lines) + "\n]\n"


def ssv2_files(records: Records, cfg: SSv2Config) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {FILES[s]: _split_json(records[s]) for s in SPLITS}
    labels = {t.replace("[", "").replace("]", ""): str(i) for i, t in enumerate(TEMPLATES)}
    files[LABELS_JSON] = "{\n" + ",\n".join(f" {json.dumps(k)}:{json.dumps(v)}" for k, v in labels.items()) + "\n}\n"
    return files


def _counts(records: list[dict]) -> dict[str, int]:
    return {"classes": len({r["template"] for r in records})}


SSV2 = TaskWriter("ssv2", "1", sample_label, ssv2_files, _counts,
                  {"reverse_pairs": [list(p) for p in REVERSE_PAIRS]}, scene=ssv2_scene, vid=_id)


def _handle(built: Built) -> SynthVidSSv2:
    root = built.root
    return SynthVidSSv2(
        **built.folder_fields(), train_json=root / FILES["train"],
        val_json=root / FILES["val"], test_json=root / FILES["test"], labels_json=root / LABELS_JSON,
    )


def build_ssv2(root: Path | str | None = None, *, config: SSv2Config | None = None,
               **options: Unpack[BuildOptions]) -> SynthVidSSv2:
    """Generate (or reuse) the SynthVid SSv2-like benchmark; returns its paths.

    ``n_train`` / ``n_val`` / ``n_test`` override the config's clip counts. ``options``
    are those of :func:`.writer.build`.
    """
    return build(SSV2, config or SSv2Config(), _handle, root, **options)
