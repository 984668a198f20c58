"""``bench run --task stvg``: every registered STVG method, trained and scored on the same data.

Data: the embedded SynthVid benchmark in VidSTG's formats (TubeDETR's processed json with the
trajectories; generated on first use, then cached; train / val / test as written), read back by
the real VidSTG loader. Features: every frame (SynthVid videos are at TubeDETR's 5 fps sampling
rate, so the sampled frames are all frames) is encoded once by the grounding ILFM's image tower
(tinyground: its patch tokens, cached by the feature layer) and shared by every method and seed.
Scores: TubeDETR-parity m_vIoU, vIoU@0.3, vIoU@0.5, m_tIoU over all queries and per sentence
type (declarative: Table II's columns; interrogative), from exactly the prediction file written.
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
    register_runner,
    seed_everything,
    train_and_evaluate,
)
from i2vbench.errors import BenchError

SPLITS = ("train", "val", "test")


class STVGRunConfig(RunConfig):
    """An STVG run: the shared fields plus the SynthVid build options."""

    task: Literal["stvg"] = "stvg"
    dataset: str = "synthvid"
    backbone: str = "tinyground"  # the grounding ILFM (MDETR's role in Table II)
    synthvid: dict[str, Any] = Field(default_factory=dict)  # build_vidstg options (n_train, n_val, n_test)


def load_splits(cfg: STVGRunConfig, progress: bool) -> tuple[dict[str, Any], dict[str, Path], int, str]:
    """(VidSTG annotations by split, video paths by id, image size, dataset name)."""
    from i2vbench.datasets.video import find_videos
    from i2vbench.datasets.vidstg import load_vidstg

    if cfg.dataset != "synthvid":
        raise BenchError(f"`bench run --task stvg` trains on the embedded SynthVid VidSTG (--dataset synthvid); "
                         f"got {cfg.dataset!r}. Score predictions on real VidSTG with `bench eval --task stvg`")
    from i2vbench.datasets.synthvid.vidstg import build_vidstg

    data = build_vidstg(progress=progress, **{"seed": cfg.resolved_data_seed, **cfg.synthvid})
    ann = {s: load_vidstg(data.json(s)) for s in SPLITS}
    vids = sorted({v for a in ann.values() for v in a.original_video_ids})
    return ann, find_videos(data.videos_dir, vids), data.image_size, "synthvid-vidstg"


def to_split(ann, tokens: dict[str, np.ndarray], image_size: int):  # noqa: ANN001, ANN201
    """An annotation file + per-video tokens → :class:`~i2vbench.methods.stvg.data.STVGSplit`."""
    from i2vbench.datasets.vidstg import sample_frames
    from i2vbench.methods.stvg.data import STVGQuery, STVGSplit

    frames, offsets = sample_frames(ann.start_frame, ann.end_frame, ann.fps)
    queries = []
    T = int(max(ann.end_frame - ann.start_frame))
    boxes = np.full((len(ann), T, 4), np.nan, np.float32)
    for i in range(len(ann)):
        f = frames[offsets[i]:offsets[i + 1]]
        n = int(ann.end_frame[i] - ann.start_frame[i])
        if ann.start_frame[i] != 0 or not np.array_equal(f, np.arange(n)):
            raise BenchError(f"{ann.path} [video_id {ann.video_ids[i]}]: expected a segment from frame 0 sampled "
                             "at its own frame rate (every frame), as SynthVid writes it")
        vid = ann.original_video_ids[i]
        if len(tokens[vid]) != n:
            raise BenchError(f"{ann.path} [video_id {ann.video_ids[i]}]: {n} frames annotated, "
                             f"{len(tokens[vid])} decoded from {vid}")
        queries.append(STVGQuery(ann.video_ids[i], vid, ann.captions[i], str(ann.qtypes[i]), n,
                                 (int(ann.tube_start[i]), int(ann.tube_end[i]))))
        tube = ann.trajectories[vid][str(int(ann.target_ids[i]))]
        for fr, rec in tube.items():
            x, y, w, h = rec["bbox"]
            if int(fr) < T:
                boxes[i, int(fr)] = (x, y, x + w, y + h)
    return STVGSplit(queries, tokens, boxes, image_size)


def video_model_features(paths: dict[str, Path], fps: float, n_frames: dict[str, int], progress: bool = False
                         ) -> dict[str, np.ndarray]:
    """The extra video model's (tinyvideo's) time-aligned features, ``vid → (T, D)`` float32, for
    the methods of the extra-model paradigm (CG-STVG): every video decoded at the annotation's
    frame rate, so feature t is frame t."""
    import torch
    from tqdm import tqdm

    from i2vbench.datasets.video import decode_frames
    from i2vbench.methods.backbones.tinyvideo import load_tinyvideo

    with torch.random.fork_rng():  # loading a model must not move the random stream a method's init draws from
        model = load_tinyvideo()
    out = {}
    for vid, path in tqdm(paths.items(), desc=f"features ({model.model_id})", unit="video", disable=not progress,
                          leave=False):
        frames, _ = decode_frames(path, fps, size=model.config.image_size)
        if len(frames) != n_frames[vid]:
            raise BenchError(f"{path}: {len(frames)} frames decoded at {fps:g} fps, {n_frames[vid]} annotated")
        with torch.no_grad():
            out[vid] = model.encode(frames).frames.numpy()
    return out


def prediction_file(split, preds) -> dict:  # noqa: ANN001
    """Predictions in the layout ``bench eval --task stvg`` reads (TubeDETR's evaluator input)."""
    videos, boxes = [], []
    for q in split.queries:
        (s, e), b = preds[q.qid]
        videos.append({"video_id": q.qid, "sted": [int(s), int(e)], "qtype": q.qtype})
        boxes += [{"image_id": f"{q.qid}_{f}", "boxes": [[round(float(v), 2) for v in b[f]]]}
                  for f in range(q.n_frames)]
    return {"videos": videos, "boxes": boxes}


def _score(ann: dict[str, Any]):  # noqa: ANN202
    from i2vbench.metrics.stvg import STVGPredictions, evaluate_stvg, summarize

    def score(method, split_name: str, split) -> tuple[dict[str, float], dict]:  # noqa: ANN001
        rows = prediction_file(split, method.predict(split))
        # score exactly what is written to the predictions file, so `bench eval` agrees
        parsed = STVGPredictions(Path(f"<{split_name} predictions>"),
                                 {v["video_id"]: tuple(v["sted"]) for v in rows["videos"]},
                                 {v["video_id"]: v["qtype"] for v in rows["videos"]},
                                 {b["image_id"]: b["boxes"] for b in rows["boxes"]})
        return summarize(evaluate_stvg(ann[split_name], parsed)), rows

    return score


@register_runner("stvg", STVGRunConfig)
def run_stvg(cfg: STVGRunConfig, progress: bool = True) -> RunResult:
    from i2vbench.datasets.features import Sampling, extract_video_features
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.methods.registry import Lazy

    if cfg.backbone != "tinyground":
        raise BenchError(f"STVG methods stand on a grounding ILFM; --backbone {cfg.backbone!r} is not one "
                         "(use tinyground, optionally with --pretrained DIR)")
    seed_everything(cfg.resolved_data_seed)
    ann, paths, image_size, dataset = load_splits(cfg, progress)
    backbone = load_backbone(cfg.backbone, cfg.pretrained)
    t0 = time.perf_counter()
    # the last block's tokens at full patch resolution: what tinyground's fusion layers read
    grid = backbone.image_size // backbone.clip.config.patch_size
    feats = extract_video_features(backbone, backbone.backbone_id, paths,
                                   Sampling(fps=float(ann["train"].fps[0]), layers=1, grid=grid, keep_frames=False),
                                   progress=progress, jobs=cfg.threads, init_seed=cfg.resolved_data_seed)
    tokens = {vid: f.layers[:, -1, backbone.num_prefix_tokens:] for vid, f in feats.items()}
    feature_s = time.perf_counter() - t0
    splits = {s: to_split(a, tokens, image_size) for s, a in ann.items()}

    def grounder():  # noqa: ANN202
        return load_backbone(cfg.backbone, cfg.pretrained)

    video_features: dict[str, np.ndarray] = {}

    def video_model():  # noqa: ANN202 (computed once, for the first method that asks)
        if not video_features:
            t1 = time.perf_counter()
            video_features.update(video_model_features(paths, float(ann["train"].fps[0]),
                                                        {v: len(t) for v, t in tokens.items()}, progress))
            data.stats["video_model_s"] = round(time.perf_counter() - t1, 3)
        return video_features

    anchors: dict[tuple[str, str], np.ndarray] = {}

    def frame_boxes():  # noqa: ANN202 (computed once, before the workers fork: shared by every method and seed)
        if not anchors:
            import torch

            from i2vbench.methods.stvg.base import anchor_boxes

            t1 = time.perf_counter()
            # inside the first asker's build: loading a model must not move the random stream its init draws from
            with torch.random.fork_rng():
                frozen = grounder()
            for split in splits.values():  # in cfg.threads one-thread workers: no core idles
                anchors.update(anchor_boxes(frozen, split, jobs=cfg.threads))
            data.stats["anchor_s"] = round(time.perf_counter() - t1, 3)
        return anchors

    data = TaskData(
        dataset=dataset, train=splits["train"], eval_splits={"test": splits["test"], "val": splits["val"]},
        inputs={"frames"}, missing_why="",
        provided={"grounder": Lazy(grounder), "video_features": Lazy(video_model), "anchors": Lazy(frame_boxes)},
        score=_score(ann),
        stats={"feature_s": round(feature_s, 3), "n_videos": len(paths),
               **{f"n_{s}_queries": len(a) for s, a in ann.items()}},
        prediction_format="json",
    )
    return RunResult("stvg", backbone.backbone_id, train_and_evaluate(cfg, [data], progress))
