"""Moment-DETR (Lei et al., NeurIPS 2021; survey [47]): post-network tuning on frozen ILFM features.

TVG as set prediction: a transformer encoder over the concatenated (video clip, query word)
tokens, a decoder with learned moment queries predicting (centre, width) spans and a
foreground/background class, one-to-one Hungarian matching of predictions to GT windows, and
L1 + gIoU + classification losses (with auxiliary losses at every decoder layer), plus the
saliency hinge loss on encoder clip tokens (in-window clips should outscore out-of-window ones).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn
from torch.nn import functional as F

from i2vbench.methods.registry import register_method
from i2vbench.methods.tvg.base import TrainConfig, TVGMethod
from i2vbench.methods.tvg.data import Batch, l2norm
from i2vbench.methods.tvg.heads import saliency_hinge
from i2vbench.methods.tvg.spans import cw_to_se, pairwise_iou_giou


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
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=40, lr=1e-3, batch_size=32))


def sine_positions(t: int, dim: int) -> torch.Tensor:
    pos = torch.arange(t, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(t, dim)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


def input_projection(d_in: int, d_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(d_in), nn.Dropout(dropout), nn.Linear(d_in, d_out), nn.ReLU(),
                         nn.LayerNorm(d_out), nn.Dropout(dropout), nn.Linear(d_out, d_out))


@register_method("moment_detr", task="tvg", paradigm="post_network_tuning", display="Moment-DETR",
                 survey_row="MomentDETR", ref=47,
                 paper="Detecting Moments and Highlights in Videos via Natural Language Queries")
class MomentDETR(TVGMethod):
    """DETR-style moment queries over frozen ILFM clip and word features, Hungarian-matched."""

    def __init__(self, video_dim: int, text_dim: int, config: MomentDETRConfig | None = None,
                 **_: object) -> None:
        super().__init__()
        c = self.config = config or MomentDETRConfig()
        self.train_config = c.train
        h = c.hidden
        self.video_proj = input_projection(video_dim, h, c.dropout)
        self.text_proj = input_projection(text_dim, h, c.dropout)
        self.type_embed = nn.Embedding(2, h)
        layer = {"d_model": h, "nhead": c.heads, "dim_feedforward": 2 * h, "dropout": c.dropout,
                 "batch_first": True, "norm_first": True}
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer), c.enc_layers,
                                             norm=nn.LayerNorm(h), enable_nested_tensor=False)
        self.decoder_layers = nn.ModuleList(nn.TransformerDecoderLayer(**layer) for _ in range(c.dec_layers))
        self.decoder_norm = nn.LayerNorm(h)
        self.query_embed = nn.Embedding(c.num_queries, h)
        self.span_head = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 2))
        self.class_head = nn.Linear(h, 2)  # 0 = foreground moment, 1 = no moment
        self.saliency_head = nn.Linear(h, 1)

    def forward(self, b: Batch) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """Per decoder layer span (B, Q, 2 centre/width) and class logits; clip saliency (B, T)."""
        v = self.video_proj(l2norm(b.video))
        t = self.text_proj(b.text)
        n_clips = v.shape[1]
        v = v + sine_positions(n_clips, v.shape[-1]) + self.type_embed.weight[0]
        t = t + self.type_embed.weight[1]
        src = torch.cat([v, t], dim=1)
        pad = torch.cat([b.video_pad, b.text_pad], dim=1)
        memory = self.encoder(src, src_key_padding_mask=pad)
        saliency = self.saliency_head(memory[:, :n_clips]).squeeze(-1)
        x = self.query_embed.weight.unsqueeze(0).expand(v.shape[0], -1, -1)
        spans, logits = [], []
        for layer in self.decoder_layers:
            x = layer(x, memory, memory_key_padding_mask=pad)
            y = self.decoder_norm(x)
            spans.append(self.span_head(y).sigmoid())
            logits.append(self.class_head(y))
        return spans, logits, saliency

    @torch.no_grad()
    def _match(self, span: torch.Tensor, logit: torch.Tensor, windows: list[torch.Tensor]) -> list[tuple]:
        c = self.config
        prob = logit.softmax(-1)[..., 0]
        matches = []
        for i, gt in enumerate(windows):
            pred_se = cw_to_se(span[i])
            cost_l1 = torch.cdist(span[i], torch.stack([(gt[:, 0] + gt[:, 1]) / 2, gt[:, 1] - gt[:, 0]], -1), p=1)
            _, giou = pairwise_iou_giou(pred_se, gt)
            cost = c.w_l1 * cost_l1 - c.w_giou * giou - c.w_cls * prob[i][:, None]
            rows, cols = linear_sum_assignment(cost.numpy())
            matches.append((torch.as_tensor(rows), torch.as_tensor(cols)))
        return matches

    def _set_loss(self, span: torch.Tensor, logit: torch.Tensor, b: Batch) -> torch.Tensor:
        c = self.config
        matches = self._match(span.detach(), logit.detach(), b.windows)
        target_cls = torch.ones(logit.shape[:2], dtype=torch.long)
        l1, giou, n = span.new_zeros(()), span.new_zeros(()), 0
        for i, (rows, cols) in enumerate(matches):
            gt = b.windows[i][cols]
            gt_cw = torch.stack([(gt[:, 0] + gt[:, 1]) / 2, gt[:, 1] - gt[:, 0]], -1)
            l1 = l1 + F.l1_loss(span[i, rows], gt_cw, reduction="sum")
            _, g = pairwise_iou_giou(cw_to_se(span[i, rows]), gt)
            giou = giou + (1 - g.diagonal()).sum()
            target_cls[i, rows] = 0
            n += len(rows)
        weight = torch.tensor([1.0, c.eos_coef])
        cls = F.cross_entropy(logit.transpose(1, 2), target_cls, weight=weight)
        n = max(n, 1)
        return c.w_l1 * l1 / n + c.w_giou * giou / n + c.w_cls * cls

    def loss(self, b: Batch) -> dict[str, torch.Tensor]:
        spans, logits, saliency = self(b)
        losses = {f"set_{i}": self._set_loss(s, lg, b) for i, (s, lg) in enumerate(zip(spans, logits, strict=True))}
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
