"""``bench run --task captioning``: every registered captioner on the same features, scored by
pycocoevalcap in one Java session.

Data: the embedded SynthVid MSR-VTT pool (the VTR runner's videos and features: generated on
first use, then cached) or MSR-VTT from ``--data-root`` (``MSRVTT_data.json`` and ``videos/``).
Both are read the same way, as the captioning protocol does: the videos of ``split``
train / validate / test in ``MSRVTT_data.json``, with all their references (MSR-VTT: 20 a video,
6,513 / 497 / 2,990 videos; SynthVid: 10, 600 / 150 / 150).

Videos are decoded at ``fps`` and encoded once by the frozen ILFM (cached); each method sees
``num_frames`` frames a video, spread uniformly. Predictions are COCO-style results,
``[{"video_id", "caption"}]`` (``.json``), which ``bench eval --task captioning --gt
MSRVTT_data.json --pred P --option split=test`` scores the same way. Every method's, seed's and
split's captions are scored after training, all in one PTB-tokenizer run and one METEOR process
(:func:`~i2vbench.metrics.captioning.caption_metrics_many`; METEOR takes ~15 s to start).

On SynthVid every caption of the grammar can be read back into its events
(:func:`~i2vbench.datasets.synthvid.msrvtt.parse_caption`), which adds two scores:

- ``event-acc``: % of videos whose caption names exactly the video's events, in order (object
  colour and shape, motion; sizes ignored);
- ``twin-order``: over the videos that have a time-reversed twin in the split (the same stills
  in the opposite order; its events are the opposite motions in the opposite order), the % whose
  caption agrees better with its own video's events than with its twin's, a tie counting half.
  Agreement of a caption's events c with a sequence s is position by position:
  Σ_{i < min(|c|, |s|)} [colour c_i = s_i] + [shape c_i = s_i] + [motion c_i = s_i]; a caption
  outside the grammar agrees with nothing (a tie). A captioner blind to order gives both twins
  one caption, which is closer to one of them: exactly 50 a pair, as VTR's ``t2v/twin-order``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from i2vbench.benchmarks.msrvtt_pool import (
    MSRVTTRunConfig,
    build_pool,
    pool_feature_jobs,
    pool_features,
)
from i2vbench.benchmarks.runner import (
    DatasetResult,
    RunResult,
    TaskData,
    register_features,
    register_runner,
    seed_everything,
    train_and_evaluate,
)
from i2vbench.errors import BenchError

SPLITS = {"train": "train", "val": "validate", "test": "test"}  # ours → MSRVTT_data.json's


class CaptioningRunConfig(MSRVTTRunConfig):
    """A captioning run: the MSR-VTT pool's fields (dataset, videos, fps, num_frames, synthvid)."""

    task: Literal["captioning"] = "captioning"
    min_word_count: int = 1  # words seen fewer times in the training captions decode as <unk>


@register_features("captioning")
def captioning_features(cfg: CaptioningRunConfig, progress: bool = True) -> list:
    """The videos a captioning run encodes (``bench extract --task captioning``)."""
    *_, paths, dataset = load_annotations(cfg, progress)
    return pool_feature_jobs(cfg, paths, dataset)


@register_runner("captioning", CaptioningRunConfig)
def run_captioning(cfg: CaptioningRunConfig, progress: bool = True) -> RunResult:
    data, refs, backbone_id = task_data(cfg, progress)
    [result] = train_and_evaluate(cfg, [data], progress)
    t1 = time.perf_counter()
    score_captions(result, {name: refs[name] for name in data.eval_splits})
    result.stats["coco_eval_s"] = round(time.perf_counter() - t1, 3)
    return RunResult("captioning", backbone_id, [result])


def task_data(cfg: CaptioningRunConfig, progress: bool = True
              ) -> tuple[TaskData, dict[str, dict[str, list[str]]], str]:
    """(the run's splits, features and constructor arguments, {split: {video: references}}, the
    backbone id): what :func:`run_captioning` trains and scores on, for scripts that train one
    method the same way (``i2vbench.experiments.caption_val_curve``)."""
    from i2vbench.datasets.features import encode_texts
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.methods.captioning.base import CaptionSplit
    from i2vbench.methods.captioning.decoder import Vocabulary
    from i2vbench.methods.registry import Lazy

    seed_everything(cfg.resolved_data_seed)
    refs, events, spans, paths, dataset = load_annotations(cfg, progress)
    backbone, features, feature_s = pool_features(cfg, paths, progress)
    t0 = time.perf_counter()
    splits = {}
    for name, by_video in refs.items():
        videos = list(by_video)
        texts = [c for v in videos for c in by_video[v]]
        owner = np.array([i for i, v in enumerate(videos) for _ in by_video[v]], dtype=np.int64)
        pooled = encode_texts(backbone, texts).pooled if name == "train" else None
        splits[name] = CaptionSplit(videos, features, texts, owner, cfg.num_frames, pooled)
    feature_s += time.perf_counter() - t0
    train = splits["train"]
    vocab = Vocabulary.from_captions(train.texts, cfg.min_word_count)
    first = next(iter(features.values()))
    data = TaskData(
        dataset=dataset, train=train, eval_splits={"test": splits["test"], "val": splits["val"]},
        inputs={"pooled", "layers", "frames"} if first.layers is not None else {"pooled", "frames"},
        missing_why="the features were extracted without per-layer tokens",
        provided={"backbone": Lazy(lambda: load_backbone(cfg.backbone, cfg.pretrained)), "vocab": vocab,
                  "video_dim": first.pooled.shape[1],
                  "layer_width": None if first.layers is None else first.layers.shape[-1],
                  "layer_count": None if first.layers is None else first.layers.shape[1],
                  "num_frames": cfg.num_frames, "event_spans": spans},
        score=_score(events), prediction_format="json",
        stats={"feature_s": round(feature_s, 3), "n_videos": len(features),
               **{f"n_{s}_videos": len(sp.videos) for s, sp in splits.items()},
               "n_train_captions": len(train.texts), "n_words": len(vocab), "num_frames": cfg.num_frames,
               **{f"n_{s}_twin_pairs": len(t) for s, (_, t) in events.items()}},
    )
    return data, refs, backbone.backbone_id


# split → ({video: its event sequence}, [(video, its twin)])
Events = dict[str, tuple[dict[str, list], list[tuple[str, str]]]]
# video → its events in time order as (colour, shape, motion) with (start, end) as fractions of the video
Spans = dict[str, list[tuple[tuple[str, str, str], float, float]]]


def load_annotations(cfg: CaptioningRunConfig, progress: bool
                     ) -> tuple[dict[str, dict[str, list[str]]], Events, Spans, dict[str, Path], str]:
    """({split: {video: references}}, SynthVid's events and twins per eval split, SynthVid's event
    spans of every video (what Vid2Seq's time tokens say; empty on real MSR-VTT, which has none),
    video paths, dataset)."""
    from i2vbench.datasets.msrvtt import load_caption_json
    from i2vbench.datasets.video import find_videos

    events: Events = {}
    spans: Spans = {}
    if cfg.dataset == "synthvid":
        from i2vbench.datasets.synthvid.msrvtt import event_sequence

        data = build_pool(cfg, progress)
        data_json, videos_dir, name = data.data_json, Path(data.videos_dir), "synthvid-msrvtt"
        for vid, _, scene, _ in data.scenes():
            duration = scene.n_frames / scene.fps
            timed = sorted(scene.events, key=lambda e: e.start)
            spans[vid] = [(words, e.start / duration, e.end / duration)
                          for words, e in zip(event_sequence(scene), timed, strict=True)]
        for split in ("val", "test"):
            events[split] = ({vid: event_sequence(scene) for vid, _, scene, _ in data.scenes(split)},
                             data.twins(split))
    elif cfg.dataset == "msrvtt":
        if cfg.data_root is None:
            raise BenchError("--dataset msrvtt needs --data-root with MSRVTT_data.json (videos with split "
                             "train/validate/test, their sentences) and the videos in videos/ (or --videos)")
        data_json, videos_dir, name = Path(cfg.data_root) / "MSRVTT_data.json", None, "msrvtt"
        videos_dir = Path(cfg.videos or Path(cfg.data_root) / "videos")
    else:
        raise BenchError(f"dataset {cfg.dataset!r} is not a captioning dataset `bench run` can train on; "
                         "use synthvid or msrvtt")
    refs = {ours: load_caption_json(data_json, split=theirs) for ours, theirs in SPLITS.items()}
    paths = find_videos(videos_dir, sorted({v for by_video in refs.values() for v in by_video}))
    return refs, events, spans, paths, name


def agreement(caption: list | None, sequence: list) -> int:
    """Position-by-position agreement of a caption's events with an event sequence (colour, shape
    and motion each count one); 0 for a caption outside the grammar (None)."""
    return sum(a == b for c, s in zip(caption or [], sequence, strict=False) for a, b in zip(c, s, strict=True))


def order_scores(captions: dict[str, str], events: dict[str, list], twins: list[tuple[str, str]]) -> dict[str, float]:
    """``event-acc`` and ``twin-order`` (see the module docstring) of one split's captions."""
    from i2vbench.datasets.synthvid.msrvtt import parse_caption

    parsed = {v: parse_caption(captions[v]) for v in events}
    out = {"event-acc": 100.0 * float(np.mean([parsed[v] == seq for v, seq in events.items()]))}
    if twins:
        wins = []
        for pair in twins:
            for own, twin in (pair, pair[::-1]):
                a, b = agreement(parsed[own], events[own]), agreement(parsed[own], events[twin])
                wins.append(1.0 if a > b else 0.5 if a == b else 0.0)
        out["twin-order"] = 100.0 * float(np.mean(wins))
    return out


def _score(events: Events):  # noqa: ANN202
    def score(method, split_name: str, split) -> tuple[dict[str, float], list[dict[str, Any]]]:  # noqa: ANN001
        captions = dict(zip(split.videos, method.captions(split), strict=True))
        metrics = order_scores(captions, *events[split_name]) if split_name in events else {}
        return metrics, [{"video_id": v, "caption": c} for v, c in captions.items()]

    return score


def score_captions(result: DatasetResult, refs: dict[str, dict[str, list[str]]]) -> None:
    """Put the COCO caption metrics of every method × seed × split into its metrics (first, in
    the evaluator's order), scoring all of them in one Java session."""
    from i2vbench.metrics.captioning import caption_metrics_many

    sets = {(m.method, s.seed, split): (split, {r["video_id"]: r["caption"] for r in rows})
            for m in result.methods for s in m.seeds for split, rows in s.predictions.items()}
    if not sets:
        return
    scores = caption_metrics_many(refs, sets)
    for m in result.methods:
        for s in m.seeds:
            for split in s.predictions:
                s.metrics[split] = {**scores[m.method, s.seed, split], **s.metrics[split]}
