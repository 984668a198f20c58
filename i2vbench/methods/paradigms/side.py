"""Side-tuning (survey III-A.3): a light network beside a frozen ILFM, fed its per-layer features.

:class:`ReversedRecurrentSide` is the R²-Tuning mechanism: for each of the ILFM's last ``K``
layers it pools the frame's tokens under the query's guidance (query-modulated spatial pooling),
then refines a temporal state from the deepest layer to the shallowest with one shared
(recurrent) temporal block. Gradients stay inside the side network; the ILFM is only read.
"""

from __future__ import annotations

import torch
from torch import nn


class QueryModulatedPooling(nn.Module):
    """Pool a frame's tokens with attention weights given by the query (plus a learned prior)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.scale = dim**-0.5

    def forward(self, tokens: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """``tokens`` (B, T, N, C), ``query`` (B, C) → (B, T, C)."""
        logits = torch.einsum("btnc,bc->btn", self.k(tokens), self.q(query)) * self.scale
        weights = logits.softmax(dim=-1)
        return torch.einsum("btn,btnc->btc", weights, tokens)


class TemporalBlock(nn.Module):
    """Pre-LN transformer block over time, with the query's word tokens as cross-attention memory."""

    def __init__(self, dim: int, heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.cross_attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm3 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor, x_pad: torch.Tensor, mem: torch.Tensor,
                mem_pad: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.self_attn(h, h, h, key_padding_mask=x_pad, need_weights=False)[0]
        h = self.norm2(x)
        x = x + self.cross_attn(h, mem, mem, key_padding_mask=mem_pad, need_weights=False)[0]
        return x + self.mlp(self.norm3(x))


class ReversedRecurrentSide(nn.Module):
    def __init__(self, width_in: int, text_width: int, dim: int, num_layers: int,
                 heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.visual_proj = nn.ModuleList(nn.Linear(width_in, dim) for _ in range(num_layers))
        self.text_proj = nn.Linear(text_width, dim)
        self.pool = QueryModulatedPooling(dim)
        self.gate = nn.Parameter(torch.zeros(num_layers))  # how much each layer's pooled feature enters
        self.block = TemporalBlock(dim, heads, dropout)  # shared across layers: the recurrence
        self.pos = nn.Parameter(torch.zeros(1, 512, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)

    def forward(self, layer_tokens: torch.Tensor, frame_pad: torch.Tensor,
                text_tokens: torch.Tensor, text_pad: torch.Tensor) -> torch.Tensor:
        """Run the side network.

        ``layer_tokens``: (B, T, K, N, W_in), the last K layers' tokens of every frame, shallow→deep;
        ``frame_pad``: (B, T) True at padding frames; ``text_tokens``: (B, L, W_text) with
        ``text_pad`` (B, L) True at padding. Returns the refined temporal features (B, T, dim).
        """
        mem = self.text_proj(text_tokens)
        keep = (~text_pad).unsqueeze(-1).float()
        query = (mem * keep).sum(1) / keep.sum(1).clamp_min(1.0)
        b, t = frame_pad.shape
        state = torch.zeros(b, t, mem.shape[-1], dtype=mem.dtype, device=mem.device)
        for k in reversed(range(self.num_layers)):  # deep → shallow, as in R²-Tuning
            pooled = self.pool(self.visual_proj[k](layer_tokens[:, :, k]), query)
            state = state + torch.tanh(self.gate[k]) * pooled if k < self.num_layers - 1 else pooled
            state = self.block(state + self.pos[:, :t], frame_pad, mem, text_pad)
        return state
