"""Prompt tuning (survey III-B.6): learnable tokens that a frozen ILFM's blocks read beside the input.

Deep prompts (VPT-deep): before each chosen block, ``P`` prompt tokens are appended to the
block's input; the block attends over input and prompts together, and the prompts' outputs are
dropped, so each prompted block gets fresh prompts and the token count never changes between
blocks. What the prompts *are* is the method's choice: a :class:`PromptedBlock` asks its
``prompts`` module for them given the block's input, so prompts may be plain parameters,
depend on a frame's position in its clip, or be generated from the whole video's context.

Text towers whose blocks take a key-padding bias as their second argument (tinyclip's
``(x, key_bias)`` with ``key_bias`` (B, 1, 1, L)) get it extended over the prompts, which are
never padding; towers with a causal mask cannot take appended prompts (the real tokens would
never see them) and are refused by the methods that need text prompts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from i2vbench.methods.paradigms.common import FRAMES_PER_CLIP, freeze


class PromptedBlock(nn.Module):
    """``block`` run on ``cat(x, prompts(x))``; the prompt positions of its output are dropped."""

    def __init__(self, block: nn.Module, prompts: nn.Module) -> None:
        super().__init__()
        self.block = block
        self.prompts = prompts

    def forward(self, x: torch.Tensor, *args, **kwargs):  # noqa: ANN002, ANN003
        p = self.prompts(x).to(x.dtype)
        n, k = x.shape[1], p.shape[1]
        if args and isinstance(args[0], torch.Tensor) and args[0].ndim == 4 and args[0].shape[-1] == n:
            args = (torch.cat([args[0], args[0].new_zeros(*args[0].shape[:-1], k)], -1), *args[1:])
        out = self.block(torch.cat([x, p], dim=1), *args, **kwargs)
        if isinstance(out, tuple):
            return (out[0][:, :n], *out[1:])
        return out[:, :n]


def insert_prompts(blocks: nn.ModuleList, make_prompts: Callable[[int], nn.Module],
                   layers: range | list[int] | None = None) -> list[nn.Module]:
    """Freeze ``blocks`` and prompt the chosen ones (default: all); ``make_prompts(i)`` builds the
    prompt module of block ``i``. Returns the prompt modules (the only trainable parameters)."""
    freeze(blocks)
    made = []
    for i in range(len(blocks)) if layers is None else layers:
        prompts = make_prompts(i)
        blocks[i] = PromptedBlock(blocks[i], prompts)
        made.append(prompts)
    return made


class StaticPrompts(nn.Module):
    """``n`` learned prompt tokens shared by every input (CoOp / VPT)."""

    def __init__(self, n: int, width: int) -> None:
        super().__init__()
        self.tokens = nn.Parameter(torch.randn(n, width) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokens.expand(len(x), -1, -1)


class FramePositionPrompts(nn.Module):
    """``n`` prompt tokens per frame position in the clip: frame t of every video reads the
    prompts of position t (VoP's frame-position prompts). Needs ``num_frames_context``."""

    def __init__(self, n: int, width: int, max_frames: int = 64) -> None:
        super().__init__()
        self.tokens = nn.Parameter(torch.randn(max_frames, n, width) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = FRAMES_PER_CLIP.value
        if t is None:
            raise RuntimeError("FramePositionPrompts need num_frames_context(T) around the forward pass")
        return self.tokens[:t].repeat(len(x) // t, 1, 1)


class _PromptContext:
    """Per-input tokens (e.g. a video's, for a text tower) that conditional prompts read, set
    around the forward pass by the method that has them, as the clip length is for frames."""

    value: torch.Tensor | None = None


PROMPT_CONTEXT = _PromptContext()


@contextlib.contextmanager
def prompt_context(tokens: torch.Tensor) -> Iterator[None]:
    """Make ``tokens`` (B, P, C), one row per input of the wrapped forward, the context of every
    :class:`ConditionalPrompts` inside it."""
    old, PROMPT_CONTEXT.value = PROMPT_CONTEXT.value, tokens
    try:
        yield
    finally:
        PROMPT_CONTEXT.value = old


class ConditionalPrompts(nn.Module):
    """Prompts made from another modality's tokens: the context (B, P, C) mapped by this block's
    own projection to the block's width, followed by ``n`` static learned tokens (ViTiS's
    multimodal prompts: visual tokens and learnable prompts into a frozen language model)."""

    def __init__(self, n: int, width: int, context_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(context_dim, width)
        self.tokens = nn.Parameter(torch.randn(n, width) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ctx = PROMPT_CONTEXT.value
        if ctx is None:
            raise RuntimeError("ConditionalPrompts need prompt_context(tokens) around the forward pass")
        return torch.cat([self.proj(ctx.to(self.proj.weight.dtype)), self.tokens.expand(len(x), -1, -1)], 1)
