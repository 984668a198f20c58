"""Pieces every paradigm uses: freezing, parameter counts, the clip length seen by blocks, motion
channels, and :func:`encode_clips` (a batch of videos' frames through an ILFM, clip by clip)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from i2vbench.methods.backbones.base import ILFM, VisualOutput


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


def temporal_differences(x: torch.Tensor, pad: torch.Tensor | None = None,
                         spans: tuple[int, ...] = (1, 2, 4)) -> torch.Tensor:
    """``x`` (B, T, ...) joined with its central differences ``x[t+s] - x[t-s]`` for each span s.

    Frame-level ILFM features describe appearance; these channels play the role the motion
    stream (e.g. SlowFast) plays beside CLIP features in the original methods. Several spans
    because SynthVid's motions (like real ones) range from fast to slow: at 2 clips/s an object
    crossing a third of the frame in 6 s barely changes a token between neighbouring clips.
    Each video's first and last clips are replicated past its ends (``pad``: (B, T) True at
    padding clips), so padding never leaks into a difference.
    """
    b, t = x.shape[:2]
    last = torch.full((b, 1), t - 1) if pad is None else ((~pad).sum(1, keepdim=True) - 1).clamp(min=0)
    steps = torch.arange(t).expand(b, t)
    rows = torch.arange(b)[:, None]
    diffs = [x[rows, torch.minimum(steps + s, last)] - x[rows, (steps - s).clamp(min=0)] for s in spans]
    return torch.cat([x, *diffs], dim=-1)


def encode_clips(backbone: ILFM, frames: torch.Tensor | np.ndarray, output_hidden_states: bool = False
                 ) -> VisualOutput:
    """Encode ``frames`` (B, T, H, W, 3) uint8 — B videos of T frames each — with ``backbone``.

    The frames go through the ILFM as one batch of B*T images inside ``num_frames_context(T)``,
    so temporal modules inserted into its blocks (adapters, AIM's attention along time) fold the
    batch back into clips. Returns a :class:`VisualOutput` whose tensors carry the clip axes:
    ``pooled`` (B, T, D), ``tokens`` (B, T, N, W), each of ``hidden_states`` (B, T, N, W).
    Gradients flow (wrap in ``torch.no_grad()`` for frozen features); autocast is the caller's.
    """
    from i2vbench.methods.backbones.base import VisualOutput

    x = torch.as_tensor(frames)
    if x.ndim != 5 or x.shape[-1] != 3:
        raise ValueError(f"encode_clips expects (B, T, H, W, 3) frames, got {tuple(x.shape)}")
    b, t = x.shape[:2]
    with num_frames_context(t):
        out = backbone.encode_frames(backbone.preprocess(x.flatten(0, 1)), output_hidden_states=output_hidden_states)

    def clips(y: torch.Tensor) -> torch.Tensor:
        return y.view(b, t, *y.shape[1:])

    hidden = None if out.hidden_states is None else [clips(h) for h in out.hidden_states]
    return VisualOutput(pooled=clips(out.pooled), tokens=clips(out.tokens), hidden_states=hidden)


class _Reached(Exception):
    """Raised by the hook of :func:`block_inputs` to stop the forward pass where it has what it needs."""


def block_inputs(backbone: ILFM, frames: torch.Tensor, i: int) -> torch.Tensor:
    """What visual block ``i`` receives for preprocessed ``frames`` (B, 3, S, S): the frozen
    prefix of an ILFM whose blocks from ``i`` on are adapted, computed without gradients and
    without running the blocks after it. Methods that train adapters only in the last blocks
    compute this once per frame instead of at every step."""
    seen: list[torch.Tensor] = []

    def hook(_module: nn.Module, args: tuple) -> None:
        seen.append(args[0])
        raise _Reached

    handle = backbone.visual_blocks[i].register_forward_pre_hook(hook)
    try:
        with torch.no_grad():
            backbone.encode_frames(frames)
    except _Reached:
        pass
    finally:
        handle.remove()
    return seen[0]


class PatchGridMotion(nn.Module):
    """One state per frame from the frozen ILFM's patch grid: what is where, and where it goes.

    Each cell's token is projected to a narrow width and the cells are kept in place (the
    flattened grid says where each thing is), joined with its central differences over
    ``spans`` frames (:func:`temporal_differences`: where the things go), and an MLP maps that
    to the frame's state. The pooled frame embedding averages position away: on the SynthVid
    NExT-QA videos a supervised frame probe reads the motion under way (8 motions, direction
    included) at 27.9 % from the class token and its difference, at 73.3 % from the 4×4 grid and
    its difference (docs/tasks/videoqa.md). Narrow cells because the grid is
    g² × W wide and the training sets are a few hundred videos.
    """

    def __init__(self, width: int, cells: int, out: int, cell_dim: int = 8, dropout: float = 0.1,
                 spans: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        self.spans = spans
        self.cell = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, cell_dim))
        self.mlp = nn.Sequential(nn.Dropout(dropout), nn.Linear((1 + len(spans)) * cells * cell_dim, out), nn.GELU(),
                                 nn.Linear(out, out))

    def forward(self, grid: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        """``grid`` (B, T, N, W) patch tokens of each frame → (B, T, out)."""
        return self.mlp(temporal_differences(self.cell(grid).flatten(2), pad, self.spans))
