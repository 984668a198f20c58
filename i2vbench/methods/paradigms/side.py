"""Side-tuning (survey III-A.3): a light network beside a frozen ILFM, fed its per-layer features.

:class:`ReversedRecurrentSide` is the R²-Tuning mechanism: for each of the ILFM's last ``K``
layers it pools the frame's tokens under the query's guidance (query-modulated spatial pooling),
then refines a temporal state from the deepest layer to the shallowest with one shared
(recurrent) temporal block. Gradients stay inside the side network; the ILFM is only read.
"""

from __future__ import annotations

import torch
from torch import nn

from i2vbench.methods.paradigms.common import temporal_differences


class QueryModulatedPooling(nn.Module):
    """Pool each frame's patch tokens with attention weights given by the query.

    Returns the pooled feature *and* where the query looked: the attention map over the patch
    grid and its peak logit. The map tracks the queried object from frame to frame, so its
    temporal differences say which way that object moves, grows or fades; the pooled feature
    alone (a weighted mean) keeps what the object is but little of where it is.
    """

    def __init__(self, width_in: int, dim: int) -> None:
        super().__init__()
        self.key = nn.Linear(width_in, dim)
        self.value = nn.Linear(width_in, dim)
        self.query = nn.Linear(dim, dim)
        self.scale = dim**-0.5

    def forward(self, tokens: torch.Tensor, query: torch.Tensor, video_of: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``tokens`` (V, T, N, W) per video, ``query`` (B, C), ``video_of`` (B,) video of each
        query (default: V == B, one video per query) → pooled (B, T, C), map (B, T, N), peak (B, T, 1).

        The key and value projections are linear, so they are moved off the N tokens: the query
        is taken back through the key projection (``key(x)·q = x·(W_kᵀq) + b_k·q``) and the raw
        tokens are pooled before the value projection (the weights sum to one). Same result as
        projecting every token, with N times fewer multiply-adds in the projections.
        """
        if video_of is not None:
            tokens = tokens[video_of]
        q = self.query(query)  # (B, C)
        bias = (q @ self.key.bias)[:, None, None]  # (B, 1, 1)
        logits = (torch.einsum("btnw,bw->btn", tokens, q @ self.key.weight) + bias) * self.scale
        weights = logits.softmax(dim=-1)
        pooled = self.value(torch.einsum("btn,btnw->btw", weights, tokens))
        return pooled, weights, logits.max(dim=-1, keepdim=True).values


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
    def __init__(self, width_in: int, text_width: int, dim: int, num_layers: int, num_patches: int,
                 heads: int = 4, dropout: float = 0.1, spans: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.spans = spans
        self.text_proj = nn.Linear(text_width, dim)
        self.pool = nn.ModuleList(QueryModulatedPooling(width_in, dim) for _ in range(num_layers))
        per_frame = dim + num_patches + 1  # pooled feature, attention map, peak logit
        self.fuse = nn.ModuleList(
            nn.Sequential(nn.Linear(per_frame * (1 + len(spans)), dim), nn.GELU(), nn.Linear(dim, dim))
            for _ in range(num_layers))
        self.gate = nn.Parameter(torch.zeros(num_layers))  # how much each layer's pooled feature enters
        self.block = TemporalBlock(dim, heads, dropout)  # shared across layers: the recurrence
        self.pos = nn.Parameter(torch.zeros(1, 512, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)

    def forward(self, layer_tokens: torch.Tensor, frame_pad: torch.Tensor, text_tokens: torch.Tensor,
                text_pad: torch.Tensor, video_of: torch.Tensor | None = None) -> torch.Tensor:
        """Run the side network.

        ``layer_tokens``: (V, T, K, N, W_in), the last K layers' patch tokens of every frame of
        each video, shallow→deep; ``video_of`` (B,) maps the B queries to their video (default:
        V == B); ``frame_pad``: (B, T) True at padding frames; ``text_tokens``: (B, L, W_text)
        with ``text_pad`` (B, L) True at padding. Returns the refined temporal features (B, T, dim).
        """
        mem = self.text_proj(text_tokens)
        keep = (~text_pad).unsqueeze(-1).float()
        query = (mem * keep).sum(1) / keep.sum(1).clamp_min(1.0)
        t = frame_pad.shape[1]
        state = None
        for k in reversed(range(self.num_layers)):  # deep → shallow, as in R²-Tuning
            pooled, where, peak = self.pool[k](layer_tokens[:, :, k], query, video_of)
            x = self.fuse[k](temporal_differences(torch.cat([pooled, where, peak], -1), frame_pad, self.spans))
            state = x if state is None else state + torch.tanh(self.gate[k]) * x
            state = self.block(state + self.pos[:, :t], frame_pad, mem, text_pad)
        return state
