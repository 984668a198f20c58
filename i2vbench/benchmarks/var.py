"""``bench run --task var``: every registered VAR method, trained and scored on the same features.

Data: by default both embedded SynthVid sets, one block each in the table: the Kinetics-400-like
set (``synthvid-kinetics400``: appearance classes, where one frame suffices) and the SSv2-like
set (``synthvid-ssv2``: motion templates closed under time reversal, where a bag of frames is at
chance). With ``--dataset kinetics400|ssv2 --data-root D`` the same runner reads the real files:

- Kinetics-400: ``kinetics-400_{train,val}.csv`` (+ ``kinetics-400_test.csv`` if it has labels),
  label map ``label_map_k400.txt`` (mmaction2) or ``kinetics_400_labels.csv`` (X-CLIP) in D or
  ``--label-map``, clips ``<videos>/[<label>/]<youtube_id>_<start:06d>_<end:06d>.<ext>``;
- SSv2: ``something-something-v2-{train,validation}.json`` (+ ``-test.json`` if it has
  templates) and ``something-something-v2-labels.json``, clips ``<videos>/<id>.<ext>``.

Real Kinetics and SSv2 publish no test labels; the survey's columns (and every paper it cites)
are their validation sets. So without a labelled test file, ``test`` is the official validation
file and ``val`` (where choices are made) is a deterministic held-out ``val_fraction`` of the
training clips, never trained on. SynthVid writes labelled train / val / test.

Features: frames decoded at ``fps`` and encoded once by the backbone (cached): pooled frame
embeddings, the last ``layers`` blocks' tokens (class token + ``grid``² pooled patches) for
side-tuning, and the frames themselves for methods that train through the ILFM. Each method sees
``num_frames`` frames per clip, at uniform segment centres. Predictions are written as one json
``{clip id: [C class scores]}`` per (method, split, seed), a file ``bench eval --task var`` reads
against the split's csv/json, and scored from exactly what is written, with the evaluator's
own function.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from i2vbench.benchmarks.runner import (
    RunConfig,
    RunResult,
    TaskData,
    held_out,
    register_features,
    register_runner,
    seed_everything,
    train_and_evaluate,
)
from i2vbench.errors import BenchError

SPLITS = ("train", "val", "test")
SYNTHVID_SETS = {"synthvid-kinetics400": "kinetics400", "synthvid-ssv2": "ssv2"}


class VARRunConfig(RunConfig):
    """A VAR run: the shared fields plus where the clips are and how frames are sampled."""

    task: Literal["var"] = "var"
    # synthvid (both SynthVid sets), synthvid-kinetics400, synthvid-ssv2, or kinetics400 / ssv2 with data_root
    dataset: str = "synthvid"
    videos: Path | None = None  # default: <data_root>/videos
    label_map: Path | None = None  # default: the label map found in data_root
    fps: float = Field(2.0, gt=0)  # decoded frames per second (SynthVid's 4 s clips: 8 frames)
    num_frames: int = Field(8, ge=1)  # frames per clip a method sees (uniform segment centres)
    layers: int = Field(3, ge=1)  # last blocks whose tokens side-tuning reads
    grid: int = Field(4, ge=1)  # their patch tokens average-pooled to grid × grid
    val_fraction: float = Field(0.1, ge=0, lt=1)  # real data: training clips held out as val
    synthvid: dict[str, Any] = Field(default_factory=dict)  # build options (n_train, n_val, n_test)


# --- annotations ---------------------------------------------------------------------------

def _remap(lab, classes: list[str], source: Path, first_row: int):  # noqa: ANN001, ANN202
    """Labels of ``lab`` (indexed by its own class list) re-indexed into ``classes``."""
    index = {c: i for i, c in enumerate(classes)}
    out = []
    for n, y in enumerate(lab.labels):
        name = lab.classes[y]
        if name not in index:
            raise BenchError(f"{source}:{first_row + n}: class {name!r} ({lab.ids[n]}) is not among the "
                             f"{len(classes)} classes of the training file / label map")
        out.append(index[name])
    return type(lab)(lab.ids, np.asarray(out, dtype=np.int64), classes)


def _kinetics(root: Path, label_map: Path | None) -> tuple[dict[str, Any], Path | None]:
    from i2vbench.datasets.kinetics import load_kinetics_csv

    if label_map is None:
        label_map = next((root / n for n in ("label_map_k400.txt", "kinetics_400_labels.csv")
                          if (root / n).is_file()), None)
    files = {s: root / f"kinetics-400_{s}.csv" for s in SPLITS}
    for s in ("train", "val"):
        if not files[s].is_file():
            raise BenchError(f"--dataset kinetics400: {files[s]} not found (expected kinetics-400_train.csv "
                             "and kinetics-400_val.csv in --data-root)")
    splits = {s: load_kinetics_csv(p, label_map) for s, p in files.items() if p.is_file()}
    if label_map is None:  # classes from the training file; other files re-indexed by name
        classes = splits["train"].classes
        splits = {s: (lab if s == "train" else _remap(lab, classes, files[s], 2)) for s, lab in splits.items()}
    return splits, label_map


def _ssv2(root: Path, label_map: Path | None) -> tuple[dict[str, Any], Path | None]:
    from i2vbench.datasets.ssv2 import LABELS_JSON, load_ssv2_json
    from i2vbench.io import read_json

    label_map = label_map or root / LABELS_JSON
    files = {"train": root / "something-something-v2-train.json", "val": root / "something-something-v2-validation.json",
             "test": root / "something-something-v2-test.json"}
    for s in ("train", "val"):
        if not files[s].is_file():
            raise BenchError(f"--dataset ssv2: {files[s]} not found (expected something-something-v2-train.json "
                             "and -validation.json in --data-root)")
    splits = {s: load_ssv2_json(files[s], label_map) for s in ("train", "val")}
    test = files["test"]
    if test.is_file():
        rows = read_json(test, "SSv2 split json")
        if isinstance(rows, list) and rows and all(isinstance(r, dict) and "template" in r for r in rows):
            splits["test"] = load_ssv2_json(test, label_map)  # labelled (SynthVid's): the report split
    return splits, label_map


def _official_val_as_test(splits: dict[str, Any], fraction: float):  # noqa: ANN202
    """Without labelled test clips: test = the official val file, val = held-out training clips."""
    if "test" in splits:
        return splits
    train = splits["train"]
    val_ids = held_out(list(dict.fromkeys(train.ids)), fraction)
    keep = np.array([i not in val_ids for i in train.ids], dtype=bool)

    def take(mask: np.ndarray):  # noqa: ANN202
        return type(train)([i for i, k in zip(train.ids, mask, strict=True) if k], train.labels[mask], train.classes)

    return {"train": take(keep), "val": take(~keep), "test": splits["val"]}


def _kinetics_stem(stem: str) -> str:
    """``<id>_<start:06d>_<end:06d>`` (Kinetics' clip files) → ``<id>``; other stems as they are."""
    parts = stem.rsplit("_", 2)
    return parts[0] if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit() else stem


def load_dataset(cfg: VARRunConfig, name: str, progress: bool) -> tuple[dict[str, Any], dict[str, Path]]:
    """(labelled clips by split "train"/"val"/"test", video path by clip id) of dataset ``name``."""
    from i2vbench.datasets.video import find_videos

    if name in SYNTHVID_SETS:
        from i2vbench.datasets.synthvid.kinetics import build_kinetics
        from i2vbench.datasets.synthvid.ssv2 import build_ssv2

        build = build_kinetics if SYNTHVID_SETS[name] == "kinetics400" else build_ssv2
        built = build(progress=progress, **{"seed": cfg.resolved_data_seed, **cfg.synthvid})
        root, kind, videos_dir = Path(built.root), SYNTHVID_SETS[name], Path(built.videos_dir)
    else:
        if cfg.data_root is None:
            raise BenchError(f"--dataset {name} needs --data-root (the folder of its annotation files)")
        root, kind = Path(cfg.data_root), name
        videos_dir = Path(cfg.videos or root / "videos")
    splits, _ = (_kinetics if kind == "kinetics400" else _ssv2)(root, cfg.label_map)
    splits = _official_val_as_test(splits, cfg.val_fraction)
    for s in SPLITS:
        if not len(splits[s].ids):
            hint = f" (raise val_fraction, now {cfg.val_fraction})" if s == "val" and name not in SYNTHVID_SETS else ""
            raise BenchError(f"{name}: no {s} clips{hint}")
    ids = list(dict.fromkeys(i for s in splits.values() for i in s.ids))
    return splits, find_videos(videos_dir, ids, _kinetics_stem if kind == "kinetics400" else None,
                               "<id>_<start:06d>_<end:06d>" if kind == "kinetics400" else "<id>")


# --- features, methods, scoring --------------------------------------------------------------

def _score(method, split_name: str, split) -> tuple[dict[str, float], dict[str, list[float]]]:  # noqa: ANN001
    from i2vbench.metrics.var import var_metrics

    scores = method.predict(split)
    keyed = {cid: [round(float(x), 5) for x in row] for cid, row in zip(split.ids, scores, strict=True)}
    # score exactly what is written to the predictions file, so `bench eval` agrees
    return var_metrics(np.array([keyed[cid] for cid in split.ids]), split.labels), keyed


def constructor_args(cfg: VARRunConfig, train) -> dict[str, Any]:  # noqa: ANN001
    """What a VAR method's constructor may ask for: classes, feature widths, a fresh backbone."""
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.methods.registry import Lazy

    any_video = train.videos[train.ids[0]]
    args: dict[str, Any] = {"classes": list(train.classes), "num_classes": len(train.classes),
                            "video_dim": any_video.pooled.shape[1], "num_frames": cfg.num_frames,
                            "image_size": None if any_video.frames is None else any_video.frames.shape[1],
                            "backbone": Lazy(lambda: load_backbone(cfg.backbone, cfg.pretrained))}
    if any_video.layers is not None:
        args.update(layer_width=any_video.layers.shape[-1], num_layers=any_video.layers.shape[1],
                    num_tokens=any_video.layers.shape[2])
    return args


def task_data(cfg: VARRunConfig, name: str, backbone, progress: bool) -> TaskData:  # noqa: ANN001
    """One set's clips as features, for :func:`train_and_evaluate`."""
    from i2vbench.datasets.features import extract_video_features
    from i2vbench.methods.var.base import VARSplit

    splits, paths = load_dataset(cfg, name, progress)
    t0 = time.perf_counter()
    videos = extract_video_features(backbone, backbone.backbone_id, paths, sampling(cfg), progress=progress,
                                    jobs=cfg.threads, init_seed=cfg.resolved_data_seed)
    feature_s = time.perf_counter() - t0
    data = {s: VARSplit(lab.ids, lab.labels, lab.classes, videos, cfg.num_frames) for s, lab in splits.items()}
    train = data["train"]
    inputs = {"pooled"} | ({"layers"} if train.has_layers else set()) | ({"frames"} if train.has_frames else set())
    return TaskData(
        dataset=name, train=train, eval_splits={"test": data["test"], "val": data["val"]},
        inputs=inputs, missing_why="which these features do not have", provided=constructor_args(cfg, train),
        score=_score, prediction_format="json",
        stats={"feature_s": round(feature_s, 3), "n_classes": len(train.classes),
               **{f"n_{s}_clips": len(lab.ids) for s, lab in splits.items()}},
    )


def sampling(cfg: VARRunConfig):  # noqa: ANN201
    """How a VAR run samples and encodes clips: pooled embeddings, the last ``layers`` blocks'
    tokens on a ``grid``² grid, and the frames."""
    from i2vbench.datasets.features import Sampling

    return Sampling(fps=cfg.fps, layers=cfg.layers, grid=cfg.grid, keep_frames=True)


@register_features("var")
def var_features(cfg: VARRunConfig, progress: bool = True) -> list:
    """The clips a VAR run encodes, one job per dataset (``bench extract --task var``)."""
    from i2vbench.datasets.shards import FeatureJob

    return [FeatureJob(name, load_dataset(cfg, name, progress)[1], sampling(cfg), cfg.resolved_data_seed)
            for name in dataset_names(cfg)]


def dataset_names(cfg: VARRunConfig) -> list[str]:
    """The datasets a VAR run covers (``synthvid``: both SynthVid sets)."""
    if cfg.dataset == "synthvid":
        names = list(SYNTHVID_SETS)
    elif cfg.dataset in (*SYNTHVID_SETS, "kinetics400", "ssv2"):
        names = [cfg.dataset]
    else:
        from i2vbench.datasets.registry import load_all

        spec = load_all().get(cfg.dataset)
        raise BenchError(f"dataset {cfg.dataset!r} is not a VAR dataset `bench run` can train on (its tasks: "
                         f"{', '.join(spec.tasks)}); use synthvid, {', '.join(SYNTHVID_SETS)}, kinetics400 or ssv2")
    if cfg.dataset == "synthvid" and (cfg.data_root is not None or cfg.videos is not None):
        raise BenchError("--data-root/--videos are for --dataset kinetics400|ssv2; the default runs the SynthVid sets")
    return names


@register_runner("var", VARRunConfig)
def run_var(cfg: VARRunConfig, progress: bool = True) -> RunResult:
    from i2vbench.methods.backbones import load_backbone

    names = dataset_names(cfg)
    seed_everything(cfg.resolved_data_seed)  # a randomly initialised backbone is the data's, too
    backbone = load_backbone(cfg.backbone, cfg.pretrained)
    datasets = [task_data(cfg, n, backbone, progress) for n in names]
    return RunResult("var", backbone.backbone_id, train_and_evaluate(cfg, datasets, progress))
