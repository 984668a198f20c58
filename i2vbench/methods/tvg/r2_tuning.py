"""R²-Tuning (Liu et al., ECCV 2024; survey [67]): side-tuning over the frozen ILFM's last layers.

A reversed recurrent side network (:class:`~i2vbench.methods.paradigms.side.ReversedRecurrentSide`)
pools each of the last K layers' patch tokens under the query's guidance (keeping where the query
looked and how that moves over time) and refines one temporal state from the deepest layer to
the shallowest; the state, joined with the ILFM's pooled frame embeddings, feeds the dense
boundary head. The ILFM is never updated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from i2vbench.methods.paradigms.side import ReversedRecurrentSide
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig
from i2vbench.methods.tvg.data import Batch
from i2vbench.methods.tvg.heads import BoundaryHead, DenseGroundingMethod


@dataclass
class R2TuningConfig:
    layers: int = 3  # the last K of the ILFM layers the features keep
    hidden: int = 128
    heads: int = 4
    dropout: float = 0.1
    w_saliency: float = 1.0
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=12, lr=1e-3, batch_size=16))


@register_method("r2_tuning", task="tvg", paradigm="side_tuning", display="R²-Tuning",
                 survey_row="R²-Tuning", ref=67,
                 paper="R²-Tuning: Efficient Image-to-Video Transfer Learning for Video Temporal Grounding")
class R2Tuning(DenseGroundingMethod):
    """Reversed recurrent side network over multi-layer frozen ILFM tokens, query-modulated pooling."""

    config_class = R2TuningConfig
    needs = frozenset({"pooled", "layers", "text_tokens"})

    def __init__(self, video_dim: int, text_dim: int, layer_width: int, num_layers: int, num_tokens: int,
                 config: R2TuningConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or R2TuningConfig()
        self.train_config = c.train
        self.w_saliency = c.w_saliency
        self.num_layers = min(c.layers, num_layers)
        self.side = ReversedRecurrentSide(layer_width, text_dim, c.hidden, self.num_layers, num_tokens - 1,
                                          c.heads, c.dropout)
        self.pooled_proj = nn.Linear(video_dim, c.hidden)
        self.head = BoundaryHead(c.hidden)
        self.saliency = nn.Linear(c.hidden, 1)

    def forward(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        patches = b.layers[:, :, -self.num_layers:, 1:]  # the class token is in the pooled embedding
        x = self.side(patches, b.video_pad, b.text, b.text_pad, b.video_of) + self.pooled_proj(b.video)
        fg, dist = self.head(x)
        return fg, dist, self.saliency(x).squeeze(-1)
