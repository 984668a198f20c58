"""Low-rank adaptation (survey III-B.5, LoRA; Hu et al., ICLR 2022) of a frozen ILFM's weights.

Every chosen weight matrix ``W`` (out × in) of the frozen model is re-parametrised as
``W + (alpha / r) · B A`` with ``A`` (r × in, random) and ``B`` (out × r, zeros): at
initialisation the model computes exactly what it did, training moves only ``A`` and ``B``,
and after training the product can be merged into ``W`` at no inference cost.

It is written with ``torch.nn.utils.parametrize`` on the weight *parameters*, not by replacing
``nn.Linear`` modules, so it reaches every 2-D projection whatever module holds it: tinyclip's
and Hugging Face's linear layers, and the packed ``in_proj_weight`` of the
``nn.MultiheadAttention`` open_clip's blocks use (which has no ``nn.Linear`` to swap).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.utils import parametrize

from i2vbench.methods.paradigms.common import freeze


class LoRADelta(nn.Module):
    """``W ↦ W + scale · B A``; ``B`` starts at zero, ``A`` as nn.Linear's default init."""

    def __init__(self, out_features: int, in_features: int, rank: int, alpha: float) -> None:
        super().__init__()
        self.A = nn.Parameter(torch.empty(rank, in_features))
        self.B = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.scale = alpha / rank

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight + self.scale * (self.B @ self.A).to(weight.dtype)


def insert_lora(blocks: Iterable[nn.Module], rank: int = 4, alpha: float = 8.0) -> list[LoRADelta]:
    """Freeze ``blocks`` and add a low-rank delta to every 2-D weight inside them (attention and
    MLP projections; norms and biases are 1-D and stay frozen). Returns the deltas added."""
    deltas = []
    for block in blocks:
        freeze(block)
        for module in list(block.modules()):
            for name, p in list(module.named_parameters(recurse=False)):
                if p.ndim == 2 and name.endswith("weight") and not parametrize.is_parametrized(module, name):
                    delta = LoRADelta(p.shape[0], p.shape[1], rank, alpha)
                    parametrize.register_parametrization(module, name, delta)
                    deltas.append(delta)
    return deltas
