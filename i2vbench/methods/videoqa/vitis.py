"""ViTiS (Engin & Avrithis, ICCV 2023 workshops, "Zero-Shot and Few-Shot Video Question Answering
with Multi-Modal Prompts"; survey [129]): the video enters a frozen language model as prompts.

Mechanism kept: the frozen model stays frozen; a visual mapping turns the video's frozen frame
embeddings (with positions and motion channels) into prompt tokens, which every block of the
frozen *text tower* reads beside the words of "question + option", each block through its own
projection and with its own learnable prompt tokens (multi-modal prompts,
:class:`~i2vbench.methods.paradigms.prompt.ConditionalPrompts`). The tower's pooled output is
the candidate's video-side vector for the shared QA head. Miniature: the ILFM's text tower (2
blocks) stands for ViTiS's frozen LM (the MLLM pattern with tinylm is BIMBA's); dropped: the
paper's pretraining of the mapping on video-text data and its masked-LM answer decoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from i2vbench.devices import autocast
from i2vbench.methods.backbones.base import ILFM
from i2vbench.methods.paradigms.common import freeze, temporal_differences
from i2vbench.methods.paradigms.prompt import ConditionalPrompts, insert_prompts, prompt_context
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig
from i2vbench.methods.videoqa.base import QABatch, QAHead, QAMethod


@dataclass
class ViTiSConfig:
    hidden: int = 128
    prompts: int = 4  # static learnable prompts per block, beside the video's
    dropout: float = 0.1
    max_frames: int = 64
    # epochs set by the default run's CPU budget (300 s on 2 cores for all four sets), not tuned on val
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=8, lr=1e-3, batch_size=32))


@register_method("vitis", task="videoqa", paradigm="prompt_tuning", display="ViTiS", survey_row="ViTiS", ref=129,
                 paper="Zero-Shot and Few-Shot Video Question Answering with Multi-Modal Prompts")
class ViTiS(QAMethod):
    """Frozen ILFM text tower reading "question + option" with video prompts in every block."""

    config_class = ViTiSConfig
    needs = frozenset({"pooled", "text_tokens"})
    with_texts = True

    def __init__(self, backbone: ILFM, video_dim: int, text_dim: int, config: ViTiSConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or ViTiSConfig()
        self.train_config = c.train
        self.backbone = freeze(backbone)
        self.visual = nn.Linear(4 * video_dim, c.hidden)  # frame + motion channels (3 spans)
        self.pos = nn.Parameter(torch.randn(c.max_frames, c.hidden) * 0.02)
        width = backbone.text_blocks[0].parameters().__next__().shape[-1]
        insert_prompts(backbone.text_blocks, lambda i: ConditionalPrompts(c.prompts, width, c.hidden))
        self.out = nn.Linear(backbone.embed_dim, c.hidden)
        self.head = QAHead(text_dim, c.hidden, c.dropout)

    def forward(self, b: QABatch) -> torch.Tensor:
        _, cands = self.head.embed(b)
        bsz, k = cands.shape[:2]
        video = self.visual(temporal_differences(b.frames)) + self.pos[: b.frames.shape[1]]  # (B, T, H)
        context = video.unsqueeze(1).expand(bsz, k, *video.shape[1:]).flatten(0, 1)
        texts = [t for row in b.texts for t in row]
        with prompt_context(context), autocast():
            pooled = self.backbone.encode_text(texts).pooled.float()
        return self.head(self.out(pooled).view(bsz, k, -1), cands)
