"""Fine-tuning with adapters (survey III-B.4): temporal adapters inside a frozen ILFM's blocks.

A :class:`TemporalAdapter` is a zero-initialised bottleneck with a depthwise temporal
convolution (ST-Adapter style): at initialisation the adapted ILFM computes exactly the frozen
ILFM's features, and training teaches only the cross-frame mixing. :func:`insert_adapters`
wraps chosen entries of ``ILFM.visual_blocks`` so the adapter runs after each wrapped block
(or, with ``before=True``, before it).

Two named mechanisms differ from it in where and on what they act:

- :class:`STAdapter` (Pan et al., NeurIPS 2022) runs *before* a block, on the patch tokens only,
  as a depthwise 3D convolution over (time, grid rows, grid columns) between a linear down and
  up projection with no activation; its convolution is zero-initialised.
- :class:`AIMBlock` (Yang et al., ICLR 2023) re-wires a block from its parts
  (:meth:`~i2vbench.methods.backbones.base.ILFM.block_parts`): a temporal adapter that reuses the
  block's own frozen attention along the time axis, a spatial adapter after its attention, and a
  joint adapter beside its MLP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

from i2vbench.methods.backbones.base import ILFM, BlockParts
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
    """A frozen block followed (or, ``before``, preceded) by a trainable adapter; passes extra
    outputs of the block through."""

    def __init__(self, block: nn.Module, adapter: nn.Module, before: bool = False) -> None:
        super().__init__()
        self.block = block
        self.adapter = adapter
        self.before = before

    def forward(self, x: torch.Tensor, *args, **kwargs):  # noqa: ANN002, ANN003
        if self.before:
            return self.block(self.adapter(x), *args, **kwargs)
        out = self.block(x, *args, **kwargs)
        if isinstance(out, tuple):
            return (self.adapter(out[0]), *out[1:])
        return self.adapter(out)


def insert_adapters(
    backbone: ILFM,
    make_adapter: Callable[[int], nn.Module] | None = None,
    layers: Iterable[int] | None = None,
    before: bool = False,
) -> list[nn.Module]:
    """Freeze ``backbone`` and wrap its visual blocks (all, or ``layers``) with adapters, run
    after each block (``before``: before it).

    Returns the inserted adapters (the only trainable parameters of the backbone afterwards).
    """
    freeze(backbone)
    make_adapter = make_adapter or (lambda width: TemporalAdapter(width))
    blocks = backbone.visual_blocks
    chosen = range(len(blocks)) if layers is None else layers
    adapters = []
    for i in chosen:
        adapter = make_adapter(backbone.width)
        blocks[i] = AdaptedBlock(blocks[i], adapter, before)
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


class STAdapter(nn.Module):
    """ST-Adapter: ``x_patches += up(dwconv3d(down(x_patches)))`` over each clip's (T, g, g) grid.

    The class token(s) (``prefix``) pass unchanged. The depthwise 3D convolution (kernel
    ``(3, 1, 1)`` by default, ST-Adapter's ViT setting: temporal only, per patch position) is
    zero-initialised, so the adapted ILFM starts as the frozen one.
    """

    def __init__(self, width: int, bottleneck: int = 32, kernel: tuple[int, int, int] = (3, 1, 1),
                 prefix: int = 1) -> None:
        super().__init__()
        self.prefix = prefix
        self.down = nn.Linear(width, bottleneck)
        self.conv = nn.Conv3d(bottleneck, bottleneck, kernel, padding=tuple(k // 2 for k in kernel), groups=bottleneck)
        self.up = nn.Linear(bottleneck, width)
        for p in (self.conv.weight, self.conv.bias, self.down.bias, self.up.bias):
            nn.init.zeros_(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B*T, P + g², W) tokens of consecutive frames; T comes from the clip context."""
        t = FRAMES_PER_CLIP.value
        if t is None:
            raise RuntimeError("STAdapter needs num_frames_context(T) around the forward pass")
        bt, n, _ = x.shape
        g = round((n - self.prefix) ** 0.5)
        h = self.down(x[:, self.prefix:])
        c = h.shape[-1]
        h = h.view(bt // t, t, g, g, c).permute(0, 4, 1, 2, 3)  # (B, C, T, g, g)
        h = self.conv(h).permute(0, 2, 3, 4, 1).reshape(bt, g * g, c)
        return torch.cat([x[:, :self.prefix], x[:, self.prefix:] + self.up(h)], dim=1)


class Bottleneck(nn.Module):
    """AIM's adapter: ``down → GELU → up`` (plus the input when ``skip``); ``zero_init`` zeroes
    the up projection so the adapter adds nothing (without skip) or is the identity (with)."""

    def __init__(self, width: int, ratio: float = 0.25, skip: bool = True, zero_init: bool = True) -> None:
        super().__init__()
        self.skip = skip
        hidden = max(1, int(width * ratio))
        self.down = nn.Linear(width, hidden)
        self.up = nn.Linear(hidden, width)
        if zero_init:
            nn.init.zeros_(self.up.weight)
            nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.up(nn.functional.gelu(self.down(x)))
        return x + h if self.skip else h


class AIMBlock(AdaptedBlock):
    """A frozen block re-wired as AIM does, from its parts (ln1, attn, ln2, mlp)::

        x = x + T_adapter(attn(T_adapter_in(ln1(x))) along time)   # the block's attention, over T
        x = x + S_adapter(attn(ln1(x)))                            # over the frame's tokens
        x = x + mlp(ln2(x)) + scale * MLP_adapter(ln2(x))          # joint adaptation

    The temporal pass folds (B*T, N, W) into (B*N, T, W), so each token attends to the same
    token position in the other frames with the *frozen* spatial attention's weights. The
    adapters whose output is added (T, S's residual part, MLP) start at zero: the block starts as
    the frozen block.
    """

    def __init__(self, block: nn.Module, parts: BlockParts, width: int, ratio: float = 0.25,
                 scale: float = 0.5) -> None:
        adapters = nn.ModuleDict({
            "t_in": Bottleneck(width, ratio, skip=True, zero_init=False),
            "t": Bottleneck(width, ratio, skip=False),
            "s": Bottleneck(width, ratio, skip=True),
            "mlp": Bottleneck(width, ratio, skip=False),
        })
        super().__init__(block, adapters)
        self.parts = parts
        self.scale = scale

    def forward(self, x: torch.Tensor, *args, keep: int | None = None, **kwargs) -> torch.Tensor:  # noqa: ANN002, ANN003
        """``keep``: return only the first ``keep`` tokens' outputs (see :func:`first_token_outputs`)."""
        t = FRAMES_PER_CLIP.value
        if t is None:
            raise RuntimeError("AIMBlock needs num_frames_context(T) around the forward pass")
        p, a = self.parts, self.adapter
        bt, n, w = x.shape
        xt = x.view(bt // t, t, n, w).transpose(1, 2).reshape(-1, t, w)  # (B*N, T, W)
        xt = a["t"](p.attn(a["t_in"](p.ln1(xt))))
        x = x + xt.view(bt // t, n, t, w).transpose(1, 2).reshape(bt, n, w)
        x = x + a["s"](p.attn(p.ln1(x)))
        h = p.ln2(x)
        if keep is None:
            return x + p.mlp(h) + self.scale * a["mlp"](h)
        # the frozen MLP acts on each token alone: on the kept ones only (made contiguous: a strided
        # input takes another matmul kernel, whose bf16 sums round differently). Its adapter (1/16
        # of its multiply-adds) still runs on every token, so that its weight gradients sum over
        # the same rows in the same order as the whole block's: training is the whole block's to the bit
        return x[:, :keep] + p.mlp(h[:, :keep].contiguous()) + self.scale * a["mlp"](h)[:, :keep]


def first_token_outputs(parts: BlockParts, x: torch.Tensor, keep: int = 1) -> torch.Tensor:
    """The block of ``parts`` applied to ``x`` (B, N, W), its output kept at the first ``keep``
    tokens only: (B, keep, W). Every token enters the attention, but the MLP acts on each token
    alone, so when only the class token of a block's output is read (a classification head on
    the last block) the other tokens' MLP, two thirds of a ViT block's multiply-adds, is skipped.
    Each kept token's output is the one the whole block computes for it."""
    x = x + parts.attn(parts.ln1(x))
    x = x[:, :keep]
    return x + parts.mlp(parts.ln2(x))


def insert_aim_adapters(backbone: ILFM, layers: Iterable[int] | None = None, ratio: float = 0.25,
                        scale: float = 0.5) -> list[AIMBlock]:
    """Freeze ``backbone`` and re-wire its visual blocks (all, or ``layers``) as :class:`AIMBlock`."""
    freeze(backbone)
    blocks = backbone.visual_blocks
    chosen = range(len(blocks)) if layers is None else layers
    out = []
    for i in chosen:
        blocks[i] = AIMBlock(blocks[i], backbone.block_parts(i), backbone.width, ratio, scale)
        out.append(blocks[i])
    return out
