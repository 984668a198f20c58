"""SwinBERT (Lin et al., CVPR 2022; survey [77]): full fine-tuning with a learnable sparse attention mask.

SwinBERT trains its video encoder end to end with the captioner, on dense video tokens, and lets
the multimodal transformer learn which video tokens attend to which: a learnable mask
V ∈ R^{M×M} over the M video tokens (sigmoid, applied to the attention among them), pushed
towards sparsity by an L1 regulariser λ·mean(sigmoid(V)) added to the captioning loss.

The miniature keeps the end-to-end tuning (every ILFM parameter trains, at ``backbone_lr_scale``
of the lr, frames decoded each step) and the learnable sparse mask with its regulariser, on
``num_frames`` × (class token + a ``grid`` × ``grid`` pooled patch grid) video tokens with frame
and position embeddings. It drops Video Swin (the ILFM is an image model run per frame, which
is the survey's setting) and the single-stream BERT (words and video tokens in one sequence):
the video tokens go through ``enc_layers`` masked blocks, then to the shared decoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from i2vbench.methods.backbones.base import ILFM
from i2vbench.methods.captioning.base import (
    BiasedBlock,
    CaptionBatch,
    CaptioningMethod,
    DecoderConfig,
    frame_tokens,
)
from i2vbench.methods.captioning.decoder import Vocabulary
from i2vbench.methods.paradigms.common import encode_clips
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig


@dataclass
class SwinBERTConfig(DecoderConfig):
    enc_layers: int = 1
    grid: int = 2  # patch tokens pooled to grid × grid per frame (+ the class token)
    mask_init: float = 2.0  # sigmoid(2) = 0.88: the mask starts nearly dense
    sparsity_weight: float = 0.5  # λ of the L1 sparsity regulariser on sigmoid(mask)
    backbone_lr_scale: float = 0.1
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=8, lr=1e-3, batch_size=32))


@register_method("swinbert", task="captioning", paradigm="full_fine_tuning", display="SwinBERT",
                 survey_row="SwinBERT", ref=77,
                 paper="Swinbert: End-to-end transformers with sparse attention for video captioning")
class SwinBERT(CaptioningMethod):
    """The whole ILFM tuned on frames; video tokens attend through a learned sparse mask."""

    config_class = SwinBERTConfig
    needs = frozenset({"frames"})
    uses_frames = True

    def __init__(self, vocab: Vocabulary, backbone: ILFM, num_frames: int, config: SwinBERTConfig | None = None) -> None:
        c = config or SwinBERTConfig()
        super().__init__(vocab, c)
        self.backbone = backbone
        for p in backbone.parameters():
            p.requires_grad_(True)
        m = num_frames * (1 + c.grid * c.grid)
        self.inp = nn.Sequential(nn.LayerNorm(backbone.width), nn.Linear(backbone.width, c.dim))
        self.pos = nn.Parameter(torch.randn(m, c.dim) * 0.02)
        self.blocks = nn.ModuleList(BiasedBlock(c.dim, c.heads, c.dropout) for _ in range(c.enc_layers))
        self.mask = nn.Parameter(torch.full((m, m), c.mask_init))
        self.norm = nn.LayerNorm(c.dim)

    def encode(self, b: CaptionBatch) -> tuple[torch.Tensor, None]:
        tokens = frame_tokens(encode_clips(self.backbone, b.frames).tokens, self.config.grid)
        x = self.inp(tokens.float()) + self.pos[: tokens.shape[1]]
        n = x.shape[1]
        bias = nn.functional.logsigmoid(self.mask[:n, :n])  # log of the soft mask: attention × sigmoid(V)
        for blk in self.blocks:
            x = blk(x, bias)
        return self.norm(x), None

    def extra_losses(self, b: CaptionBatch, memory: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"sparsity": self.config.sparsity_weight * torch.sigmoid(self.mask).mean()}
