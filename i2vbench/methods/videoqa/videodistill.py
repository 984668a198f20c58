"""VideoDistill (Zou et al., CVPR 2024, "Language-aware Visual Semantic Distillation for Video
Question Answering"; survey [34]): language-aware frame selection, distilled from the frozen
ILFM, then reasoning over the frames it keeps.

Mechanism kept: a *selector* scores every frame against the question and each option from
its own small projections, and is trained by distillation (KL divergence) towards the frozen
ILFM's frame-text similarities (cosine of the frame embedding with the embedding of "question +
option", a softmax over frames at temperature ``teacher_tau``): the teacher knows which frames
the words are about, the student learns it in a space the QA model shares. The ``keep`` frames
it scores highest are kept in temporal order (a hard top-k, as the paper's differentiable
sparse sampling ends in a sparse set) and a small temporal transformer (positions + motion
channels) reads only them; each option's query attends over its kept frames. Dropped: the
paper's goal-driven multi-stage refinement and its vision-language encoder-decoder (one
reader here).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from i2vbench.methods.paradigms.common import temporal_differences
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig
from i2vbench.methods.videoqa.base import QABatch, QAHead, QAMethod, attend


@dataclass
class VideoDistillConfig:
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    keep: int = 8  # frames kept per (question, option)
    teacher_tau: float = 0.05
    distill_weight: float = 1.0
    dropout: float = 0.1
    max_frames: int = 64
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20, lr=1e-3, batch_size=32))


@register_method("videodistill", task="videoqa", paradigm="knowledge_distillation", display="VideoDistill",
                 survey_row="VideoDistill", ref=34,
                 paper="Language-aware Visual Semantic Distillation for Video Question Answering")
class VideoDistill(QAMethod):
    """Frame selector distilled from the frozen ILFM's frame-text similarities; reasoning on the kept frames."""

    config_class = VideoDistillConfig
    needs = frozenset({"pooled", "text_tokens"})

    def __init__(self, video_dim: int, text_dim: int, config: VideoDistillConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or VideoDistillConfig()
        self.train_config = c.train
        self.head = QAHead(text_dim, c.hidden, c.dropout)
        self.select_frame = nn.Linear(video_dim, c.hidden)
        self.select_text = nn.Linear(2 * c.hidden, c.hidden)
        self.frame = nn.Linear(4 * video_dim, c.hidden)
        self.pos = nn.Parameter(torch.randn(c.max_frames, c.hidden) * 0.02)
        layer = nn.TransformerEncoderLayer(c.hidden, c.heads, 2 * c.hidden, c.dropout, batch_first=True,
                                           norm_first=True)
        self.reader = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.query = nn.Linear(2 * c.hidden, c.hidden)

    def selection(self, b: QABatch, q: torch.Tensor, cands: torch.Tensor) -> torch.Tensor:
        """(B, K, T) the student's frame logits for each (question, option)."""
        text = self.select_text(torch.cat([q.unsqueeze(1).expand_as(cands), cands], -1))
        return text @ self.select_frame(b.frames).transpose(1, 2) / text.shape[-1] ** 0.5

    def teacher(self, b: QABatch) -> torch.Tensor:
        """(B, K, T) the frozen ILFM's frame distribution for each "question + option"."""
        sim = F.normalize(b.joint, dim=-1) @ F.normalize(b.raw_frames, dim=-1).transpose(1, 2)
        return torch.softmax(sim / self.config.teacher_tau, dim=-1)

    def answer(self, b: QABatch, q: torch.Tensor, cands: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        bsz, k, t = logits.shape
        keep = min(self.config.keep, t)
        idx = logits.detach().topk(keep, dim=-1).indices.sort(-1).values  # (B, K, keep) in temporal order
        states = self.frame(temporal_differences(b.frames)) + self.pos[:t]  # (B, T, H)
        kept = torch.gather(states.unsqueeze(1).expand(bsz, k, t, -1), 2,
                            idx.unsqueeze(-1).expand(-1, -1, -1, states.shape[-1]))
        h = self.reader(kept.flatten(0, 1)).view(bsz, k, keep, -1)  # each option reads its own frames
        query = self.query(torch.cat([q.unsqueeze(1).expand_as(cands), cands], -1))
        read = attend(query.flatten(0, 1).unsqueeze(1), h.flatten(0, 1)).view(bsz, k, -1)
        return self.head(read + q.unsqueeze(1), cands)

    def forward(self, b: QABatch) -> torch.Tensor:
        q, cands = self.head.embed(b)
        return self.answer(b, q, cands, self.selection(b, q, cands))

    def loss(self, b: QABatch) -> dict[str, torch.Tensor]:
        q, cands = self.head.embed(b)
        logits = self.selection(b, q, cands)
        ce = F.cross_entropy(self.answer(b, q, cands, logits).float(), b.answer)
        kl = F.kl_div(torch.log_softmax(logits, -1), self.teacher(b), reduction="batchmean") / logits.shape[1]
        return {"ce": ce, "distill": self.config.distill_weight * kl}
