"""mPLUG-2 (Xu et al., ICML 2023; survey [90]): partial tuning with a local temporal module.

mPLUG-2's video encoder shares the image encoder's spatial self-attention layers and adds, in
each layer, a local temporal modelling module for video inputs; the spatial layers are shared
with (and partly tuned from) the image model, the temporal modules are new.

The miniature tunes the last ``tuned_blocks`` blocks of the ILFM itself (partial tuning: the
earlier blocks stay frozen) and puts a local temporal module before each of them: a zero-initialised
bottleneck with a depthwise convolution along time over every token's track
(:class:`~i2vbench.methods.paradigms.adapter.TemporalAdapter`), so training starts from the image
model's features. The frozen prefix is computed once per video (its frames are fixed), so a
step pays only for the tuned blocks. The tuned blocks' tokens (class token + pooled grid, per
frame) go through ``enc_layers`` temporal layers to the shared decoder. It drops mPLUG-2's
pretraining on image/video-text corpora, its universal layers and the text encoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from i2vbench.methods.backbones.base import ILFM
from i2vbench.methods.captioning.base import (
    CaptionBatch,
    CaptioningMethod,
    DecoderConfig,
    TemporalEncoder,
    cached_block_inputs,
    frame_tokens,
    run_last_blocks,
)
from i2vbench.methods.captioning.decoder import Vocabulary
from i2vbench.methods.paradigms.adapter import TemporalAdapter, insert_adapters
from i2vbench.methods.paradigms.common import freeze
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig


@dataclass
class MPLUG2Config(DecoderConfig):
    tuned_blocks: int = 1
    bottleneck: int = 32
    enc_layers: int = 1
    grid: int = 2
    backbone_lr_scale: float = 0.3
    # CLIP4Caption's recipe (not tuned on val separately: the time ran out)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=8, lr=1e-3, batch_size=32))


@register_method("mplug2", task="captioning", paradigm="partial_tuning", display="mPLUG-2", survey_row="mPLUG-2",
                 ref=90, paper="mplug-2: A modularized multi-modal foundation model across text, image and video")
class MPLUG2(CaptioningMethod):
    """The ILFM's last blocks tuned, each after a new local temporal module; earlier blocks frozen."""

    config_class = MPLUG2Config
    needs = frozenset({"frames"})
    uses_frames = True

    def __init__(self, vocab: Vocabulary, backbone: ILFM, config: MPLUG2Config | None = None) -> None:
        c = config or MPLUG2Config()
        super().__init__(vocab, c)
        self.backbone = freeze(backbone)
        n = len(backbone.visual_blocks)
        self.first = n - c.tuned_blocks
        insert_adapters(backbone, lambda w: TemporalAdapter(w, c.bottleneck), layers=range(self.first, n), before=True)
        for blk in backbone.visual_blocks[self.first:]:
            for p in blk.parameters():
                p.requires_grad_(True)
        self.inp = nn.Sequential(nn.LayerNorm(backbone.width), nn.Linear(backbone.width, c.dim))
        self.encoder = TemporalEncoder(c.dim, c.enc_layers, c.heads, dropout=c.dropout)
        self._prefix: dict[str, torch.Tensor] = {}  # video → (F, N, W) input of the first tuned block

    def param_groups(self) -> list[dict]:
        """The tuned ILFM blocks at ``backbone_lr_scale`` of the lr; the new modules (the local
        temporal modules inside those blocks included) at the lr."""
        new = {id(p) for m in self.backbone.modules() if isinstance(m, TemporalAdapter) for p in m.parameters()}
        ilfm = [p for p in self.backbone.parameters() if id(p) not in new]
        own = {id(p) for p in ilfm}
        return [{"params": ilfm, "lr_scale": self.config.backbone_lr_scale},
                {"params": [p for p in self.parameters() if id(p) not in own]}]

    def encode(self, b: CaptionBatch) -> tuple[torch.Tensor, None]:
        x = run_last_blocks(self.backbone, self.first, cached_block_inputs(self.backbone, self.first, self._prefix, b))
        tokens = frame_tokens(x, self.config.grid)
        return self.encoder(self.inp(tokens.float())), None
