"""``bench run --task tvg``: every registered TVG method, trained and scored on the same features.

Data: the embedded SynthVid benchmark (generated on first use, then cached) or Charades-STA from
``--data-root`` (videos, or pre-extracted features in the Moment-DETR/UniVTG layout).
Features: decoded at ``fps`` clips per second and encoded once by the backbone (cached), shared
by every method; methods that train through the ILFM get the decoded frames as well.
"""

from __future__ import annotations

import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from i2vbench.benchmarks.runner import (
    RUNNERS,
    MethodResult,
    RunResult,
    configure_threads,
    seed_everything,
)
from i2vbench.errors import BenchError
from i2vbench.parallel import map_in_workers


class TVGRunConfig(BaseModel):
    """Everything a TVG run depends on; embedded whole in the run record."""

    model_config = ConfigDict(extra="forbid")

    task: str = "tvg"
    dataset: str = "synthvid"
    data_root: Path | None = None  # charades-sta: folder with charades_sta_*.txt and Charades_v1_*.csv
    videos: Path | None = None  # default: <data_root>/videos
    features: Path | None = None  # pre-extracted vid_clip/ + txt_clip/ (Moment-DETR/UniVTG layout)
    backbone: str = "tinyclip"
    pretrained: str | None = None
    methods: list[str] | None = None  # default: every registered TVG method
    seed: int = 0
    fps: float = Field(2.0, gt=0)
    threads: int = Field(2, ge=1)
    # methods trained at once (default: all), each with max(1, threads // jobs) intra-op threads
    jobs: int | None = Field(None, ge=1)
    synthvid: dict[str, Any] = Field(default_factory=dict)  # build_tvg options (n_train, n_test, seed)
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)  # method → TrainConfig fields


def _load_annotations(cfg: TVGRunConfig, progress: bool):  # noqa: ANN202
    """(train moments, test moments, video paths by id or None, dataset name)."""
    from i2vbench.datasets.charades_sta import load_charades_sta, load_durations

    if cfg.dataset == "synthvid":
        from i2vbench.datasets.synthvid import build_tvg

        opts = {"seed": cfg.seed, **cfg.synthvid}
        data = build_tvg(progress=progress, **opts)
        train = load_charades_sta(data.train_txt, load_durations(data.train_durations_csv))
        test = load_charades_sta(data.test_txt, load_durations(data.test_durations_csv))
        videos_dir, name = Path(data.videos_dir), "synthvid-tvg"
    elif cfg.dataset == "charades-sta":
        if cfg.data_root is None:
            raise BenchError("--dataset charades-sta needs --data-root (charades_sta_{train,test}.txt "
                             "and Charades_v1_{train,test}.csv)")
        root = Path(cfg.data_root)
        durations = {**load_durations(root / "Charades_v1_train.csv"), **load_durations(root / "Charades_v1_test.csv")}
        train = load_charades_sta(root / "charades_sta_train.txt", durations)
        test = load_charades_sta(root / "charades_sta_test.txt", durations)
        videos_dir, name = Path(cfg.videos or root / "videos"), "charades-sta"
    else:
        from i2vbench.datasets.registry import load_all

        spec = load_all().get(cfg.dataset)
        raise BenchError(f"dataset {cfg.dataset!r} is not a TVG dataset `bench run` can train on "
                         f"(its tasks: {', '.join(spec.tasks)}); use synthvid or charades-sta")
    if cfg.features is not None:
        return train, test, None, name
    vids = sorted({m.vid for m in train} | {m.vid for m in test})
    paths = {}
    for vid in vids:
        hits = [videos_dir / f"{vid}{ext}" for ext in (".mp4", ".webm", ".avi", ".mkv")]
        found = next((p for p in hits if p.is_file()), None)
        if found is None:
            raise BenchError(f"video for {vid!r} not found in {videos_dir} (tried .mp4/.webm/.avi/.mkv); "
                             "give --videos DIR, or --features DIR with pre-extracted features")
        paths[vid] = found
    return train, test, paths, name


def _to_queries(moments) -> list:  # noqa: ANN001
    from i2vbench.methods.tvg.data import TVGQuery

    return [TVGQuery(m.qid, m.vid, m.query, float(m.duration), tuple(m.windows)) for m in moments]


def _build_splits(cfg: TVGRunConfig, backbone, train, test, paths, progress: bool):  # noqa: ANN001, ANN202
    from i2vbench.datasets.features import (
        Sampling,
        encode_texts,
        extract_video_features,
        load_univtg_features,
        load_univtg_text,
    )
    from i2vbench.methods.tvg.data import TVGSplit

    tq, eq = _to_queries(train), _to_queries(test)
    durations = {q.vid: q.duration for q in tq + eq}
    if cfg.features is not None:
        videos = load_univtg_features(cfg.features, sorted(durations), durations)
        text_tr = load_univtg_text(cfg.features, [q.qid for q in tq])
        text_te = load_univtg_text(cfg.features, [q.qid for q in eq])
    else:
        needs_frames = any(s.factory.needs_frames for s in _selected_methods(cfg))
        sampling = Sampling(fps=cfg.fps, keep_frames=needs_frames)
        videos = extract_video_features(backbone, backbone.backbone_id, paths, sampling, progress,
                                        jobs=cfg.threads)
        text_tr = encode_texts(backbone, [q.query for q in tq])
        text_te = encode_texts(backbone, [q.query for q in eq])
    return TVGSplit(tq, videos, text_tr, cfg.fps), TVGSplit(eq, videos, text_te, cfg.fps)


def _selected_methods(cfg: TVGRunConfig) -> list:
    from i2vbench.methods.registry import load_all, methods_for

    if cfg.methods is None:
        return methods_for("tvg")
    registry = load_all()
    specs = [registry.get(name) for name in cfg.methods]
    wrong = [s.name for s in specs if s.task != "tvg"]
    if wrong:
        raise BenchError(f"not TVG methods: {', '.join(wrong)}")
    return specs


def _build_method(spec, cfg: TVGRunConfig, train, backbone_factory):  # noqa: ANN001, ANN202
    from i2vbench.methods.tvg.base import TrainConfig

    any_video = next(iter(train.videos.values()))
    kwargs = {"video_dim": any_video.pooled.shape[1], "text_dim": train.text.tokens.shape[-1]}
    if any_video.layers is not None:
        kwargs.update(layer_width=any_video.layers.shape[-1], num_layers=any_video.layers.shape[1],
                      num_tokens=any_video.layers.shape[2])
    if spec.factory.needs_frames:
        kwargs["backbone"] = backbone_factory()
    method = spec.factory(**kwargs)
    over = cfg.overrides.get(spec.name, {})
    known = {f.name for f in fields(TrainConfig)}
    bad = sorted(set(over) - known)
    if bad:
        raise BenchError(f"config overrides.{spec.name}: unknown keys {bad}; expected some of {sorted(known)}")
    method.train_config = replace(method.train_config, **over)
    return method


@RUNNERS.register("tvg")
def run_tvg(cfg: TVGRunConfig, progress: bool = True) -> RunResult:
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.metrics.tvg import tvg_metrics

    configure_threads(cfg.threads)
    specs = _selected_methods(cfg)
    seed_everything(cfg.seed)
    train, test, paths, dataset = _load_annotations(cfg, progress)

    def backbone_factory():  # noqa: ANN202
        return load_backbone(cfg.backbone, cfg.pretrained)

    # with pre-extracted features the ILFM is only needed by methods that train through it
    backbone = backbone_factory() if cfg.features is None else None
    t0 = time.perf_counter()
    train_split, test_split = _build_splits(cfg, backbone, train, test, paths, progress)
    feature_s = time.perf_counter() - t0
    skipped = {}
    runnable = []
    for spec in specs:
        needs = ("layers" if spec.factory.needs_layers and not train_split.has_layers else
                 "frames" if spec.factory.needs_frames and not train_split.has_frames else None)
        if needs:
            skipped[spec.name] = (f"needs the ILFM's per-{'layer tokens' if needs == 'layers' else 'frame pixels'}, "
                                  "which pre-extracted features do not have; run on videos instead")
        else:
            runnable.append(spec)

    methods = {}
    for spec in runnable:
        seed_everything(cfg.seed)
        methods[spec.name] = _build_method(spec, cfg, train_split, backbone_factory)

    def train_and_score(spec) -> MethodResult:  # noqa: ANN001
        method = methods[spec.name]
        seed_everything(cfg.seed)  # the same random stream whichever worker trains it, and when
        t1 = time.perf_counter()
        method.fit(train_split, seed=cfg.seed, progress=progress)
        t2 = time.perf_counter()
        preds = method.predict(test_split)
        t3 = time.perf_counter()
        rows = [{"qid": q.qid, "vid": q.vid, "query": q.query,
                 "pred_relevant_windows": _ranked(preds[q.qid])} for q in test_split.queries]
        # score exactly what is written to predictions/<method>.jsonl, so `bench eval` agrees
        metrics = tvg_metrics(test, {r["qid"]: np.asarray(r["pred_relevant_windows"]) for r in rows})
        trainable, total = method.parameter_counts()
        return MethodResult(spec.name, spec.display, spec.paradigm, spec.survey_row, metrics,
                            trainable, total, t2 - t1, t3 - t2, rows)

    def steps(spec) -> int:  # noqa: ANN001
        method = methods[spec.name]
        return method.train_config.epochs * method.steps_per_epoch(len(train_split))

    order = sorted(runnable, key=steps, reverse=True)  # longest first: none starts last and alone
    jobs = cfg.jobs or max(1, len(order))
    done = map_in_workers(train_and_score, order, jobs, max(1, cfg.threads // jobs))
    by_name = {r.method: r for r in done}
    results = [by_name[s.name] for s in runnable]
    stats = {"feature_s": round(feature_s, 3), "n_train_queries": len(train), "n_test_queries": len(test),
             "n_videos": len(train_split.videos), "ilfm": cfg.backbone}
    return RunResult("tvg", dataset, stats, results, skipped)


def _ranked(windows: np.ndarray) -> list[list[float]]:
    """Best first, rounded as written to disk (the metric ranks by list order)."""
    w = np.asarray(windows, dtype=float).reshape(-1, 3)
    w = w[np.argsort(-w[:, 2], kind="stable")]
    return [[round(float(x), 4) for x in row] for row in w]

