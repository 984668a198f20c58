"""What the runners on the MSR-VTT pool share (VTR, captioning): the run settings of the pool,
building the SynthVid pool, and its videos' frozen ILFM features.

Both tasks read the same videos at the same sampling, so a captioning run after a VTR run (or
the other way round) finds every video's features in the cache.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from i2vbench.benchmarks.runner import RunConfig

if TYPE_CHECKING:
    from i2vbench.datasets.features import VideoFeatures
    from i2vbench.datasets.synthvid.msrvtt import SynthVidMSRVTT
    from i2vbench.methods.backbones.base import ILFM


class MSRVTTRunConfig(RunConfig):
    """A run on the MSR-VTT pool: the shared fields plus where the videos are and how frames are sampled."""

    dataset: str = "synthvid"  # or msrvtt (with data_root)
    videos: Path | None = None  # default: <data_root>/videos
    fps: float = Field(2.0, gt=0)
    num_frames: int = Field(8, ge=1)
    synthvid: dict[str, Any] = Field(default_factory=dict)  # build_msrvtt options (n_train, n_val, n_test)


def build_pool(cfg: MSRVTTRunConfig, progress: bool) -> SynthVidMSRVTT:
    """The SynthVid MSR-VTT pool of the run (generated on first use, then cached)."""
    from i2vbench.datasets.synthvid.msrvtt import build_msrvtt

    return build_msrvtt(progress=progress, **{"seed": cfg.resolved_data_seed, **cfg.synthvid})


def sampling(cfg: MSRVTTRunConfig):  # noqa: ANN201
    """How a run on the pool samples and encodes videos (frames kept for methods that tune the ILFM)."""
    from i2vbench.datasets.features import Sampling

    return Sampling(fps=cfg.fps)


def pool_feature_jobs(cfg: MSRVTTRunConfig, paths: dict[str, Path], dataset: str) -> list:
    """The feature plan (``bench extract``) of a run on the pool, VTR's or captioning's: its
    videos at the pool's sampling, the same jobs :func:`pool_features` extracts through."""
    from i2vbench.datasets.shards import FeatureJob

    return [FeatureJob(dataset, paths, sampling(cfg), cfg.resolved_data_seed)]


def pool_features(cfg: MSRVTTRunConfig, paths: dict[str, Path], progress: bool
                  ) -> tuple[ILFM, dict[str, VideoFeatures], float]:
    """(the frozen backbone, every video's features (cached), seconds it took)."""
    from i2vbench.datasets.features import extract_video_features
    from i2vbench.methods.backbones import load_backbone

    backbone = load_backbone(cfg.backbone, cfg.pretrained)
    t0 = time.perf_counter()
    features = extract_video_features(backbone, backbone.backbone_id, paths, sampling(cfg),
                                      progress=progress, jobs=cfg.threads, init_seed=cfg.resolved_data_seed)
    return backbone, features, time.perf_counter() - t0
