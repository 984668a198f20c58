"""``bench run --task videoqa``: every registered VideoQA method on the four sets of Table III.

Data: by default the four SynthVid sets, one table block each, named for the real dataset they
stand for: ``synthvid-msrvtt-mc``, ``synthvid-nextqa``, ``synthvid-msvd-qa``, ``synthvid-how2qa``
(:mod:`i2vbench.datasets.synthvid.videoqa`: MSRVTT-MC and MSVD-QA on the MSR-VTT pool's videos,
How2QA on the NExT-QA set's, so each pool is rendered and encoded once). With
``--dataset nextqa|msrvtt-mc|msvd-qa|how2qa --data-root D`` the same runner reads the real files
in D (videos in ``D/videos`` or ``--videos``, matched by listing, one folder down too):

- NExT-QA: ``train.csv``, ``val.csv``, ``test.csv`` (videos ``<video>.mp4``);
- MSRVTT-MC: ``msrvtt_mc_train.jsonl``, ``msrvtt_mc_test.jsonl`` (+ ``msrvtt_mc_val.jsonl``);
  the real release has only the test file: a training file in the same layout is the user's;
- MSVD-QA: ``msvd_{train,val,test}_qa_encode.json`` + ``msvd_youtube_mapping.txt`` (videos
  named by clip, the QA files by ``vid<N>``); answers are classified over the ``max_answers``
  most frequent training answers (1000, the field's vocabulary size);
- How2QA: ``how2QA_train_release.csv``, ``how2QA_val_release.csv``,
  ``how2QA_test_public_release.csv`` (videos ``<youtube_id>.mp4``; each question reads its
  ``[start:end]`` segment).

A missing val file means val is a deterministic held-out ``val_fraction`` of the training
*videos* (by a stable hash of the id), never trained on. Frames are decoded at ``fps`` and
encoded once by the frozen ILFM (cached, shared with the other tasks on the same videos); every
question sees ``num_frames`` of its video (or segment). Text is encoded once per string.

Predictions are written per (method, split, seed) as ``{question key: {"prediction": p}}`` json
(NExT-QA's ``result.json`` layout, keys ``<video>_<qid>``; option indices, or answer strings for
MSVD-QA), which ``bench eval --task videoqa --gt <the split's file> --pred P`` reads; the run's
metrics are computed from exactly what is written, by the evaluator's own functions (NExT-QA:
``Acc`` and ``eval_mc.py``'s per-type breakdown, ``TP`` folded into ``TN``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from i2vbench.benchmarks.runner import (
    RunConfig,
    RunResult,
    TaskData,
    held_out,
    register_runner,
    seed_everything,
    train_and_evaluate,
)
from i2vbench.errors import BenchError

SPLITS = ("train", "val", "test")
# the survey's column order; each SynthVid set stands for the real dataset after "synthvid-"
SYNTHVID_SETS = ("synthvid-msrvtt-mc", "synthvid-nextqa", "synthvid-msvd-qa", "synthvid-how2qa")
REAL_SETS = ("msrvtt-mc", "nextqa", "msvd-qa", "how2qa")
POOLS = {"msrvtt": ("msrvtt-mc", "msvd-qa"), "nextqa": ("nextqa", "how2qa")}  # synthvid build options
# NExT-QA's per-type accuracies beside Acc (eval_mc.py's; TP is folded into TN)
NEXTQA_COLUMNS = ("Acc_T", "Acc_D", "TN", "TC", "DC", "DL", "DO")


class VideoQARunConfig(RunConfig):
    """A VideoQA run: the shared fields plus where the videos are and how frames are sampled."""

    task: Literal["videoqa"] = "videoqa"
    # synthvid (the four SynthVid sets), one of them (synthvid-nextqa, ...), or a real set with data_root
    dataset: str = "synthvid"
    videos: Path | None = None  # default: <data_root>/videos
    fps: float = Field(2.0, gt=0)  # decoded frames per second (the cache VTR's MSR-VTT pool uses)
    num_frames: int = Field(16, ge=1)  # frames per question a method sees, uniform over its video/segment
    val_fraction: float = Field(0.1, gt=0, lt=1)  # real data without a val file: training videos held out
    max_answers: int = Field(1000, ge=1)  # open-ended: the answer vocabulary's size
    lm: str = "tinylm"  # the language model of the LLM-based rows (BIMBA): tinylm | hf:<dir>
    lm_pretrained: str | None = None  # its weights on disk
    # build options per SynthVid video pool: {msrvtt: {n_train, ...}, nextqa: {n_train, ...}}
    synthvid: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("synthvid")
    @classmethod
    def _pools(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        bad = sorted(set(v) - set(POOLS))
        if bad:
            raise ValueError(f"unknown SynthVid pools {bad}; the pools are {', '.join(POOLS)} "
                             "(msrvtt: MSRVTT-MC and MSVD-QA videos; nextqa: NExT-QA and How2QA videos)")
        return v


# --- annotations -------------------------------------------------------------------------------


def _kind(name: str) -> str:
    return name.removeprefix("synthvid-")


def _synthvid_files(cfg: VideoQARunConfig, name: str, progress: bool) -> tuple[Path, Path]:
    """(annotation folder, videos folder) of a SynthVid set, built on first use."""
    from i2vbench.datasets.synthvid.videoqa import build_how2qa, build_msrvtt_qa, build_nextqa

    kind = _kind(name)
    pool = next(p for p, kinds in POOLS.items() if kind in kinds)
    opts = {"seed": cfg.resolved_data_seed, "progress": progress, **cfg.synthvid.get(pool, {})}
    built = {"nextqa": build_nextqa, "how2qa": build_how2qa}.get(kind, build_msrvtt_qa)(**opts)
    return Path(built.root), Path(built.videos_dir)


def _files(kind: str, root: Path) -> dict[str, Path]:
    names = {
        "nextqa": {s: f"{s}.csv" for s in SPLITS},
        "msrvtt-mc": {s: f"msrvtt_mc_{s}.jsonl" for s in SPLITS},
        "msvd-qa": {s: f"msvd_{s}_qa_encode.json" for s in SPLITS},
        "how2qa": {"train": "how2QA_train_release.csv", "val": "how2QA_val_release.csv",
                   "test": "how2QA_test_public_release.csv"},
    }[kind]
    return {s: root / n for s, n in names.items()}


def load_items(kind: str, root: Path, val_fraction: float) -> tuple[dict[str, list], dict[str, str]]:
    """(questions by split, video file stem by the questions' video id) of a real-format folder."""
    from i2vbench.datasets.how2qa import load_how2qa_csv
    from i2vbench.datasets.msrvtt import load_mc_jsonl
    from i2vbench.datasets.msvd_qa import load_msvd_qa_json, load_youtube_mapping
    from i2vbench.datasets.nextqa import load_nextqa_csv

    load = {"nextqa": load_nextqa_csv, "msrvtt-mc": load_mc_jsonl, "msvd-qa": load_msvd_qa_json,
            "how2qa": load_how2qa_csv}[kind]
    files = _files(kind, root)
    for s in ("train", "test"):
        if not files[s].is_file():
            raise BenchError(f"--dataset {kind}: {files[s]} not found (expected "
                             f"{', '.join(p.name for p in files.values())} in --data-root; the val file is optional)")
    items = {s: load(p) for s, p in files.items() if p.is_file()}
    for s, its in items.items():
        if not its:
            raise BenchError(f"{files[s]}: no questions")
    if "val" not in items:  # held-out training videos
        val_videos = held_out(sorted({it.video for it in items["train"]}), val_fraction)
        items["val"] = [it for it in items["train"] if it.video in val_videos]
        items["train"] = [it for it in items["train"] if it.video not in val_videos]
        if not items["val"] or not items["train"]:
            raise BenchError(f"{files['train']}: too few videos to hold out a val split (val_fraction {val_fraction})")
    stems = {it.video: it.video for its in items.values() for it in its}
    if kind == "msvd-qa":
        mapping = root / "msvd_youtube_mapping.txt"
        clips = load_youtube_mapping(mapping)
        missing = sorted(v for v in stems if v not in clips)
        if missing:
            raise BenchError(f"{mapping}: no clip for {missing[0]} ({len(missing)} videos of the QA files unmapped)")
        stems = {v: clips[v] for v in stems}
    return {s: items[s] for s in SPLITS}, stems


def question_types(kind: str, items: list) -> list[str]:
    """What the answer prior conditions on: NExT-QA's type, else the question's first word."""
    return [it.qtype if kind == "nextqa" else (it.question.split(" ")[0] if it.question else "") for it in items]


def answer_vocabulary(train: list, size: int) -> list[str]:
    """The ``size`` most frequent training answers (ties by first appearance), the classes of open-ended QA."""
    from collections import Counter

    counts = Counter(str(it.answer) for it in train)
    return [a for a, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:size]]


# --- scoring -------------------------------------------------------------------------------------


def _score(kind: str):  # noqa: ANN202
    from i2vbench.metrics.videoqa import Predictions, accuracy, nextqa_breakdown, score

    def run(method, split_name: str, split) -> tuple[dict[str, float], dict[str, dict]]:  # noqa: ANN001
        scores = method.predict(split)
        preds = {it.key: {"prediction": p} for it, p in zip(split.items, split.predictions(scores), strict=True)}
        # score exactly what is written to the predictions file, as `bench eval` scores it
        correct, _ = score(split.items, Predictions(Path(f"{split_name}.json"), preds))
        if kind == "nextqa":
            return nextqa_breakdown(correct, split.qtypes), preds
        return {"Acc": accuracy(correct)}, preds

    return run


def task_data(cfg: VideoQARunConfig, name: str, backbone, progress: bool,  # noqa: ANN001
              loaded: dict[tuple[Path, str], Any] | None = None) -> TaskData:
    """One set's questions over its videos' features, for :func:`train_and_evaluate`. ``loaded``
    ((videos folder, stem) → features), shared by a run's sets, keeps the features a set read for
    the next set on the same video pool (MSVD-QA on MSRVTT-MC's videos, How2QA on NExT-QA's), which
    then neither reads the cache files again nor holds a second copy of them."""
    from i2vbench.datasets.features import Sampling, encode_texts, extract_video_features
    from i2vbench.datasets.video import find_videos
    from i2vbench.methods.registry import Lazy
    from i2vbench.methods.videoqa.base import TextTable, make_split, split_strings

    kind = _kind(name)
    if name in SYNTHVID_SETS:
        root, videos_dir = _synthvid_files(cfg, name, progress)
    else:
        root = Path(cfg.data_root)
        videos_dir = Path(cfg.videos or root / "videos")
    items, stems = load_items(kind, root, cfg.val_fraction)
    by_stem = find_videos(videos_dir, sorted(set(stems.values())))
    t0 = time.perf_counter()
    loaded = {} if loaded is None else loaded
    todo = {s: p for s, p in by_stem.items() if (videos_dir, s) not in loaded}
    if todo:
        feats = extract_video_features(backbone, backbone.backbone_id, todo, Sampling(fps=cfg.fps), progress=progress,
                                       jobs=cfg.threads, init_seed=cfg.resolved_data_seed)
        loaded.update(((videos_dir, s), f) for s, f in feats.items())
    feats = {s: loaded[videos_dir, s] for s in by_stem}
    videos = {v: feats[s] for v, s in stems.items()}
    vocabulary = answer_vocabulary(items["train"], cfg.max_answers) if kind == "msvd-qa" else None
    # timed captions of the training videos, where the set has them (SynthVid-NExT-QA's events)
    captions = named = None
    if name == "synthvid-nextqa":
        from i2vbench.datasets.synthvid.videoqa import event_captions, question_events

        captions = event_captions(root / "scenes.jsonl", "train")
        named = question_events(root / "scenes.jsonl", "train")
    strings = list(dict.fromkeys(s for its in items.values() for s in split_strings(its, vocabulary)))
    known = set(strings)
    strings += [s for s in split_strings([], None, captions) if s not in known]
    # encoded and their word tokens averaged 512 strings at a time (encode_texts' own batches, so the same values):
    # NExT-QA's ~12,000 strings padded into one (S, L, 256) array first cost ~3 CPU-s, all before the pool starts
    pooled, words = [], []
    for i in range(0, len(strings), 512):
        encoded = encode_texts(backbone, strings[i:i + 512])
        pooled.append(encoded.pooled)
        words.append((encoded.tokens * encoded.mask[..., None]).sum(1) / np.maximum(encoded.mask.sum(1, keepdims=True), 1))
    text = TextTable({s: i for i, s in enumerate(strings)}, np.concatenate(pooled),
                     np.concatenate(words).astype(np.float32))
    grids = all(f.layers is not None for f in videos.values())
    splits = {s: make_split(its, question_types(kind, its), videos, cfg.fps, cfg.num_frames, text, vocabulary, grids,
                            captions if s == "train" else None, named if s == "train" else None)
              for s, its in items.items()}
    feature_s = time.perf_counter() - t0
    train = splits["train"]
    return TaskData(
        dataset=name, train=train, eval_splits={"test": splits["test"], "val": splits["val"]},
        inputs={"pooled", "text_tokens", *(["layers"] if grids else [])},
        missing_why="the cached features have no per-layer tokens",
        provided={"video_dim": train.frames.shape[-1], "text_dim": text.width,
                  **({"grid_shape": tuple(train.grids.shape[-2:])} if grids else {}),
                  "backbone": Lazy(lambda: _load_backbone(cfg)), "lm": Lazy(lambda: _load_lm(cfg))},
        score=_score(kind), prediction_format="json",
        table_metrics=NEXTQA_COLUMNS if kind == "nextqa" else (),
        stats={"feature_s": round(feature_s, 3), "n_videos": len(by_stem),
               **{f"n_{s}_questions": len(sp) for s, sp in splits.items()},
               **({"n_answers": len(vocabulary)} if vocabulary is not None else {}),
               **({"n_captioned_train_videos": len(captions)} if captions else {}),
               "num_frames": cfg.num_frames},
    )


def _load_backbone(cfg: VideoQARunConfig):  # noqa: ANN202
    from i2vbench.methods.backbones import load_backbone

    return load_backbone(cfg.backbone, cfg.pretrained)


def _load_lm(cfg: VideoQARunConfig):  # noqa: ANN202
    from i2vbench.methods.backbones.lm import load_lm

    return load_lm(cfg.lm, cfg.lm_pretrained)


@register_runner("videoqa", VideoQARunConfig)
def run_videoqa(cfg: VideoQARunConfig, progress: bool = True) -> RunResult:
    if cfg.dataset == "synthvid":
        names = list(SYNTHVID_SETS)
    elif cfg.dataset in SYNTHVID_SETS:
        names = [cfg.dataset]
    elif cfg.dataset in REAL_SETS:
        if cfg.data_root is None:
            raise BenchError(f"--dataset {cfg.dataset} needs --data-root (the folder of its annotation files)")
        names = [cfg.dataset]
    else:
        raise BenchError(f"dataset {cfg.dataset!r} is not a VideoQA dataset `bench run` can train on; use synthvid, "
                         f"{', '.join(SYNTHVID_SETS)}, or {', '.join(REAL_SETS)} with --data-root")
    if cfg.dataset.startswith("synthvid") and (cfg.data_root is not None or cfg.videos is not None):
        raise BenchError("--data-root/--videos are for the real datasets; the default runs the SynthVid sets")
    seed_everything(cfg.resolved_data_seed)  # a randomly initialised backbone is the data's, too
    backbone = _load_backbone(cfg)
    loaded: dict[tuple[Path, str], Any] = {}  # features by video, shared by the sets on one pool
    datasets = [task_data(cfg, n, backbone, progress, loaded) for n in names]
    return RunResult("videoqa", backbone.backbone_id, train_and_evaluate(cfg, datasets, progress))
