"""The embedded *extra video model*: a small factorised space-time network over 64×64 clips.

In the survey's "fine-tuning with extra models" rows a second pretrained network sits beside
the ILFM: SlowFast or VideoSwin features (CG-STVG, STVGFormer), a point tracker (CoTracker in
NetTrack). It is not part of the image-language model and, unlike it, has seen *video*: it
knows the direction of a motion, which no still shows. ``tinyvideo`` plays that part for the
embedded default. It is pretrained by the suite on SynthVid clips with per-frame event labels
(:mod:`.tinyvideo_pretrain`) and shipped in ``i2vbench/assets/tinyvideo``.

Architecture, R(2+1)D-style (Tran et al., CVPR 2018: a 3-D conv factorised into a spatial
k×k conv and a temporal k conv) over RGB and its temporal central difference (TSN's RGB-diff
input): a 4×4 patchify stem
(64² → 16²) and a temporal 3-tap conv on
its map (time is fused early, where a 1-3 px step between frames is still visible), two stages
of [spatial 3×3 stride-2 conv, temporal 3-tap conv] with GroupNorm and residual temporal
branches, a spatial mean pool per frame, then two residual temporal conv layers over the pooled
sequence (dilations 1 and 2).
Every temporal conv is "same"-padded and the network never pools over time before the end, so
feature ``t`` is aligned with frame ``t``; the clip feature is the mean over frames. GroupNorm
(not BatchNorm), so a clip's features never depend on the rest of its batch.

Use::

    from i2vbench.methods.backbones.tinyvideo import load_tinyvideo
    video = load_tinyvideo()                     # the shipped checkpoint, eval mode
    out = video.encode(frames)                   # uint8 (T, H, W, 3) or (B, T, H, W, 3)
    out.frames  # (T, D) or (B, T, D): time-aligned per-frame features
    out.clip    # (D,) or (B, D): the pooled clip feature
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from i2vbench.errors import BenchError
from i2vbench.paths import ASSETS

TINYVIDEO_DIR = ASSETS / "tinyvideo"


@dataclass
class TinyVideoConfig:
    """Everything needed to rebuild the network; saved as ``config.json`` beside the weights."""

    image_size: int = 64
    stem_patch: int = 4  # the stem is a patchify conv: 64×64 → 16×16
    widths: tuple[int, int, int] = (32, 64, 128)  # stem, then two stride-2 stages (16² → 8² → 4²)
    dim: int = 128  # feature width D
    temporal_layers: int = 2
    groups: int = 8  # GroupNorm groups
    n_motions: int = 9  # head sizes: MOTIONS, COLORS, SHAPES (the pretraining labels)
    n_colors: int = 8
    n_shapes: int = 8
    fps: float = 4.0  # the frame rate it was trained at (SynthVid's)
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> TinyVideoConfig:
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise BenchError(f"tinyvideo config: unknown keys {unknown}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


class VideoFeatures(NamedTuple):
    frames: torch.Tensor  # (..., T, D) time-aligned per-frame features
    clip: torch.Tensor  # (..., D) mean over frames


def central_difference(x: torch.Tensor) -> torch.Tensor:
    """(x[t+1] - x[t-1]) / 2 along dim 1 (one-sided at the ends): TSN's RGB-difference input,
    aligned with frame t. A moving object's leading edge and trailing edge get opposite signs,
    which is where its direction is visible."""
    if x.shape[1] < 2:
        return torch.zeros_like(x)
    nxt = torch.cat([x[:, 1:], x[:, -1:]], dim=1)
    prev = torch.cat([x[:, :1], x[:, :-1]], dim=1)
    return (nxt - prev) * torch.tensor([0.5 if i not in (0, x.shape[1] - 1) else 1.0 for i in range(x.shape[1])],
                                       dtype=x.dtype, device=x.device).view(1, -1, 1, 1, 1)


class TemporalConv(nn.Module):
    """Residual "same"-padded temporal conv over (B, T, C, H, W) maps (the (1)D of (2+1)D),
    pre-norm: ``x + conv_t(GELU(GroupNorm(x)))`` with the conv zero-initialised, so the block
    starts as the identity. (Norm *after* a zero-initialised conv normalises an all-zero map:
    its gradient is scaled by 1/sqrt(eps), which measured a 1,333 gradient norm at init and
    kept the network at chance.)"""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.conv = nn.Conv1d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = x.shape
        y = F.gelu(self.norm(x.flatten(0, 1))).reshape(b, t, c, h, w)
        y = y.permute(0, 3, 4, 2, 1).reshape(b * h * w, c, t)
        y = self.conv(y).reshape(b, h, w, c, t).permute(0, 4, 3, 1, 2)
        return x + y


class Stage(nn.Module):
    """Spatial 3×3 stride-2 conv per frame, then a temporal conv across frames."""

    def __init__(self, c_in: int, c_out: int, groups: int) -> None:
        super().__init__()
        self.spatial = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
        self.norm = nn.GroupNorm(groups, c_out)
        self.temporal = TemporalConv(c_out, groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        y = F.gelu(self.norm(self.spatial(x.flatten(0, 1))))
        return self.temporal(y.reshape(b, t, *y.shape[1:]))


class SequenceConv(nn.Module):
    """Residual temporal conv over pooled (B, T, D) features, with LayerNorm."""

    def __init__(self, dim: int, dilation: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.conv = nn.Conv1d(dim, dim, 3, padding=dilation, dilation=dilation)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(self.norm(x).transpose(1, 2)).transpose(1, 2)
        return x + self.proj(F.gelu(y))


class TinyVideo(nn.Module):
    """Per-frame (time-aligned) and clip features of a clip; heads for the pretraining labels."""

    def __init__(self, config: TinyVideoConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or TinyVideoConfig()
        w = cfg.widths
        p = cfg.stem_patch
        self.stem = nn.Sequential(nn.Conv2d(6, w[0], p, stride=p), nn.GroupNorm(cfg.groups, w[0]), nn.GELU())
        self.stem_temporal = TemporalConv(w[0], cfg.groups)
        self.stages = nn.ModuleList(Stage(a, b, cfg.groups) for a, b in zip(w[:-1], w[1:], strict=True))
        self.proj = nn.Linear(w[-1], cfg.dim)
        self.temporal = nn.ModuleList(SequenceConv(cfg.dim, 2 ** i) for i in range(cfg.temporal_layers))
        self.norm = nn.LayerNorm(cfg.dim)
        self.motion_head = nn.Linear(cfg.dim, cfg.n_motions)
        self.color_head = nn.Linear(cfg.dim, cfg.n_colors)
        self.shape_head = nn.Linear(cfg.dim, cfg.n_shapes)
        self.box_head = nn.Linear(cfg.dim, 2)  # the acting object's centre, in [0, 1]
        self.clip_head = nn.Linear(cfg.dim, cfg.n_motions)
        self.register_buffer("mean", torch.tensor(cfg.mean).view(1, 1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.std).view(1, 1, 3, 1, 1), persistent=False)

    @property
    def dim(self) -> int:
        return self.config.dim

    def preprocess(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 RGB ``(T, H, W, 3)`` or ``(B, T, H, W, 3)`` → normalised ``(B, T, 3, S, S)`` float,
        resized to the trained ``image_size`` if needed."""
        x = torch.as_tensor(np.ascontiguousarray(frames) if isinstance(frames, np.ndarray) else frames)
        if x.ndim == 4:
            x = x[None]
        if x.ndim != 5 or x.shape[-1] != 3:
            raise BenchError(f"tinyvideo: expected uint8 frames (T, H, W, 3) or (B, T, H, W, 3), got {tuple(x.shape)}")
        x = x.to(self.mean.device).permute(0, 1, 4, 2, 3).float() / 255.0
        s = self.config.image_size
        if x.shape[-2:] != (s, s):
            b, t = x.shape[:2]
            x = F.interpolate(x.flatten(0, 1), size=(s, s), mode="bilinear", antialias=True,
                              align_corners=False).reshape(b, t, 3, s, s)
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> VideoFeatures:
        """``x``: preprocessed ``(B, T, 3, S, S)``."""
        b, t = x.shape[:2]
        y = self.stem(torch.cat([x, central_difference(x)], dim=2).flatten(0, 1))
        y = self.stem_temporal(y.reshape(b, t, *y.shape[1:]))
        for stage in self.stages:
            y = stage(y)
        f = self.proj(y.mean(dim=(-2, -1)))
        for layer in self.temporal:
            f = layer(f)
        f = self.norm(f)
        return VideoFeatures(f, f.mean(1))

    def heads(self, feats: VideoFeatures) -> dict[str, torch.Tensor]:
        """Pretraining heads: per-frame motion / actor colour / actor shape logits and actor
        centre, and the clip's motion logits."""
        f = feats.frames
        return {"motion": self.motion_head(f), "color": self.color_head(f), "shape": self.shape_head(f),
                "center": torch.sigmoid(self.box_head(f)), "clip": self.clip_head(feats.clip)}

    @torch.no_grad()
    def encode(self, frames: np.ndarray | torch.Tensor, batch: int = 16) -> VideoFeatures:
        """Features of uint8 frames ``(T, H, W, 3)`` (→ ``(T, D)``, ``(D,)``) or
        ``(B, T, H, W, 3)`` (→ ``(B, T, D)``, ``(B, D)``); float32 on the model's device."""
        single = (frames.ndim == 4)
        x = self.preprocess(frames)
        outs = [self(x[i:i + batch]) for i in range(0, len(x), batch)]
        out = VideoFeatures(torch.cat([o.frames for o in outs]).float(), torch.cat([o.clip for o in outs]).float())
        return VideoFeatures(out.frames[0], out.clip[0]) if single else out


def save_tinyvideo(model: TinyVideo, out_dir: str | Path, metrics: dict | None = None) -> Path:
    """The embedded models' checkpoint format (:mod:`.checkpoint`), fp32 (~1.3 MB)."""
    from i2vbench.methods.backbones.checkpoint import save_checkpoint

    return save_checkpoint(model, out_dir, metrics)


def load_tinyvideo(path: str | Path | None = None, device: str = "cpu") -> TinyVideo:
    """Load a checkpoint directory (default: the shipped one), in eval mode.

    The model carries ``.model_id`` (``tinyvideo-<sha256 prefix of the weights>``) for cache keys.
    """
    from i2vbench.methods.backbones import file_sha256
    from i2vbench.methods.backbones.checkpoint import WEIGHTS_FILE, load_checkpoint

    d = Path(path) if path is not None else TINYVIDEO_DIR
    model = load_checkpoint(d, "tinyvideo", lambda c: TinyVideo(TinyVideoConfig.from_dict(c)), device,
                            hint="`bench pretrain --backbone tinyvideo --out DIR` writes a checkpoint")
    model.model_id = f"tinyvideo-{file_sha256(d / WEIGHTS_FILE if d.is_dir() else d)[:12]}"
    return model
