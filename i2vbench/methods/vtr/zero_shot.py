"""The training-free baseline: the frozen ILFM as an image model, frames mean-pooled."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainingFree
from i2vbench.methods.vtr.base import VTRBatch, VTRMethod


@dataclass
class ZeroShotConfig:
    pass


@register_method("zero_shot", task="vtr", paradigm=None, display="Zero-shot ILFM (mean pooling)")
class ZeroShot(TrainingFree, VTRMethod):
    """Cosine similarity of the caption's pooled embedding and the mean of the frames' embeddings."""

    config_class = ZeroShotConfig
    needs = frozenset({"pooled", "text_tokens"})

    def __init__(self, config: ZeroShotConfig | None = None) -> None:
        super().__init__()
        self.config = config or ZeroShotConfig()

    def embed_videos(self, b: VTRBatch) -> torch.Tensor:
        return b.pooled.mean(1)

    def embed_texts(self, b: VTRBatch) -> torch.Tensor:
        return b.text_pooled
