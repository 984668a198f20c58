"""TeachCLIP (Tian et al., CVPR 2024; survey [40]): a fine-grained teacher distilled into a
mean-pooling-cost student with attentional frame aggregation.

Two stages in one ``fit``:

1. **Teacher**: a fine-grained frame-word model over the *frozen* ILFM's features (the role of
   X-CLIP / TS2-Net in the paper): frame embeddings with a temporal convolution (so a frame
   knows its neighbours) and the caption's word tokens, projected to a shared space, scored by
   token-wise interaction (each word's best frame and each frame's best word, averaged both
   ways), trained with InfoNCE. Strong but slow at retrieval time: it compares every word with
   every frame of every video.
2. **Student**: the ILFM fine-tuned end to end (as CLIP4Clip), whose video is its frames
   weighted by **AFA** (attentional frame-feature aggregation: a small MLP scores each frame,
   softmax over frames): one vector a video, as cheap as mean pooling. Trained with InfoNCE plus
   the teacher's two kinds of knowledge: *video-level* (KL to the teacher's text→video
   distribution over the batch) and *frame-level* (cross-entropy of AFA's weights to the
   teacher's caption-frame relevance).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from i2vbench.methods.backbones.base import ILFM
from i2vbench.methods.paradigms.common import freeze
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig
from i2vbench.methods.vtr.base import (
    VTRBatch,
    VTRConfig,
    VTRMethod,
    VTRSplit,
    frame_embeddings,
    info_nce,
    symmetric_cross_entropy,
    text_embeddings,
)


class FrameWordTeacher(VTRMethod):
    """Token-wise frame × word interaction on frozen ILFM features (X-CLIP-style fine-grained score)."""

    def __init__(self, video_dim: int, word_dim: int, dim: int, train: TrainConfig) -> None:
        super().__init__()
        self.train_config = train
        self.temporal = nn.Conv1d(video_dim, video_dim, 3, padding=1)
        nn.init.zeros_(self.temporal.weight)
        nn.init.zeros_(self.temporal.bias)
        self.frame_proj = nn.Linear(video_dim, dim)
        self.word_proj = nn.Linear(word_dim, dim)
        self.init_temperature(None)

    def frames(self, b: VTRBatch) -> torch.Tensor:
        x = b.pooled + self.temporal(b.pooled.transpose(1, 2)).transpose(1, 2)
        return F.normalize(self.frame_proj(x), dim=-1)  # (B, F, d)

    def words(self, b: VTRBatch) -> torch.Tensor:
        return F.normalize(self.word_proj(b.text_tokens), dim=-1)  # (B, L, d)

    def scores(self, words: torch.Tensor, mask: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """(texts, videos) fine-grained similarity: mean over words of their best frame, and
        mean over frames of their best (real) word, averaged."""
        s = torch.einsum("tld,vfd->tvlf", words, frames)
        s = s.masked_fill(~mask[:, None, :, None], -1e4)
        m = mask[:, None, :].float()
        word_to_frame = (s.amax(-1) * m).sum(-1) / m.sum(-1).clamp_min(1)
        frame_to_word = s.amax(-2).mean(-1)
        return (word_to_frame + frame_to_word) / 2

    def loss(self, b: VTRBatch) -> dict[str, torch.Tensor]:
        logits = self.logit_scale.exp().clamp(max=100) * self.scores(self.words(b), b.text_mask, self.frames(b))
        return {"teacher_nce": symmetric_cross_entropy(logits)}


@dataclass
class TeachCLIPConfig(VTRConfig):
    teacher_dim: int = 128
    teacher_epochs: int = 20
    teacher_lr: float = 2e-3
    afa_hidden: int = 128
    w_video: float = 1.0  # video-level distillation (KL over the batch's text→video distribution)
    w_frame: float = 1.0  # frame-level distillation (AFA weights vs the teacher's frame relevance)
    tau: float = 0.05
    backbone_lr_scale: float = 0.1
    # on SynthVid's val split (seed 0, 8 epochs): lr 2e-3 vs 1e-3 gave val R@1 36.0 vs 34.0; 6 epochs instead of 8
    # (issue 13: the default run's time; 6, not 5: at lr 1e-3, seed 0, 5 epochs had cost 2.7 val R@1): val R@1 over
    # seeds 0-2 33.78 ± 2.14 (8: 35.11 ± 2.14; −2 queries, 0.8 standard errors of the difference; records
    # 20261202-041710-…-seeds0-2x3, 20261201-120124-…). The teacher keeps its 20 epochs (~1 % of the run's CPU)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=6, lr=2e-3, batch_size=32))


@register_method("teachclip", task="vtr", paradigm="knowledge_distillation", display="TeachCLIP",
                 survey_row="TeachCLIP", ref=40,
                 paper="Holistic Features are almost Sufficient for Text-to-Video Retrieval")
class TeachCLIP(VTRMethod):
    """A frozen-feature frame-word teacher distilled into a fine-tuned ILFM with attentional frame aggregation."""

    config_class = TeachCLIPConfig
    needs = frozenset({"frames", "pooled", "text_tokens"})
    uses_frames = True

    def __init__(self, backbone: ILFM, video_dim: int, text_dim: int, config: TeachCLIPConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or TeachCLIPConfig()
        self.train_config = c.train
        self.backbone = backbone
        for p in backbone.parameters():
            p.requires_grad_(True)
        self.teacher = FrameWordTeacher(video_dim, text_dim, c.teacher_dim,
                                        TrainConfig(epochs=c.teacher_epochs, lr=c.teacher_lr, batch_size=c.train.batch_size))
        self.afa = nn.Sequential(nn.Linear(backbone.embed_dim, c.afa_hidden), nn.ReLU(), nn.Linear(c.afa_hidden, 1))
        self.init_temperature(backbone)

    def train_steps(self, n_items: int) -> int:
        return super().train_steps(n_items) + self.teacher.train_steps(n_items)

    def fit(self, train: VTRSplit, seed: int = 0, progress: bool = True) -> list[float]:
        self.teacher.fit(train, seed=seed, progress=progress)
        freeze(self.teacher)
        return super().fit(train, seed=seed, progress=progress)

    def _frames_and_weights(self, b: VTRBatch) -> tuple[torch.Tensor, torch.Tensor]:
        frames = frame_embeddings(self.backbone, b.frames)  # (B, F, D)
        return frames, self.afa(frames).squeeze(-1).softmax(-1)

    def embed_videos(self, b: VTRBatch) -> torch.Tensor:
        frames, w = self._frames_and_weights(b)
        return (w[..., None] * frames).sum(1)

    def embed_texts(self, b: VTRBatch) -> torch.Tensor:
        return text_embeddings(self.backbone, b.texts)

    def loss(self, b: VTRBatch) -> dict[str, torch.Tensor]:
        c = self.config
        frames, w = self._frames_and_weights(b)
        video, text = (w[..., None] * frames).sum(1), self.embed_texts(b)
        losses = {"nce": info_nce(video, text, self.logit_scale)}
        with torch.no_grad():
            t_frames = self.teacher.frames(b)
            t_video = (self.teacher.scores(self.teacher.words(b), b.text_mask, t_frames) / c.tau).softmax(-1)
            # frame-level: how well each frame of a video matches its own caption, by the teacher
            words = self.teacher.words(b)
            s = torch.einsum("bld,bfd->blf", words, t_frames).masked_fill(~b.text_mask[..., None], -1e4)
            t_frame = (s.amax(1) / c.tau).softmax(-1)  # (B, F): each frame's best word
        student = (F.normalize(text, dim=-1) @ F.normalize(video, dim=-1).T / c.tau).log_softmax(-1)
        losses["video_distill"] = c.w_video * F.kl_div(student, t_video, reduction="batchmean")
        losses["frame_distill"] = c.w_frame * -(t_frame * w.clamp_min(1e-8).log()).sum(-1).mean()
        return losses


