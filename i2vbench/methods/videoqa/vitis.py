"""ViTiS (Engin & Avrithis, ICCV 2023 workshops, "Zero-Shot and Few-Shot Video Question Answering
with Multi-Modal Prompts"; survey [129]): the video enters a frozen language model as prompts.

Mechanism kept: the frozen model stays frozen; a visual mapping turns the video into prompt
tokens, which every block of the frozen *text tower* reads beside the words of "question +
option", each block through its own projection and with its own learnable prompt tokens
(multi-modal prompts, :class:`~i2vbench.methods.paradigms.prompt.ConditionalPrompts`). The
tower's pooled output is the candidate's video-side vector for the shared QA head.

The visual mapping reads what a frozen ILFM gives as the temporal methods do
(:class:`~i2vbench.methods.videoqa.base.FrameStates`: the pooled frame embedding with its motion
channels, and the last block's patch grid with its motion, i.e. which object is where and where
it goes), with positions: one prompt token per frame. Beside them, one token per option that says
*when*: a :class:`~i2vbench.methods.videoqa.base.WhenReader` over the frame tokens (what the
option's query reads and when, against when the question's query reads). The paper pretrains its
mapping network on video-text data; the miniature trains its mapping, where the training split
has them, on the training videos' timed captions (SynthVid-NExT-QA: each event's sentence on its
frames, the events played backwards on none, the question on the event it names:
:func:`~i2vbench.methods.videoqa.base.timed_caption_losses`), beside the answer loss. Miniature:
the ILFM's text tower (2 blocks) stands for ViTiS's frozen LM (the MLLM pattern with tinylm is
BIMBA's); dropped: the pretraining on a video-text corpus and the masked-LM answer decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from i2vbench.devices import autocast
from i2vbench.methods.backbones.base import ILFM
from i2vbench.methods.paradigms.common import freeze
from i2vbench.methods.paradigms.prompt import ConditionalPrompts, insert_prompts, prompt_context
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig
from i2vbench.methods.videoqa.base import (
    FrameStates,
    QABatch,
    QAHead,
    QAMethod,
    WhenReader,
    timed_caption_losses,
)


@dataclass
class ViTiSConfig:
    hidden: int = 128
    prompts: int = 4  # static learnable prompts per block, beside the video's
    frame_prompts: int = 1  # video prompts beside each option's "when" prompt: the frames averaged in this many spans
    caption_weight: float = 1.0  # the mapping's training on timed captions (training splits that have them)
    match: bool = True  # each option's read also says how strongly its best frame matches it
    grid: bool = True  # the patch grid's motion beside the pooled frame embedding
    grid_cell: int = 8  # width each grid cell is projected to
    dropout: float = 0.1
    max_frames: int = 64
    # epochs set by the default run's CPU budget (300 s on 2 cores for all four sets), not tuned on val
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=8, lr=1e-3, batch_size=32))
    # SynthVid-NExT-QA val (seed 0; the timed captions train the mapping), at lr 2e-3: one prompt per frame, 8 epochs,
    # Acc_T 19.8; the "when" prompt alone 24.4 but Acc_D 23.8 (chance); with the mean frame, 12 epochs, 22.4, with
    # caption weight 3, 23.8 (Acc_D 46.3; 8 epochs 21.8) (docs/tasks/videoqa.md, configs in
    # tools/sweeps/videoqa). The other sets keep 8 epochs at lr 1e-3 (no captions there). The default run's 300 s
    # budget (issue 14) then chose on val (seed 0; tools/sweeps/videoqa/budget_*): 8 epochs on NExT-QA (Acc_T 21.8
    # against 23.8 at 12; ATP 16.0), 6 on MSVD-QA (Acc 60.1 against 57.7 at 8, 47.6 at 4); MSRVTT-MC keeps 8 (58.7
    # at 6 against 59.3, too near zero-shot's 56.7).
    dataset_recipes: ClassVar[dict[str, dict]] = {"synthvid-nextqa": {"epochs": 8, "lr": 2e-3, "caption_weight": 3.0},
                                                  "synthvid-msvd-qa": {"epochs": 6}}


@register_method("vitis", task="videoqa", paradigm="prompt_tuning", display="ViTiS", survey_row="ViTiS", ref=129,
                 paper="Zero-Shot and Few-Shot Video Question Answering with Multi-Modal Prompts")
class ViTiS(QAMethod):
    """Frozen ILFM text tower reading "question + option" with video prompts in every block."""

    config_class = ViTiSConfig
    needs = frozenset({"pooled", "text_tokens", "layers"})
    with_texts = True

    def __init__(self, backbone: ILFM, video_dim: int, text_dim: int, grid_shape: tuple[int, int] = (16, 128),
                 config: ViTiSConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or ViTiSConfig()
        self.train_config = c.train
        self.backbone = freeze(backbone)
        self.visual = FrameStates(video_dim, c.hidden, grid_shape if c.grid else None, c.grid_cell, c.dropout)
        self.pos = nn.Parameter(torch.randn(c.max_frames, c.hidden) * 0.02)
        self.when = WhenReader(c.hidden, c.match)
        width = backbone.text_blocks[0].parameters().__next__().shape[-1]
        insert_prompts(backbone.text_blocks, lambda i: ConditionalPrompts(c.prompts, width, c.hidden))
        self.out = nn.Linear(backbone.embed_dim, c.hidden)
        self.head = QAHead(text_dim, c.hidden, c.dropout)

    def mapped(self, b: QABatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(question (B, H), candidates (B, K, H), frame tokens (B, T, H), prompts (B, K, P, H))."""
        q, cands = self.head.embed(b)
        t = b.frames.shape[1]
        frames = self.visual(b) + self.pos[:t]
        times = torch.linspace(0, 1, t).expand(len(frames), -1)
        when = self.when(q, cands, frames, times).unsqueeze(2)  # (B, K, 1, H)
        if self.config.frame_prompts:  # what the video shows, span by span
            spans = nn.functional.adaptive_avg_pool1d(frames.transpose(1, 2), self.config.frame_prompts).transpose(1, 2)
            when = torch.cat([when, spans.unsqueeze(1).expand(-1, cands.shape[1], -1, -1)], 2)
        return q, cands, frames, when

    def _score(self, b: QABatch, cands: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        bsz, k = cands.shape[:2]
        texts = [t for row in b.texts for t in row]
        with prompt_context(prompts.flatten(0, 1)), autocast():
            pooled = self.backbone.encode_text(texts).pooled.float()
        return self.head(self.out(pooled).view(bsz, k, -1), cands)

    def forward(self, b: QABatch) -> torch.Tensor:
        _, cands, _, prompts = self.mapped(b)
        return self._score(b, cands, prompts)

    def loss(self, b: QABatch) -> dict[str, torch.Tensor]:
        q, cands, frames, prompts = self.mapped(b)
        out = {"ce": nn.functional.cross_entropy(self._score(b, cands, prompts).float(), b.answer)}
        out.update(timed_caption_losses(b, self.when, self.head.candidate, q, frames, self.config.caption_weight))
        return out
