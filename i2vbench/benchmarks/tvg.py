"""``bench run --task tvg``: every registered TVG method, trained and scored on the same features.

Data: the embedded SynthVid benchmark (generated on first use, then cached; train / val / test
as written) or Charades-STA from ``--data-root`` (videos, or pre-extracted features in the
Moment-DETR/UniVTG layout). Charades-STA has no official val split, so val is a deterministic
held-out ``val_fraction`` of the train *videos* (by a stable hash of the video id), never seen
in training. Features: decoded at ``fps`` clips per second and encoded once by the backbone
(cached), shared by every method and seed; methods that train through the ILFM get the decoded
frames as well. The train-and-score loop is every task's (:mod:`i2vbench.benchmarks.runner`).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

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
# seconds per clip of the released Charades-STA features (UniVTG, lighthouse, QD-DETR/Moment-DETR
# family): the default for --features, since the files do not say it
CHARADES_RELEASE_CLIP_LEN = 1.0


class TVGRunConfig(RunConfig):
    """A TVG run: the shared fields plus where videos/features are and how clips are sampled."""

    task: Literal["tvg"] = "tvg"
    dataset: str = "synthvid"  # or charades-sta (with data_root)
    videos: Path | None = None  # default: <data_root>/videos
    # pre-extracted per-video / per-query CLIP features in a release layout (datasets.features
    # FEATURE_LAYOUTS: UniVTG vid_clip/ + txt_clip/, Moment-DETR clip_features/ + clip_text_features/
    # with qid<qid>.npz, lighthouse clip/ + clip_text/), found by its folder names or named here
    features: Path | None = None
    features_layout: Literal["auto", "univtg", "moment_detr", "lighthouse"] = "auto"
    # what produced the features (e.g. "clip:ViT-B/32"): the files do not say, so the run record
    # says what the user says, or "unknown"; never the backbone field, which did not produce them
    features_backbone: str | None = None
    # charades-sta: video durations (a Charades csv with id/length, or a json {vid: {duration}} /
    # {vid: seconds} such as VSLNet's charades.json); default: Charades_v1_{train,test}.csv in
    # data_root, else data_root/charades.json
    durations: Path | None = None
    fps: float = Field(2.0, gt=0)
    # seconds per clip, the same rate as fps (1 / fps) said the way feature releases say it. The
    # files do not carry it: with --features and neither given it is CHARADES_RELEASE_CLIP_LEN
    # (the UniVTG, lighthouse and Moment-DETR-family Charades-STA releases); on videos, 1 / fps.
    # The resolved value is in the run record, and clip counts are checked against it.
    clip_len: float | None = Field(None, gt=0)
    val_fraction: float = Field(0.1, ge=0, lt=1)  # charades-sta: train videos held out as val
    synthvid: dict[str, Any] = Field(default_factory=dict)  # build_tvg options (n_train, n_val, n_test)

    @model_validator(mode="after")
    def _one_clip_rate(self) -> TVGRunConfig:
        if self.features is None and (self.features_backbone or self.features_layout != "auto"):
            raise ValueError("features_backbone / features_layout describe pre-extracted features: give features too")
        if self.durations is not None and self.dataset != "charades-sta":
            raise ValueError(f"durations is read for dataset charades-sta, not {self.dataset!r}")
        if self.features is not None:
            self.features_backbone = self.features_backbone or "unknown"
        if self.clip_len is None and self.features is not None and "fps" not in self.model_fields_set:
            self.clip_len, self.fps = CHARADES_RELEASE_CLIP_LEN, 1.0 / CHARADES_RELEASE_CLIP_LEN
        elif self.clip_len is None:
            self.clip_len = 1.0 / self.fps
        elif "fps" not in self.model_fields_set:
            self.fps = 1.0 / self.clip_len
        elif abs(self.fps * self.clip_len - 1.0) > 1e-6:
            raise ValueError(f"fps {self.fps:g} and clip_len {self.clip_len:g} s disagree (clip_len is 1 / fps): "
                             "give one of them")
        return self


def _split_by_videos(moments: list, fraction: float) -> tuple[list, list]:
    """(train, val) moments: val holds the held-out videos' queries, all of them."""
    val_vids = held_out(sorted({m.vid for m in moments}), fraction)
    return [m for m in moments if m.vid not in val_vids], [m for m in moments if m.vid in val_vids]


def load_annotations(cfg: TVGRunConfig, progress: bool) -> tuple[dict[str, list], dict[str, Path] | None, str]:
    """(moments by split "train"/"val"/"test", video paths by id or None with features, dataset name)."""
    from i2vbench.datasets.charades_sta import load_charades_sta, load_durations
    from i2vbench.datasets.video import find_videos

    if cfg.dataset == "synthvid":
        from i2vbench.datasets.synthvid import build_tvg

        data = build_tvg(progress=progress, **{"seed": cfg.resolved_data_seed, **cfg.synthvid})
        splits = {s: load_charades_sta(data.txt(s), load_durations(data.durations_csv(s))) for s in SPLITS}
        videos_dir, name = Path(data.videos_dir), "synthvid-tvg"
    elif cfg.dataset == "charades-sta":
        if cfg.data_root is None:
            raise BenchError("--dataset charades-sta needs --data-root (charades_sta_{train,test}.txt "
                             "and Charades_v1_{train,test}.csv or charades.json)")
        root = Path(cfg.data_root)
        if not root.is_dir():
            raise BenchError(f"charades-sta data root not found: {root}")
        durations = charades_durations(root, cfg.durations)
        train, val = _split_by_videos(load_charades_sta(root / "charades_sta_train.txt", durations),
                                      cfg.val_fraction)
        splits = {"train": train, "val": val, "test": load_charades_sta(root / "charades_sta_test.txt", durations)}
        videos_dir, name = Path(cfg.videos or root / "videos"), "charades-sta"
    else:
        from i2vbench.datasets.registry import load_all

        spec = load_all().get(cfg.dataset)
        raise BenchError(f"dataset {cfg.dataset!r} is not a TVG dataset `bench run` can train on "
                         f"(its tasks: {', '.join(spec.tasks)}); use synthvid or charades-sta")
    if not splits["train"]:
        raise BenchError(f"{name}: no training queries")
    if cfg.features is not None:
        return splits, None, name
    return splits, find_videos(videos_dir, sorted({m.vid for moments in splits.values() for m in moments})), name


def charades_durations(root: Path, given: Path | None) -> dict[str, float]:
    """Video durations: the file given, else the Charades csvs, else a ``charades.json`` (VSLNet's
    layout, ``{vid: {"duration": s, ...}}``) in ``root``."""
    from i2vbench.datasets.charades_sta import load_durations

    if given is not None:
        return load_durations(given)
    csvs = [root / "Charades_v1_train.csv", root / "Charades_v1_test.csv"]
    if all(p.is_file() for p in csvs):
        return {**load_durations(csvs[0]), **load_durations(csvs[1])}
    if (root / "charades.json").is_file():
        return load_durations(root / "charades.json")
    raise BenchError(f"{root}: no video durations: expected Charades_v1_train.csv and Charades_v1_test.csv "
                     "(Charades' own, columns id/length) or charades.json (VSLNet's, {vid: {duration}}); "
                     "or name a file with durations: <csv or json>")


def _to_queries(moments: list) -> list:
    from i2vbench.methods.tvg.data import TVGQuery

    return [TVGQuery(m.qid, m.vid, m.query, float(m.duration), tuple(m.windows)) for m in moments]


def build_splits(cfg: TVGRunConfig, backbone, moments: dict[str, list], paths: dict[str, Path] | None,  # noqa: ANN001
                 progress: bool) -> dict[str, Any]:
    """Split name → :class:`TVGSplit`, all sharing one dict of video features (encoded once)."""
    from i2vbench.datasets.features import (
        detect_feature_layout,
        encode_texts,
        extract_video_features,
        load_univtg_features,
        load_univtg_text,
    )
    from i2vbench.methods.tvg.data import TVGSplit

    queries = {s: _to_queries(m) for s, m in moments.items()}
    durations = {q.vid: q.duration for qs in queries.values() for q in qs}
    if cfg.features is not None:
        # every file's shape (and every video's clip count) is checked here, before any training
        layout = detect_feature_layout(cfg.features, cfg.features_layout)
        videos = load_univtg_features(cfg.features, sorted(durations), durations, clip_len=cfg.clip_len,
                                      layout=layout)
        text, widths = {}, None
        for s, qs in queries.items():
            if qs:
                text[s] = load_univtg_text(cfg.features, [q.qid for q in qs], widths=widths, layout=layout)
                widths = (text[s].tokens.shape[-1], text[s].pooled.shape[-1])
    else:
        videos = extract_video_features(backbone, backbone.backbone_id, paths, sampling(cfg),
                                        progress=progress, jobs=cfg.threads, init_seed=cfg.resolved_data_seed)
        text = {s: encode_texts(backbone, [q.query for q in qs]) for s, qs in queries.items() if qs}
    return {s: TVGSplit(qs, videos, text[s], cfg.fps) for s, qs in queries.items() if qs}


def constructor_args(cfg: TVGRunConfig, train) -> dict[str, Any]:  # noqa: ANN001
    """What a TVG method's constructor may ask for: feature widths, and a fresh backbone."""
    from i2vbench.methods.backbones import load_backbone
    from i2vbench.methods.registry import Lazy

    any_video = next(iter(train.videos.values()))
    args: dict[str, Any] = {"video_dim": any_video.pooled.shape[1], "text_dim": train.text.tokens.shape[-1],
                            "backbone": Lazy(lambda: load_backbone(cfg.backbone, cfg.pretrained))}
    if any_video.layers is not None:
        args.update(layer_width=any_video.layers.shape[-1], num_layers=any_video.layers.shape[1],
                    num_tokens=any_video.layers.shape[2])
    return args


def _score(moments: dict[str, list]):  # noqa: ANN202
    from i2vbench.metrics.tvg import tvg_metrics

    def score(method, split_name: str, split) -> tuple[dict[str, float], list[dict]]:  # noqa: ANN001
        preds = method.predict(split)
        rows = [{"qid": q.qid, "vid": q.vid, "query": q.query,
                 "pred_relevant_windows": _ranked(preds[q.qid])} for q in split.queries]
        # score exactly what is written to the predictions file, so `bench eval` agrees
        return tvg_metrics(moments[split_name], {r["qid"]: np.asarray(r["pred_relevant_windows"])
                                                 for r in rows}), rows

    return score


def sampling(cfg: TVGRunConfig):  # noqa: ANN201
    """How a TVG run samples and encodes videos: ``fps`` clips per second, tokens and frames kept."""
    from i2vbench.datasets.features import Sampling

    return Sampling(fps=cfg.fps)


@register_features("tvg")
def tvg_features(cfg: TVGRunConfig, progress: bool = True) -> list:
    """The videos a TVG run encodes (``bench extract --task tvg``)."""
    from i2vbench.datasets.shards import FeatureJob

    if cfg.features is not None:
        return []  # pre-extracted: nothing to encode
    _, paths, dataset = load_annotations(cfg, progress)
    return [FeatureJob(dataset, paths, sampling(cfg), cfg.resolved_data_seed)]


@register_runner("tvg", TVGRunConfig)
def run_tvg(cfg: TVGRunConfig, progress: bool = True) -> RunResult:
    from i2vbench.methods.backbones import load_backbone

    seed_everything(cfg.resolved_data_seed)  # a randomly initialised backbone is the data's, too
    # what loading the data warns about (clipped windows, clip counts off the rate, a random init)
    # is kept in the run record, and said again for the CLI to print
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        moments, paths, dataset = load_annotations(cfg, progress)
        # with pre-extracted features the ILFM is only needed by methods that train through it
        backbone = load_backbone(cfg.backbone, cfg.pretrained) if cfg.features is None else None
        t0 = time.perf_counter()
        splits = build_splits(cfg, backbone, moments, paths, progress)
        feature_s = time.perf_counter() - t0
    data_warnings = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning)))
    for message in data_warnings:
        warnings.warn(message, stacklevel=2)
    train = splits["train"]
    inputs = {"pooled", "text_tokens"}
    inputs |= {"layers"} if train.has_layers else set()
    inputs |= {"frames"} if train.has_frames else set()
    data = TaskData(
        dataset=dataset, train=train,
        eval_splits={s: splits[s] for s in ("test", "val") if s in splits},
        inputs=inputs, missing_why="which pre-extracted features do not have; run on videos instead",
        provided=constructor_args(cfg, train), score=_score(moments),
        stats={"feature_s": round(feature_s, 3), "n_videos": len(train.videos),
               **{f"n_{s}_queries": len(m) for s, m in moments.items()},
               **({"warnings": data_warnings} if data_warnings else {})},
    )
    # pre-extracted features name no encoder we could verify: say what the user says made them
    ilfm = backbone.backbone_id if backbone is not None else f"pre-extracted:{cfg.features_backbone}"
    return RunResult("tvg", ilfm, train_and_evaluate(cfg, [data], progress))


def _ranked(windows: np.ndarray) -> list[list[float]]:
    """Best first, rounded as written to disk (the metric ranks by list order)."""
    w = np.asarray(windows, dtype=float).reshape(-1, 3)
    w = w[np.argsort(-w[:, 2], kind="stable")]
    return [[round(float(x), 4) for x in row] for row in w]
