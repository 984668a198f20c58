"""The two baselines every VAR table needs: what the ILFM knows without training, and what one
linear layer reads from its frames when their order is thrown away."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from i2vbench.methods.backbones.base import ILFM
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig, TrainingFree
from i2vbench.methods.var.base import VARBatch, VARMethod


@dataclass
class ZeroShotConfig:
    # "a {}" reads as the tiny ILFM's captions do ("a red circle ..."); real CLIPs use their own
    # prompt ensembles, set it with overrides (e.g. "a video of a person {}.")
    template: str = "a {}"


@register_method("zero_shot", task="var", paradigm=None, display="Zero-shot ILFM")
class ZeroShot(TrainingFree, VARMethod):
    """Training-free baseline: cosine of the mean of the clip's frame embeddings with each class
    name's text embedding (the ILFM's own zero-shot classifier, frames averaged)."""

    config_class = ZeroShotConfig
    needs = frozenset({"pooled"})

    def __init__(self, backbone: ILFM, classes: list[str], config: ZeroShotConfig | None = None) -> None:
        super().__init__()
        self.config = config or ZeroShotConfig()
        prompts = [self.config.template.format(c.replace("[", "").replace("]", "").lower()) for c in classes]
        with torch.no_grad():
            text = backbone.encode_text(prompts).pooled.float()
        self.register_buffer("text", nn.functional.normalize(text, dim=-1))
        self.ilfm_params = sum(p.numel() for p in backbone.parameters())

    def parameter_counts(self) -> tuple[int, int]:
        return 0, self.ilfm_params

    def forward(self, b: VARBatch) -> torch.Tensor:
        video = nn.functional.normalize(nn.functional.normalize(b.pooled, dim=-1).mean(1), dim=-1)
        return 100.0 * video @ self.text.t()


@dataclass
class LinearProbeConfig:
    dropout: float = 0.0
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=40, lr=3e-3, batch_size=32,
                                                                   weight_decay=1e-4, grad_clip=1.0))


@register_method("linear_probe", task="var", paradigm=None, display="Linear probe (mean pool)")
class LinearProbe(VARMethod):
    """Baseline: one linear layer on the mean over frames of the frozen ILFM's frame embeddings
    (standardised); it sees what is in the frames, never their order."""

    config_class = LinearProbeConfig
    needs = frozenset({"pooled"})

    def __init__(self, video_dim: int, num_classes: int, config: LinearProbeConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or LinearProbeConfig()
        self.train_config = c.train
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(video_dim, num_classes)

    def forward(self, b: VARBatch) -> torch.Tensor:
        return self.head(self.drop(b.pooled.mean(1)))


__all__ = ["LinearProbe", "ZeroShot"]
