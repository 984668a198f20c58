"""MV-Adapter (Jin et al., CVPR 2024; survey [121]): adapters in both towers of a frozen ILFM,
tied across modalities.

- **Video side**: a temporal adapter after every vision block (bottleneck + depthwise
  convolution along the clip's frames, zero-initialised: the reused
  :class:`~i2vbench.methods.paradigms.adapter.TemporalAdapter`), so frame tokens mix with their
  neighbours in time, the paper's temporal adaptation;
- **Text side**: a bottleneck adapter after every text block;
- **Cross-modality tying**: every adapter of both towers applies one *shared* bottleneck
  factor (a C × C map, with a residual) between its own down- and up-projection, so the two
  towers adapt through a common subspace, as the paper's shared weight factor ties them.

Only adapters are trained; a video is the mean of its frame embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from i2vbench.methods.backbones.base import ILFM
from i2vbench.methods.paradigms.adapter import AdaptedBlock, TemporalAdapter, insert_adapters
from i2vbench.methods.paradigms.common import freeze
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig
from i2vbench.methods.vtr.base import (
    VTRBatch,
    VTRConfig,
    VTRMethod,
    frame_embeddings,
    text_embeddings,
)


class SharedFactor(nn.Module):
    """``h ↦ h + S h`` with ``S`` the one matrix every adapter of both towers holds."""

    def __init__(self, shared: nn.Linear) -> None:
        super().__init__()
        self.shared = shared

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.shared(h)


class TextAdapter(nn.Module):
    """Bottleneck adapter with the shared factor: ``x + up(shared(gelu(down(x))))``, zero-init ``up``."""

    def __init__(self, width: int, bottleneck: int, shared: nn.Linear) -> None:
        super().__init__()
        self.down = nn.Linear(width, bottleneck)
        self.tie = SharedFactor(shared)
        self.up = nn.Linear(bottleneck, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.tie(F.gelu(self.down(x))))


@dataclass
class MVAdapterConfig(VTRConfig):
    bottleneck: int = 32
    kernel_size: int = 3
    # on SynthVid's val split (seed 0, 8 epochs): lr 4e-3 vs 2e-3 gave val R@1 42.7 vs 42.7, R@5 82.0 vs 74.7
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=8, lr=4e-3, batch_size=32))


@register_method("mv_adapter", task="vtr", paradigm="adapter", display="MV-Adapter", survey_row="MV-Adapter",
                 ref=121, paper="MV-Adapter: Multimodal Video Transfer Learning for Video Text Retrieval")
class MVAdapter(VTRMethod):
    """Frozen ILFM; temporal adapters in the vision tower, adapters in the text tower, one shared factor."""

    config_class = MVAdapterConfig
    needs = frozenset({"frames"})
    uses_frames = True

    def __init__(self, backbone: ILFM, config: MVAdapterConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or MVAdapterConfig()
        self.train_config = c.train
        self.backbone = freeze(backbone)
        self.shared = nn.Linear(c.bottleneck, c.bottleneck, bias=False)
        nn.init.zeros_(self.shared.weight)

        def video_adapter(width: int) -> nn.Module:
            adapter = TemporalAdapter(width, c.bottleneck, c.kernel_size)
            adapter.up = nn.Sequential(SharedFactor(self.shared), adapter.up)  # tie inside the bottleneck
            return adapter

        insert_adapters(backbone, video_adapter)
        blocks = backbone.text_blocks
        for i, block in enumerate(blocks):
            width = next(p for p in block.parameters()).shape[-1]
            blocks[i] = AdaptedBlock(block, TextAdapter(width, c.bottleneck, self.shared))
        self.init_temperature(backbone)

    def embed_videos(self, b: VTRBatch) -> torch.Tensor:
        return frame_embeddings(self.backbone, b.frames).mean(1)

    def embed_texts(self, b: VTRBatch) -> torch.Tensor:
        return text_embeddings(self.backbone, b.texts)
