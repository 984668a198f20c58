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


# --- EVL: a side decoder over the frozen ILFM's last layers (Lin et al., ECCV 2022) ------------

class TemporalCrossAttention(nn.Module):
    """EVL's cross-frame attention feature: for each patch of frame t, the attention map between
    its query and the keys of frame t-1 (and t+1), turned into a feature through weights indexed
    by the *relative offset* between query and key patch. Where a patch's content came from is
    motion, so this is a motion feature read off attention maps. Zero-initialised, as in EVL.

    EVL takes q and k from the frozen ViT's own attention; the feature cache keeps each block's
    output tokens, not its q/k, so here q and k are learned projections of those frozen tokens.
    """

    def __init__(self, dim: int, grid: int, heads: int = 4) -> None:
        super().__init__()
        self.heads, self.grid = heads, grid
        self.qk = nn.Linear(dim, 2 * dim)
        n_offsets = (2 * grid - 1) ** 2
        self.w_prev = nn.Parameter(torch.zeros(n_offsets, dim))
        self.w_next = nn.Parameter(torch.zeros(n_offsets, dim))
        ij = torch.stack(torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij"), -1).reshape(-1, 2)
        rel = ij[:, None, :] - ij[None, :, :] + grid - 1  # (P, P, 2) offsets query - key, shifted to >= 0
        self.register_buffer("offset_index", rel[..., 0] * (2 * grid - 1) + rel[..., 1], persistent=False)

    def _half(self, q: torch.Tensor, k: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """q, k (B, T', H, P, d) → (B, T', P, C): attention maps (softmax over the other frame's
        patches, averaged over heads) mixed by the weights of each query-key offset."""
        b, t, _, p, _ = q.shape
        att = (q * q.shape[-1] ** -0.5 @ k.transpose(-1, -2)).softmax(dim=-1).mean(2)  # (B, T', P, P)
        # per query patch: its attention row times the weights of its offsets to every key patch
        out = torch.bmm(att.reshape(b * t, p, p).transpose(0, 1), w[self.offset_index])  # (P, B*T', C)
        return out.transpose(0, 1).reshape(b, t, p, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, T, 1 + P, C) tokens (class token first) → (B, T, 1 + P, C) motion features
        (zero at the class token, and at the first/last frame for the missing neighbour)."""
        b, t, n, c = x.shape
        qk = self.qk(x[:, :, 1:]).view(b, t, n - 1, 2, self.heads, c // self.heads).permute(3, 0, 1, 4, 2, 5)
        q, k = qk[0], qk[1]  # (B, T, H, P, d)
        zero = x.new_zeros(b, 1, n - 1, c)
        if t == 1:
            return x.new_zeros(b, t, n, c)
        prev = torch.cat([zero, self._half(q[:, 1:], k[:, :-1], self.w_prev)], dim=1)  # frame t vs t-1
        nxt = torch.cat([self._half(q[:, :-1], k[:, 1:], self.w_next), zero], dim=1)  # frame t vs t+1
        return torch.cat([x.new_zeros(b, t, 1, c), prev + nxt], dim=2)


class DecoderLayer(nn.Module):
    """Pre-LN transformer decoder layer: the query tokens cross-attend to a memory, then an MLP."""

    def __init__(self, dim: int, heads: int = 4, mlp_ratio: float = 4.0, dropout: float = 0.5) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_mem = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))

    def forward(self, q: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        m = self.norm_mem(mem)
        q = q + self.attn(self.norm_q(q), m, m, need_weights=False)[0]
        return q + self.mlp(self.norm_mlp(q))


class EVLDecoder(nn.Module):
    """EVL's side network: one learnable video token refined by one decoder layer per frozen ILFM
    layer (shallow → deep), each attending to all T × N tokens of that layer after EVL's local
    temporal modules have added to them: a depthwise temporal convolution, a temporal position
    embedding and the cross-frame attention feature (:class:`TemporalCrossAttention`). Gradients
    stay in the side network; the ILFM is only read (its cached tokens)."""

    def __init__(self, width_in: int, dim: int, num_layers: int, num_frames: int, grid: int, heads: int = 4,
                 mlp_ratio: float = 4.0, dropout: float = 0.5, temporal_conv: bool = True,
                 temporal_pos: bool = True, cross_frame: bool = True) -> None:
        super().__init__()
        self.num_layers = num_layers
        self.inp = nn.ModuleList(nn.Sequential(nn.LayerNorm(width_in), nn.Linear(width_in, dim))
                                 for _ in range(num_layers))
        self.conv = nn.ModuleList(nn.Conv1d(dim, dim, 3, padding=1, groups=dim) for _ in range(num_layers)) \
            if temporal_conv else None
        self.pos = nn.ParameterList(nn.Parameter(torch.zeros(num_frames, dim)) for _ in range(num_layers)) \
            if temporal_pos else None
        self.cross = nn.ModuleList(TemporalCrossAttention(dim, grid, heads) for _ in range(num_layers)) \
            if cross_frame else None
        self.layers = nn.ModuleList(DecoderLayer(dim, heads, mlp_ratio, dropout) for _ in range(num_layers))
        self.query = nn.Parameter(torch.randn(dim) * 0.02)

    def forward(self, layer_tokens: torch.Tensor) -> torch.Tensor:
        """``layer_tokens`` (B, T, K, N, W): the last K layers' tokens, shallow → deep → (B, dim)."""
        b, t, _, n, _ = layer_tokens.shape
        q = self.query.expand(b, 1, -1)
        for i in range(self.num_layers):
            x = self.inp[i](layer_tokens[:, :, i])  # (B, T, N, C)
            c = x.shape[-1]
            feat = x
            if self.conv is not None:
                feat = feat + self.conv[i](x.permute(0, 2, 3, 1).reshape(b * n, c, t)).view(b, n, c, t).permute(0, 3, 1, 2)
            if self.pos is not None:
                feat = feat + self.pos[i][:t].view(1, t, 1, c)
            if self.cross is not None:
                feat = feat + self.cross[i](x)
            q = self.layers[i](q, feat.flatten(1, 2))
        return q[:, 0]


# --- DiST: a temporal branch beside the frozen spatial encoder (Qing et al., ICCV 2023) -------

class _TemporalNet(nn.Module):
    """DiST's temporal encoder stage: LN, a (k,1,1) temporal conv, GELU, a (1,3,3) spatial conv, residual."""

    def __init__(self, dim: int, kernel: int = 3, mlp_ratio: float = 1.0) -> None:
        super().__init__()
        hidden = max(1, int(dim * mlp_ratio))
        self.ln = nn.LayerNorm(dim)
        self.net = nn.Sequential(nn.Conv3d(dim, hidden, (kernel, 1, 1), padding=(kernel // 2, 0, 0)), nn.GELU(),
                                 nn.Conv3d(hidden, dim, (1, 3, 3), padding=(0, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, g, g)
        return nn.functional.gelu(x + self.net(self.ln(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)))


class _Integration(nn.Module):
    """DiST's integration block: a token MLP plus a temporal MLP ((k,1,1) conv over each token's track)."""

    def __init__(self, dim: int, kernel: int = 3, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.ln, self.ln_t = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.temporal = nn.Sequential(nn.Conv1d(dim, hidden, 1), nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2),
                                      nn.GELU(), nn.Conv1d(hidden, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, N, C)
        b, t, n, c = x.shape
        xt = self.ln_t(x).permute(0, 2, 3, 1).reshape(b * n, c, t)
        xt = self.temporal(xt).view(b, n, c, t).permute(0, 3, 1, 2)
        return self.ffn(self.ln(x)) + xt


class _CrossAttention(nn.Module):
    """A query cross-attends to a memory, then an MLP (DiST's ada-pooling transformer)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.ln_q, self.ln_kv, self.ln_out = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, q: torch.Tensor, mem: torch.Tensor) -> torch.Tensor:
        m = self.ln_kv(mem)
        q = q + self.attn(self.ln_q(q), m, m, need_weights=False)[0]
        return q + self.mlp(self.ln_out(q))


class DiSTSide(nn.Module):
    """DiST's side network: a light *temporal encoder* over the raw frames (a 3D-conv stem onto
    the same patch grid, then one temporal stage per selected ILFM layer) runs beside the frozen
    *spatial encoder* (the ILFM, read at every ``alpha``-th frame); at each selected layer an
    *integration branch* takes the ILFM's tokens, exchanges features with the temporal encoder in
    both directions (integration → temporal: projected patch tokens, upsampled in time;
    temporal → integration: a (alpha,1,1)-strided conv) and refines them with its integration
    block. Its output is pooled by DiST's spatial-then-temporal attention pooling and joined
    with the ILFM's own (frame-averaged) class token. Only the side network trains."""

    def __init__(self, width_in: int, num_layers: int, num_frames: int, grid: int, image_size: int,
                 dim: int = 128, temporal_dim: int = 32, alpha: int = 2, kernel: int = 3, heads: int = 4) -> None:
        super().__init__()
        if num_frames % alpha:
            raise ValueError(f"num_frames {num_frames} must be a multiple of alpha {alpha}")
        self.alpha, self.grid = alpha, grid
        patch = image_size // grid
        self.stem = nn.Conv3d(3, temporal_dim, (kernel, patch, patch), stride=(1, patch, patch),
                              padding=(kernel // 2, 0, 0))
        self.inp = nn.ModuleList(nn.Sequential(nn.LayerNorm(width_in), nn.Linear(width_in, dim))
                                 for _ in range(num_layers))
        self.temporal = nn.ModuleList(_TemporalNet(temporal_dim, kernel) for _ in range(num_layers))
        self.to_temporal = nn.ModuleList(nn.Linear(dim, temporal_dim) for _ in range(num_layers))
        self.to_integration = nn.ModuleList(nn.Conv3d(temporal_dim, dim, (alpha, 1, 1), stride=(alpha, 1, 1))
                                            for _ in range(num_layers))
        self.integration = nn.ModuleList(_Integration(dim, kernel) for _ in range(num_layers))
        self.t_cls = nn.Parameter(torch.randn(num_layers, dim) * 0.02)  # class slot of temporal → integration
        self.spatial_pool = _CrossAttention(dim, heads)
        self.temporal_pool = _CrossAttention(dim, heads)
        self.spatial_query = nn.Parameter(torch.randn(dim) * 0.02)
        self.video_query = nn.Parameter(torch.randn(dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(num_frames // alpha, dim) * 0.02)
        self.cls_proj = nn.Linear(width_in, dim)
        self.ln_post = nn.LayerNorm(dim)

    def forward(self, frames: torch.Tensor, layer_tokens: torch.Tensor) -> torch.Tensor:
        """``frames`` (B, T, H, W, 3) uint8 (dense), ``layer_tokens`` (B, T, K, 1 + g², W) the frozen
        ILFM's tokens of the same frames (read at every ``alpha``-th) → (B, dim) video feature."""
        b, t = frames.shape[:2]
        g, a = self.grid, self.alpha
        # (B, 3, T, H, W), normalised in place: one float copy of the clip's pixels, not four
        x = frames.permute(0, 4, 1, 2, 3).to(torch.float32, copy=True).div_(255.0).sub_(0.5).div_(0.25)
        x_t = self.stem(x)  # (B, Ct, T, g, g)
        sparse = layer_tokens[:, ::a]  # the spatial encoder's frames
        ts = sparse.shape[1]
        res = 0.0
        for i in range(len(self.inp)):
            x_t = self.temporal[i](x_t)
            mid = self.inp[i](sparse[:, :, i]) + res  # (B, T', N, C)
            c = mid.shape[-1]
            up = self.to_temporal[i](mid[:, :, 1:]).view(b, ts, g, g, -1).permute(0, 4, 1, 2, 3)
            up = up.repeat_interleave(a, dim=2)  # nearest upsampling in time to the dense frames
            down = self.to_integration[i](x_t).flatten(3).permute(0, 2, 3, 1)  # (B, T', g², C)
            down = torch.cat([self.t_cls[i].expand(b, ts, 1, c), down], dim=2)
            x_t, mid = x_t + up, mid + down
            res = self.integration[i](mid)
        feat = res + mid  # (B, T', N, C)
        q = self.spatial_pool(self.spatial_query.expand(b * ts, 1, -1), feat.flatten(0, 1)).view(b, ts, c)
        v = self.temporal_pool(self.video_query.expand(b, 1, -1), q + self.pos[:ts])[:, 0]
        return self.ln_post(v + self.cls_proj(layer_tokens[:, :, -1, 0]).mean(1))
