"""Moment-DETR (Lei et al., NeurIPS 2021; survey [47]): post-network tuning on frozen ILFM features.

TVG as set prediction: a transformer encoder over the concatenated (video clip, query word)
tokens, a decoder with learned moment queries predicting (centre, width) spans and a
foreground/background class, one-to-one Hungarian matching of predictions to GT windows, and
L1 + gIoU + classification losses (with auxiliary losses at every decoder layer), plus the
saliency hinge loss on encoder clip tokens (in-window clips should outscore out-of-window ones).
The transformer is DETR's (post-norm): clip positions (sine) and word positions (learned) are
added to queries and keys at every attention layer, the decoder's content starts at zero and its
learned moment queries are positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn
from torch.nn import functional as F

from i2vbench.distributed import global_count, rank_and_world
from i2vbench.methods.paradigms.common import temporal_differences
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig
from i2vbench.methods.tvg.base import TVGMethod
from i2vbench.methods.tvg.data import Batch
from i2vbench.methods.tvg.heads import saliency_hinge
from i2vbench.methods.tvg.spans import cw_to_se, iou_giou, se_to_cw


@dataclass
class MomentDETRConfig:
    hidden: int = 128
    heads: int = 4
    enc_layers: int = 2
    dec_layers: int = 2
    num_queries: int = 10
    dropout: float = 0.1
    w_l1: float = 10.0
    w_giou: float = 1.0
    w_cls: float = 4.0
    eos_coef: float = 0.1  # weight of the background class in the CE loss
    w_saliency: float = 1.0
    saliency_margin: float = 0.2
    # "tokens": the ILFM's last-layer patch grid and its temporal difference, when the features
    # carry it; "pooled": the pooled frame embeddings (as CLIP features are in the paper)
    clip_features: str = "tokens"
    # chosen on SynthVid's val split (seed 0, tinyclip v2 and its candidates): every variant stayed in
    # 15-20 val mIoU (lr 1e-3 / 2e-4 / 1e-4, 8 to 24 epochs, batch 16 / 32, token or pooled clip
    # features), so the shortest schedule keeps the shared CPU for the other methods; where the
    # query is lost: python -m i2vbench.experiments.moment_detr_decoder (docs/tasks/tvg.md).
    # 4 epochs, not 8 (the default run's budget): val mIoU over seeds 0-2 16.40 +- 0.07 at 4,
    # 15.51 +- 1.44 at 6, 16.82 +- 0.58 at 8 (overrides: {moment_detr: {epochs: N}}, --seeds 0,1,2)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=4, lr=1e-3, batch_size=16))


MAX_WORDS = 128  # longest query (in word tokens) the learned text positions cover (CLIP: 77)


def sine_positions(t: int, dim: int) -> torch.Tensor:
    pos = torch.arange(t, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(t, dim)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


class EncoderLayer(nn.Module):
    """DETR's encoder layer (post-norm): positions are added to queries and keys of every
    self-attention, never to the values, so position stays readable however deep the stack."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Dropout(dropout), nn.Linear(2 * d, d))
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        qk = x + pos
        x = self.norm1(x + self.drop1(self.attn(qk, qk, x, key_padding_mask=pad, need_weights=False)[0]))
        return self.norm2(x + self.drop2(self.ff(x)))


class DecoderLayer(nn.Module):
    """DETR's decoder layer: moment queries are positions (``query_pos``) added to the content
    at every attention; cross-attention keys are the memory plus its positions, so a query can
    ask *where* in the video, which is what its span head regresses."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Dropout(dropout), nn.Linear(2 * d, d))
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(3))
        self.drops = nn.ModuleList(nn.Dropout(dropout) for _ in range(3))

    def forward(self, x: torch.Tensor, query_pos: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor,
                pad: torch.Tensor) -> torch.Tensor:
        q = x + query_pos
        x = self.norms[0](x + self.drops[0](self.self_attn(q, q, x, need_weights=False)[0]))
        attn = self.cross_attn(x + query_pos, memory + pos, memory, key_padding_mask=pad, need_weights=False)[0]
        x = self.norms[1](x + self.drops[1](attn))
        return self.norms[2](x + self.drops[2](self.ff(x)))


def input_projection(d_in: int, d_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(d_in), nn.Dropout(dropout), nn.Linear(d_in, d_out), nn.ReLU(),
                         nn.LayerNorm(d_out), nn.Dropout(dropout), nn.Linear(d_out, d_out))


@register_method("moment_detr", task="tvg", paradigm="post_network_tuning", display="Moment-DETR",
                 survey_row="MomentDETR", ref=47,
                 paper="Detecting Moments and Highlights in Videos via Natural Language Queries")
class MomentDETR(TVGMethod):
    """DETR-style moment queries over frozen ILFM clip and word features, Hungarian-matched."""

    config_class = MomentDETRConfig
    needs = frozenset({"pooled", "text_tokens"})
    uses = frozenset({"layers"})

    def __init__(self, video_dim: int, text_dim: int, layer_width: int | None = None,
                 num_tokens: int | None = None, config: MomentDETRConfig | None = None) -> None:
        """Clip features: the ILFM's last-layer tokens plus their temporal difference when the
        features carry tokens (the role of CLIP + SlowFast features in the paper), else the
        pooled frame embeddings (as with released CLIP-only features)."""
        super().__init__()
        c = self.config = config or MomentDETRConfig()
        self.train_config = c.train
        h = c.hidden
        if c.clip_features not in ("tokens", "pooled"):
            raise ValueError(f"clip_features must be 'tokens' or 'pooled', got {c.clip_features!r}")
        self.from_tokens = c.clip_features == "tokens" and layer_width is not None and num_tokens is not None
        if not self.from_tokens:
            self.uses = frozenset()  # batches need not gather the per-layer tokens
        clip_dim = 2 * layer_width * num_tokens if self.from_tokens else video_dim
        self.video_proj = input_projection(clip_dim, h, c.dropout)
        self.text_proj = input_projection(text_dim, h, c.dropout)
        self.text_pos = nn.Embedding(MAX_WORDS, h)  # learned word positions, as in the paper
        self.encoder_layers = nn.ModuleList(EncoderLayer(h, c.heads, c.dropout) for _ in range(c.enc_layers))
        self.decoder_layers = nn.ModuleList(DecoderLayer(h, c.heads, c.dropout) for _ in range(c.dec_layers))
        self.decoder_norm = nn.LayerNorm(h)
        self.query_embed = nn.Embedding(c.num_queries, h)
        self.span_head = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 2))
        self.class_head = nn.Linear(h, 2)  # 0 = foreground moment, 1 = no moment
        self.saliency_head = nn.Linear(h, 1)

    def encode(self, b: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """The encoder over the concatenated (clip, word) tokens: memory (B, T + L, h), its
        positions (T + L, h), its padding mask (B, T + L) and the number of clips T."""
        if self.from_tokens:  # project each distinct video once, then hand it to its queries
            pad = torch.zeros(b.layers.shape[:2], dtype=torch.bool)
            pad[b.video_of] = b.video_pad
            v = self.video_proj(temporal_differences(b.layers[:, :, -1].flatten(2), pad, (1,)))[b.video_of]
        else:
            v = self.video_proj(b.video)
        t = self.text_proj(b.text)
        n_clips, n_words = v.shape[1], t.shape[1]
        pos = torch.cat([sine_positions(n_clips, v.shape[-1]), self.text_pos.weight[:n_words]])
        memory = torch.cat([v, t], dim=1)
        pad = torch.cat([b.video_pad, b.text_pad], dim=1)
        for layer in self.encoder_layers:
            memory = layer(memory, pos, pad)
        return memory, pos, pad, n_clips

    def forward(self, b: Batch) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """Per decoder layer span (B, Q, 2 centre/width) and class logits; clip saliency (B, T)."""
        memory, pos, pad, n_clips = self.encode(b)
        saliency = self.saliency_head(memory[:, :n_clips]).squeeze(-1)
        query_pos = self.query_embed.weight.unsqueeze(0).expand(len(memory), -1, -1)
        x = torch.zeros_like(query_pos)  # DETR: content starts empty, the query is its position
        spans, logits = [], []
        for layer in self.decoder_layers:
            x = layer(x, query_pos, memory, pos, pad)
            y = self.decoder_norm(x)
            spans.append(self.span_head(y).sigmoid())
            logits.append(self.class_head(y))
        return spans, logits, saliency

    def _set_loss(self, span: torch.Tensor, logit: torch.Tensor, gt: torch.Tensor,
                  gt_valid: torch.Tensor) -> torch.Tensor:
        """Hungarian-match the Q predicted spans of each item to its GT windows, then L1 + gIoU + CE.

        ``gt`` (B, G, 2) start/end windows padded to the batch's largest G, ``gt_valid`` (B, G).
        Costs and losses are computed for the whole batch at once; only the assignment itself
        (scipy's ``linear_sum_assignment``) runs per item.
        """
        c = self.config
        gt_cw = se_to_cw(gt)
        with torch.no_grad():
            cost_l1 = (span[:, :, None] - gt_cw[:, None]).abs().sum(-1)  # (B, Q, G)
            _, giou = iou_giou(cw_to_se(span)[:, :, None], gt[:, None])
            prob = logit.softmax(-1)[..., 0]
            cost = (c.w_l1 * cost_l1 - c.w_giou * giou - c.w_cls * prob[..., None]).numpy()
        items, queries, targets = [], [], []
        for i, n_gt in enumerate(gt_valid.sum(1).tolist()):
            rows, cols = linear_sum_assignment(cost[i, :, :n_gt])
            items += [i] * len(rows)
            queries += rows.tolist()
            targets += cols.tolist()
        bi, qi, ti = (torch.as_tensor(x, dtype=torch.long) for x in (items, queries, targets))
        matched = span[bi, qi]
        l1 = F.l1_loss(matched, gt_cw[bi, ti], reduction="sum")
        _, g = iou_giou(cw_to_se(matched), gt[bi, ti])
        target_cls = torch.ones(logit.shape[:2], dtype=torch.long)
        target_cls[bi, qi] = 0
        weight = torch.tensor([1.0, c.eos_coef])
        if rank_and_world()[1] > 1:  # under DDP: normalised by the global batch's counts (DETR's way)
            cls = (F.cross_entropy(logit.transpose(1, 2), target_cls, weight=weight, reduction="sum")
                   / global_count(float(weight[target_cls].sum())))
        else:
            cls = F.cross_entropy(logit.transpose(1, 2), target_cls, weight=weight)
        n = max(global_count(len(items)), 1)
        return c.w_l1 * l1 / n + c.w_giou * (1 - g).sum() / n + c.w_cls * cls

    def loss(self, b: Batch) -> dict[str, torch.Tensor]:
        spans, logits, saliency = self(b)
        gt = torch.nn.utils.rnn.pad_sequence(b.windows, batch_first=True)
        gt_valid = torch.nn.utils.rnn.pad_sequence([torch.ones(len(w), dtype=torch.bool) for w in b.windows],
                                                   batch_first=True)
        losses = {f"set_{i}": self._set_loss(s, lg, gt, gt_valid)
                  for i, (s, lg) in enumerate(zip(spans, logits, strict=True))}
        losses["saliency"] = self.config.w_saliency * saliency_hinge(saliency, b, self.config.saliency_margin)
        return losses

    def predict_batch(self, b: Batch) -> list[np.ndarray]:
        spans, logits, _ = self(b)
        se = cw_to_se(spans[-1]).clamp(0, 1) * b.duration[:, None, None]
        score = logits[-1].softmax(-1)[..., 0]
        out = []
        for i in range(len(se)):
            order = torch.argsort(score[i], descending=True, stable=True)
            out.append(torch.cat([se[i, order], score[i, order, None]], -1).numpy().astype(np.float64))
        return out
