"""Fine-tuning with adapters (survey III-B.4): temporal adapters inside a frozen ILFM's blocks.

A :class:`TemporalAdapter` is a zero-initialised bottleneck with a depthwise temporal
convolution (ST-Adapter style): at initialisation the adapted ILFM computes exactly the frozen
ILFM's features, and training teaches only the cross-frame mixing. :func:`insert_adapters`
wraps chosen entries of ``ILFM.visual_blocks`` so the adapter runs after each wrapped block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

from i2vbench.methods.backbones.base import ILFM
from i2vbench.methods.paradigms.common import FRAMES_PER_CLIP, freeze


class TemporalAdapter(nn.Module):
    def __init__(self, width: int, bottleneck: int = 32, kernel_size: int = 3) -> None:
        super().__init__()
        self.down = nn.Linear(width, bottleneck)
        self.conv = nn.Conv1d(bottleneck, bottleneck, kernel_size, padding=kernel_size // 2,
                              groups=bottleneck)
        self.up = nn.Linear(bottleneck, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B*T, N, W) tokens of consecutive frames; T comes from the clip context."""
        t = FRAMES_PER_CLIP.value
        if t is None:
            raise RuntimeError("TemporalAdapter needs num_frames_context(T) around the forward pass")
        bt, n, _ = x.shape
        h = self.down(x)  # (B*T, N, C)
        c = h.shape[-1]
        h = h.view(bt // t, t, n, c).permute(0, 2, 3, 1).reshape(-1, c, t)  # (B*N, C, T)
        h = self.conv(h)
        h = h.view(bt // t, n, c, t).permute(0, 3, 1, 2).reshape(bt, n, c)
        return x + self.up(torch.nn.functional.gelu(h))


class AdaptedBlock(nn.Module):
    """A frozen block followed by a trainable adapter; passes extra outputs of the block through."""

    def __init__(self, block: nn.Module, adapter: nn.Module) -> None:
        super().__init__()
        self.block = block
        self.adapter = adapter

    def forward(self, x: torch.Tensor, *args, **kwargs):  # noqa: ANN002, ANN003
        out = self.block(x, *args, **kwargs)
        if isinstance(out, tuple):
            return (self.adapter(out[0]), *out[1:])
        return self.adapter(out)


def insert_adapters(
    backbone: ILFM,
    make_adapter: Callable[[int], nn.Module] | None = None,
    layers: Iterable[int] | None = None,
) -> list[nn.Module]:
    """Freeze ``backbone`` and wrap its visual blocks (all, or ``layers``) with adapters.

    Returns the inserted adapters (the only trainable parameters of the backbone afterwards).
    """
    freeze(backbone)
    make_adapter = make_adapter or (lambda width: TemporalAdapter(width))
    blocks = backbone.visual_blocks
    chosen = range(len(blocks)) if layers is None else layers
    adapters = []
    for i in chosen:
        adapter = make_adapter(backbone.width)
        blocks[i] = AdaptedBlock(blocks[i], adapter)
        adapters.append(adapter)
    return adapters


@contextlib.contextmanager
def without_adapters(backbone: ILFM) -> Iterator[ILFM]:
    """``backbone`` as it was before :func:`insert_adapters` while inside (wrappers restored after)."""
    blocks = backbone.visual_blocks
    wrapped = {i: b for i, b in enumerate(blocks) if isinstance(b, AdaptedBlock)}
    for i, b in wrapped.items():
        blocks[i] = b.block
    try:
        yield backbone
    finally:
        for i, b in wrapped.items():
            blocks[i] = b
