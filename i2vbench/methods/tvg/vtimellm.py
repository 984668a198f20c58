"""VTimeLLM (Huang et al., CVPR 2024; survey [96]) in miniature: an LLM that says when.

The survey's TVG row "VTimeLLM" (fine-tuning with extra models, on LLaVA). Its mechanism: a
frozen CLIP encodes 100 uniformly sampled frames (one [CLS] embedding each); a linear projector
maps them into the LLM's input as 100 visual tokens; the LLM (Vicuna) answers a grounding
question in text with the boundaries as *frame indices* ("From 05 to 45."), trained with the
next-token loss on the answer only; LoRA adapts the LLM after the projector's alignment stage.

The miniature keeps: frozen ILFM pooled frame embeddings (the run's tinyclip features),
resampled uniformly to ``frames`` visual tokens; a linear projector; the pretrained causal LM
(``tinylm``, or any ``hf:<dir>`` causal LM) tuned with LoRA; the answer written as text with
frame indices, ``from <t_s> to <t_e>.``, where ``<t_i>`` is frame ``i`` of the ``frames``
sampled (VTimeLLM's two-digit indices are our time tokens, learned here from their random init,
as tinylm's vocabulary has no digits); the teacher-forced loss on the answer tokens only
(:class:`~i2vbench.methods.mllm.MLLM`); decoding by beam search, whose beams give the ranked
windows (constrained to the answer's grammar and to end >= start).

It drops: the 7B/13B LLM and ViT-L; VTimeLLM's first two stages (image-text alignment on
LCS-558K and boundary perception on InternVid dense captions; here the projector and LoRA learn
in the one grounding stage, from the task's training queries); dialogue and instruction data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from i2vbench.methods.backbones.lm import DEFAULT_LM, load_lm
from i2vbench.methods.mllm import MLLM, SpanAnswer, time_bins
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainConfig
from i2vbench.methods.tvg.base import TVGMethod
from i2vbench.methods.tvg.data import Batch, TVGSplit


@dataclass
class VTimeLLMConfig:
    frames: int = 32  # visual tokens = time tokens <t0>..<t{frames-1}> (VTimeLLM: 100 frames)
    lm: str = DEFAULT_LM  # the LLM: "tinylm" or "hf:<dir>"
    lm_pretrained: str | None = None  # another checkpoint of it (a directory)
    tuning: str = "lora"  # frozen | lora | full (the LLM; the projector and time tokens always learn)
    lora_rank: int = 8
    lora_alpha: float = 16.0
    projector: str = "linear"  # VTimeLLM's visual adapter is one linear layer
    num_beams: int = 5  # ranked windows per query
    # add each frame's time token embedding to its visual token (VTG-LLM / TimeChat's absolute
    # time tokens; not VTimeLLM's, which leaves frame indices to the LLM's positions). Off: on
    # SynthVid TVG val (seed 0, 10 epochs, lr 5e-3) 16.71 mIoU with it, 16.99 without
    frame_time_tokens: bool = False
    # chosen on SynthVid TVG val (seed 0): LoRA at lr 5e-3 16.99 mIoU after 10 epochs and 17.27
    # after 20; full tuning at 2e-3 (with frame time tokens, 10 epochs) 16.46; the prior is at 14.85
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20, lr=5e-3, batch_size=32,
                                                                   weight_decay=0.0, grad_clip=1.0))


class TimestampedFrames(nn.Module):
    """A projector whose i-th output token also carries the embedding of time token ``<t_i>``:
    the frame's index said in the LM's own vocabulary, the token the answer names it with."""

    def __init__(self, projector: nn.Module, mllm: MLLM, time_ids: list[int]) -> None:
        super().__init__()
        self.projector = projector
        self._embed = mllm.embed  # a bound method: the MLLM's (tuned) token rows, not a submodule
        self.register_buffer("time_ids", torch.tensor(time_ids), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(x) + self._embed(self.time_ids[:x.shape[-2]])


class PromptedBatch(NamedTuple):
    features: Batch  # the TVG batch (standardised clip features, windows, durations)
    prompts: list[list[int]]  # each query's words as LM token ids


# Not in the default `bench run --task tvg`: `--methods prior,vtimellm` with this recipe took 152
# CPU-s (features from the cache, training and beam-search decoding of val + test), and the default
# run already keeps both cores busy for ~290 s of its 300 s wall budget: ~75 s more would break it.
# Run it by name: bench run --task tvg --methods prior,vtimellm
@register_method("vtimellm", task="tvg", paradigm="extra_models", display="VTimeLLM (tinylm)",
                 survey_row="VTimeLLM", ref=96, paper="VTimeLLM: Empower LLM to Grasp Video Moments",
                 in_default_run=False)
class VTimeLLM(TVGMethod):
    """Frozen frame embeddings → linear projector → LoRA-tuned tinylm answering "from <t_s> to <t_e>."."""

    config_class = VTimeLLMConfig
    needs = frozenset({"pooled"})

    def __init__(self, video_dim: int, config: VTimeLLMConfig | None = None) -> None:
        super().__init__()
        c = self.config = config or VTimeLLMConfig()
        self.train_config = c.train
        lm = load_lm(c.lm, c.lm_pretrained)
        self.span = SpanAnswer(lm, c.frames)
        self.times = self.span.times
        self.mllm = MLLM(lm, video_dim, tuning=c.tuning, lora_rank=c.lora_rank, lora_alpha=c.lora_alpha,
                         projector=c.projector, tuned_token_ids=self.times)
        if c.frame_time_tokens:
            self.mllm.projector = TimestampedFrames(self.mllm.projector, self.mllm, self.times)
        self.word = self.span.word
        self._prompts: dict[str, list[int]] = {}

    def batch(self, split: TVGSplit, idx: np.ndarray) -> PromptedBatch:
        lm = self.mllm.lm
        for i in idx:
            q = split.queries[i].query
            if q not in self._prompts:
                self._prompts[q] = lm.encode(q)
        return PromptedBatch(super().batch(split, idx), [self._prompts[split.queries[i].query] for i in idx])

    def frames_of(self, b: Batch) -> torch.Tensor:
        """(B, frames, D): each video's clip features resampled uniformly to ``frames`` tokens
        (nearest clip to each of ``frames`` evenly spaced instants), as VTimeLLM samples frames."""
        n = (~b.video_pad).sum(1)
        centres = (torch.arange(self.config.frames) + 0.5) / self.config.frames
        idx = (centres[None] * n[:, None]).long().clamp(max=(n - 1)[:, None])
        return b.video.gather(1, idx[..., None].expand(-1, -1, b.video.shape[-1]))

    def answer(self, start: float, end: float) -> list[int]:
        """Normalised [start, end] → ``from <t_s> to <t_e> .``: the first and last frame the
        window covers (a frame covers [i, i + 1) / frames of the video)."""
        return self.span.ids(*time_bins(start, end, self.config.frames))

    def loss(self, batch: PromptedBatch) -> dict[str, torch.Tensor]:
        b = batch.features
        answers = [self.answer(*map(float, w[0])) for w in b.windows]
        return {"answer_nll": self.mllm.loss(self.frames_of(b), None, batch.prompts, answers)}

    def predict_batch(self, batch: PromptedBatch) -> list[np.ndarray]:
        b = batch.features
        out = self.mllm.generate(self.frames_of(b), None, batch.prompts, max_new_tokens=6,
                                 num_beams=self.config.num_beams, constraint=self.span.constraint)
        f, t0 = self.config.frames, self.times[0]
        windows = []
        for i, beams in enumerate(out):
            rows = [[(ids[1] - t0) / f, (ids[3] - t0 + 1) / f, np.exp(score)] for ids, score in beams if len(ids) >= 4]
            w = np.array(rows, dtype=float).reshape(-1, 3)
            w[:, :2] *= float(b.duration[i])
            windows.append(w[np.argsort(-w[:, 2], kind="stable")])
        return windows
