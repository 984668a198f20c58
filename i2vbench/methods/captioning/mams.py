"""MAMS (Lee et al., AAAI 2025; survey [75]): side-tuning with module selection and adaptive attention masking.

MAMS leaves the foundation model as it is and adds, beside it, two caption-generation modules of
different sizes. From the visual tokens it computes a token significance score (the class
token's attention to the token times the token's norm) and from those a frame significance
score; these select, per video, the large module (all tokens) or the small one (a subset of
tokens from the most significant frames), and only the selected module trains on that video.
An adaptive attention mask raises attention on significant tokens.

The miniature keeps: the frozen ILFM read, not changed (its last ``K`` layers' cached tokens,
mixed by learned per-layer weights: the side network); token significance
``softmax_p(cls · x_p / √W) · ‖x_p‖`` from the frozen deepest layer, frame significance their sum;
module selection (the large module when the video's frame significance varies more, by its
coefficient of variation, than the training videos' median; the small one otherwise, fed only
its ``small_frames`` most significant frames, in time order, with their true positions);
per-video training of the selected module only; adaptive attention masking as a learned
multiple of log(significance) added to the attention logits toward each token. Both modules end
in the shared decoder. It drops the paper's host models (SwinBERT, UniVL, mPLUG-2) and its frame
count schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from i2vbench.datasets.features import pool_tokens
from i2vbench.methods.captioning.base import (
    BiasedBlock,
    CaptionBatch,
    CaptioningMethod,
    CaptionSplit,
    DecoderConfig,
    make_batch,
)
from i2vbench.methods.captioning.decoder import Vocabulary
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig


@dataclass
class MAMSConfig(DecoderConfig):
    grid: int = 2  # the cached patch grid pooled to grid × grid per frame (+ the class token)
    small_layers: int = 1
    large_layers: int = 2
    small_frames: int = 4
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=15, lr=1e-3, batch_size=32))


def token_significance(tokens: torch.Tensor) -> torch.Tensor:
    """(..., 1 + P, W) frozen tokens (class token first) → (..., 1 + P): the class token's attention
    to each patch token times its norm; the class token itself scores the largest patch score."""
    cls, patches = tokens[..., :1, :], tokens[..., 1:, :]
    att = ((patches @ cls.transpose(-1, -2))[..., 0] * tokens.shape[-1] ** -0.5).softmax(-1)
    sig = att * patches.norm(dim=-1)
    return torch.cat([sig.max(-1, keepdim=True).values, sig], -1)


def dynamics(frame_sig: torch.Tensor) -> torch.Tensor:
    """(B, F) frame significance → (B,) its coefficient of variation over the frames."""
    return frame_sig.std(-1) / frame_sig.mean(-1).clamp_min(1e-6)


@register_method("mams", task="captioning", paradigm="side_tuning", display="MAMS", survey_row="MAMS", ref=75,
                 paper="Mams: Model-agnostic module selection framework for video captioning")
class MAMS(CaptioningMethod):
    """A side network on the frozen ILFM's layers; a large or a small module per video, by frame significance."""

    config_class = MAMSConfig
    needs = frozenset({"layers"})
    uses_layers = True

    def __init__(self, vocab: Vocabulary, layer_width: int, layer_count: int, num_frames: int,
                 config: MAMSConfig | None = None) -> None:
        c = config or MAMSConfig()
        super().__init__(vocab, c)
        self.proj = nn.ModuleList(nn.Sequential(nn.LayerNorm(layer_width), nn.Linear(layer_width, c.dim))
                                  for _ in range(layer_count))  # the side network's reading of each layer
        self.layer_logits = nn.Parameter(torch.zeros(layer_count))
        self.per_frame = 1 + c.grid * c.grid
        self.pos = nn.Parameter(torch.randn(num_frames * self.per_frame, c.dim) * 0.02)
        self.generators = nn.ModuleDict({
            "small": nn.ModuleList(BiasedBlock(c.dim, c.heads, c.dropout) for _ in range(c.small_layers)),
            "large": nn.ModuleList(BiasedBlock(c.dim, c.heads, c.dropout) for _ in range(c.large_layers))})
        self.mask_scale = nn.Parameter(torch.zeros(2))  # adaptive masking strength, per module
        self.norm = nn.LayerNorm(c.dim)
        self.register_buffer("threshold", torch.tensor(0.0))

    def _significance(self, layers: torch.Tensor) -> torch.Tensor:
        """(B, F, K, N, W) → (B, F, 1 + grid²) token significance on the pooled grid."""
        b, f = layers.shape[:2]
        deepest = pool_tokens(layers[:, :, -1].flatten(0, 1).float(), self.config.grid)
        return token_significance(deepest).view(b, f, -1)

    def start_fit(self, train: CaptionSplit) -> None:
        """The selection threshold: the median dynamics of the training videos."""
        values = []
        for start in range(0, len(train), 256):
            b = make_batch(train, np.arange(start, min(start + 256, len(train))), False, True, False)
            values.append(dynamics(self._significance(b.layers)[..., 1:].sum(-1)))
        self.threshold.fill_(float(torch.cat(values).median()))

    def encode(self, b: CaptionBatch) -> tuple[torch.Tensor, torch.Tensor]:
        layers = b.layers  # (B, F, K, N, W)
        bsz, f, k = layers.shape[:3]
        weights = self.layer_logits.softmax(0)
        x = sum(weights[i] * self.proj[i](layers[:, :, i].float()) for i in range(k))  # (B, F, N, dim)
        x = pool_tokens(x.flatten(0, 1), self.config.grid).view(bsz, f * self.per_frame, -1)
        x = x + self.pos[: x.shape[1]]
        sig = self._significance(layers)  # (B, F, 1 + g²)
        large = dynamics(sig[..., 1:].sum(-1)) >= self.threshold
        log_sig = (sig / sig.amax(-1, keepdim=True).clamp_min(1e-6)).clamp_min(1e-4).log().flatten(1)
        memory = x.new_zeros(x.shape)
        pad = torch.ones(bsz, x.shape[1], dtype=torch.bool)
        keep_frames = min(self.config.small_frames, f)
        for which, rows in (("large", large.nonzero()[:, 0]), ("small", (~large).nonzero()[:, 0])):
            if not len(rows):
                continue
            tokens, bias = x[rows], log_sig[rows]
            if which == "small":  # the most significant frames, in time order
                frames = sig[rows, :, 1:].sum(-1).topk(keep_frames, dim=-1).indices.sort(-1).values
                idx = (frames[..., None] * self.per_frame + torch.arange(self.per_frame)).flatten(1)
                tokens, bias = tokens.gather(1, idx[..., None].expand(-1, -1, tokens.shape[-1])), bias.gather(1, idx)
            scale = self.mask_scale[0 if which == "large" else 1]
            key_bias = (scale * bias)[:, None, :]  # (b, 1, M): toward significant tokens, for every query
            for blk in self.generators[which]:
                tokens = blk(tokens, key_bias)
            memory[rows, : tokens.shape[1]] = tokens.to(memory.dtype)
            pad[rows, : tokens.shape[1]] = False
        return self.norm(memory), pad
