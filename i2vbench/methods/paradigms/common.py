"""Pieces every paradigm uses: freezing, parameter counts, and the clip length seen by blocks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


def freeze(module: nn.Module) -> nn.Module:
    """Stop gradients to every parameter of ``module`` and keep it in eval mode semantics."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts: what the run table reports per method."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return trainable, total


class _FramesPerClip:
    """How many consecutive frames of a batch form one video clip.

    Image blocks see a batch of frames ``(B*T, N, W)``; temporal modules inserted into them
    need ``T`` to fold the batch back into clips. It is set around the forward pass by the
    method that knows it, instead of threading it through every block's signature.
    """

    value: int | None = None


FRAMES_PER_CLIP = _FramesPerClip()


@contextlib.contextmanager
def num_frames_context(t: int) -> Iterator[None]:
    old, FRAMES_PER_CLIP.value = FRAMES_PER_CLIP.value, t
    try:
        yield
    finally:
        FRAMES_PER_CLIP.value = old
