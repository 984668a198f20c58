"""One interface for image-language foundation models (ILFMs).

Paradigms only talk to this interface: frozen-feature methods read ``pooled``/``tokens``/
``hidden_states``; adapted-feature methods wrap or replace entries of :attr:`ILFM.visual_blocks`
(a ``ModuleList`` of the vision transformer's residual blocks, each mapping ``(B, N, W)`` tokens
to ``(B, N, W)`` tokens, batch first) and train through :meth:`ILFM.encode_frames`. Methods that
re-wire a block's inside (AIM reuses a block's own attention along time, and puts adapters between
its attention and MLP) take the block apart with :meth:`ILFM.block_parts`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from i2vbench.errors import BenchError


@dataclass
class VisualOutput:
    pooled: torch.Tensor  # (B, D) projected into the joint image-text space (not normalised)
    tokens: torch.Tensor  # (B, P + N, W) last block's output, P = num_prefix_tokens class tokens first
    hidden_states: list[torch.Tensor] | None = None  # per block output, each (B, P + N, W)


@dataclass
class TextOutput:
    pooled: torch.Tensor  # (B, D) projected into the joint space (not normalised)
    tokens: torch.Tensor  # (B, L, W_text) word tokens of the last layer
    mask: torch.Tensor  # (B, L) bool, True at real (non-padding) tokens
    # (B, L, W_text) the input word embeddings (the token table, before positions and blocks):
    # words rare in the ILFM's captions keep their identity here even where the last layer
    # barely tells them apart (tinyclip: "moves left" vs "moves right")
    embeddings: torch.Tensor | None = None


@dataclass(frozen=True)
class BlockParts:
    """The parts of one pre-LN residual block, as callables over ``(B, N, W)`` tokens, such that
    the block computes ``y = x + attn(ln1(x))`` then ``y + mlp(ln2(y))``.

    ``attn`` is the block's own self-attention over the N tokens it is given, output projection
    (and layer scale, where the model has one) included; ``mlp`` likewise. They are views of the
    (frozen) block's modules, not copies: calling them runs the block's weights.
    """

    ln1: Callable[[torch.Tensor], torch.Tensor]
    attn: Callable[[torch.Tensor], torch.Tensor]
    ln2: Callable[[torch.Tensor], torch.Tensor]
    mlp: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The block recomposed from its parts (equal to the block's own forward)."""
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


def unwrap_block(block: nn.Module, cls: type | tuple[type, ...]) -> nn.Module:
    """The model's own block of class ``cls`` under paradigm wrappers that keep it as ``.block``
    (e.g. an adapter inserted after it), so its parts stay reachable after wrapping."""
    while not isinstance(block, cls) and isinstance(getattr(block, "block", None), nn.Module):
        block = block.block
    return block


class ILFM(nn.Module, ABC):
    """An image-language model seen as frame and text encoders with reachable blocks."""

    embed_dim: int  # D, the joint-space width
    width: int  # W, the vision transformer's token width
    image_size: int  # side of the square input the vision tower expects
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    num_prefix_tokens: int = 1  # class tokens before the patch tokens (0 for SigLIP)
    spec: str = ""  # set by load_backbone
    backbone_id: str = ""  # spec + weights hash, set by load_backbone (feature caches key on it)

    @property
    @abstractmethod
    def visual_blocks(self) -> nn.ModuleList:
        """The vision tower's residual blocks, in order; paradigms may wrap or replace entries."""

    @property
    def text_blocks(self) -> nn.ModuleList:
        """The text tower's residual blocks, in order (paradigms that adapt the text side, e.g.
        MV-Adapter's text adapters or LoRA in both towers, wrap or re-parametrise them)."""
        raise BenchError(f"{type(self).__name__} ({self.spec or 'this backbone'}) does not expose its text blocks")

    def block_parts(self, i: int) -> BlockParts:
        """The parts of visual block ``i`` (see :class:`BlockParts`); implementations whose
        blocks are not pre-LN attention + MLP blocks refuse."""
        raise BenchError(f"{type(self).__name__} ({self.spec or 'this backbone'}) does not expose the parts "
                         "of its blocks (needed by methods that re-wire a block, e.g. AIM)")

    @abstractmethod
    def encode_frames(self, frames: torch.Tensor, output_hidden_states: bool = False) -> VisualOutput:
        """Encode preprocessed frames ``(B, 3, S, S)`` float (see :meth:`preprocess`)."""

    @abstractmethod
    def encode_text(self, texts: list[str]) -> TextOutput:
        """Tokenise and encode sentences."""

    def preprocess(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, 3)`` uint8 RGB → ``(B, 3, S, S)`` float on the model's device, resized and
        normalised for this model (frames move as uint8, the cheapest transfer)."""
        x = frames.to(next(self.parameters()).device).permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = nn.functional.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                                          antialias=True, align_corners=False)
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def freeze(self) -> ILFM:
        """Stop gradients to every parameter of the ILFM (frozen-feature paradigms)."""
        for p in self.parameters():
            p.requires_grad_(False)
        return self
