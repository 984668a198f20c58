"""``bench run --task vtr``: every registered text-video retrieval method on the same features.

Data: the embedded SynthVid MSR-VTT pool (generated on first use, then cached; train / val /
test as written, val and test in the 1k-A layout) or MSR-VTT from ``--data-root``
(``MSRVTT_data.json``, ``MSRVTT_train.9k.csv``, ``MSRVTT_JSFUSION_test.csv`` and ``videos/``).
MSR-VTT's 1k-A protocol has no val split, so val is a deterministic held-out ``val_fraction``
of the 9k training videos (by a stable hash of the id), each with its first caption as its
query, never trained on.

Videos are decoded at ``fps`` and encoded once by the frozen ILFM (cached); each method sees
``num_frames`` frames a video, spread uniformly (CLIP4Clip: 12 at 1 fps). Predictions are the
texts × videos similarity matrix (``.npy``), scored by the evaluator ``bench eval --task vtr``
uses. On SynthVid, where a third of the val/test videos have a time-reversed twin, the score
adds ``t2v/twin-order``: the % of twin pairs' queries whose own video outranks its twin (an
order-blind video embedding scores ~50).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from i2vbench.benchmarks.msrvtt_pool import (
    MSRVTTRunConfig,
    build_pool,
    pool_feature_jobs,
    pool_features,
)
from i2vbench.benchmarks.runner import (
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


class VTRRunConfig(MSRVTTRunConfig):
    """A VTR run: the pool's fields plus the held-out val share of MSR-VTT's training videos."""

    task: Literal["vtr"] = "vtr"
    val_fraction: float = Field(0.1, gt=0, lt=1)  # msrvtt: 9k train videos held out as val


@register_features("vtr")
def vtr_features(cfg: VTRRunConfig, progress: bool = True) -> list:
    """The videos a VTR run encodes (``bench extract --task vtr``)."""
    _, _, paths, dataset = load_annotations(cfg, progress)
    return pool_feature_jobs(cfg, paths, dataset)


@register_runner("vtr", VTRRunConfig)
def run_vtr(cfg: VTRRunConfig, progress: bool = True) -> RunResult:
    from i2vbench.datasets.features import encode_texts
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.methods.registry import Lazy
    from i2vbench.methods.vtr.base import VTRSplit

    seed_everything(cfg.resolved_data_seed)
    pairs, twins, paths, dataset = load_annotations(cfg, progress)
    backbone, features, feature_s = pool_features(cfg, paths, progress)
    t0 = time.perf_counter()
    splits = {}
    for name, (videos, texts, text_video) in pairs.items():
        splits[name] = VTRSplit(videos, features, texts, np.asarray(text_video), encode_texts(backbone, texts),
                                cfg.num_frames)
    feature_s += time.perf_counter() - t0
    train = splits["train"]
    data = TaskData(
        dataset=dataset, train=train, eval_splits={"test": splits["test"], "val": splits["val"]},
        inputs={"pooled", "text_tokens", "frames"}, missing_why="",
        provided={"backbone": Lazy(lambda: load_backbone(cfg.backbone, cfg.pretrained)),
                  "video_dim": next(iter(features.values())).pooled.shape[1], "text_dim": train.text.tokens.shape[-1]},
        score=_score(twins), prediction_format="npy",
        stats={"feature_s": round(feature_s, 3), "n_videos": len(features),
               **{f"n_{s}_videos": len(sp.videos) for s, sp in splits.items()},
               "n_train_captions": len(train.texts), "num_frames": cfg.num_frames,
               **{f"n_{s}_twin_pairs": len(t) for s, t in twins.items()}},
    )
    return RunResult("vtr", backbone.backbone_id, train_and_evaluate(cfg, [data], progress))


Pairs = tuple[list[str], list[str], list[int]]  # (videos, texts, video index of each text)


def load_annotations(cfg: VTRRunConfig, progress: bool) -> tuple[dict[str, Pairs], dict[str, list], dict[str, Path],
                                                                 str]:
    """(pairs per split, twin pairs per eval split, video paths by id, dataset name)."""
    from i2vbench.datasets.msrvtt import load_caption_json, load_retrieval_csv, load_video_list_csv
    from i2vbench.datasets.video import find_videos

    if cfg.dataset == "synthvid":
        data = build_pool(cfg, progress)
        captions = load_caption_json(data.data_json, split="train")
        train = _train_pairs(load_video_list_csv(data.train_csv), captions, data.train_csv)
        pairs = {"train": train, **{s: _eval_pairs(load_retrieval_csv(data.retrieval_csv(s))) for s in ("val", "test")}}
        twins = {s: data.twins(s) for s in ("val", "test")}
        videos_dir, name = Path(data.videos_dir), "synthvid-msrvtt"
    elif cfg.dataset == "msrvtt":
        if cfg.data_root is None:
            raise BenchError("--dataset msrvtt needs --data-root with MSRVTT_data.json, MSRVTT_train.9k.csv "
                             "and MSRVTT_JSFUSION_test.csv (CLIP4Clip's 1k-A files)")
        root = Path(cfg.data_root)
        captions = load_caption_json(root / "MSRVTT_data.json")
        train_ids = load_video_list_csv(root / "MSRVTT_train.9k.csv")
        val_ids = held_out(train_ids, cfg.val_fraction)
        pairs = {"train": _train_pairs([v for v in train_ids if v not in val_ids], captions, root / "MSRVTT_train.9k.csv"),
                 "val": _eval_pairs([(v, captions[v][0]) for v in train_ids if v in val_ids]),
                 "test": _eval_pairs(load_retrieval_csv(root / "MSRVTT_JSFUSION_test.csv"))}
        twins = {}
        videos_dir, name = Path(cfg.videos or root / "videos"), "msrvtt"
    else:
        raise BenchError(f"dataset {cfg.dataset!r} is not a VTR dataset `bench run` can train on; "
                         "use synthvid or msrvtt")
    paths = find_videos(videos_dir, sorted({v for videos, _, _ in pairs.values() for v in videos}))
    return pairs, twins, paths, name


def _train_pairs(video_ids: list[str], captions: dict[str, list[str]], source: Path) -> Pairs:
    """Every caption of every training video (an epoch draws one per video)."""
    if not video_ids:
        raise BenchError(f"{source}: no training videos")
    texts, text_video = [], []
    for i, vid in enumerate(video_ids):
        if not captions.get(vid):
            raise BenchError(f"{source}: training video {vid!r} has no caption in MSRVTT_data.json")
        texts += captions[vid]
        text_video += [i] * len(captions[vid])
    return list(video_ids), texts, text_video


def _eval_pairs(rows: list[tuple[str, str]]) -> Pairs:
    """The 1k-A layout: query i belongs to video i."""
    return [v for v, _ in rows], [s for _, s in rows], list(range(len(rows)))


def twin_order(sim: np.ndarray, videos: list[str], twins: list[tuple[str, str]]) -> float:
    """% of twin-pair queries (both of each pair) whose own video scores above its twin."""
    col = {v: i for i, v in enumerate(videos)}
    wins = [sim[col[a], col[a]] > sim[col[a], col[b]] for x, y in twins for a, b in ((x, y), (y, x))]
    return 100.0 * float(np.mean(wins))


def _score(twins: dict[str, list]):  # noqa: ANN202
    from i2vbench.metrics.vtr import retrieval_metrics

    def score(method, split_name: str, split) -> tuple[dict[str, float], np.ndarray]:  # noqa: ANN001
        sim = method.similarity(split)
        metrics = retrieval_metrics(sim)
        if twins.get(split_name):
            metrics["t2v/twin-order"] = twin_order(sim, split.videos, twins[split_name])
        return metrics, sim

    return score
