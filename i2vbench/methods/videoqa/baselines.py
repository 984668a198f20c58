"""The two baselines every VideoQA table needs: what the answers' frequencies alone give, and what
the ILFM knows without training."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainingFree
from i2vbench.methods.videoqa.base import QABatch, QAMethod, QASplit


def _tie_break(text: str) -> float:
    """A fixed pseudo-random number per string in [0, 1): ties between equally frequent answers are
    broken by it, never by the option's position (How2QA's correct option is always last)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") / 2**32


@dataclass
class PriorConfig:
    pass


@register_method("prior", task="videoqa", paradigm=None, display="Answer prior (per question type)")
class AnswerPrior(TrainingFree, QAMethod):
    """Language-prior baseline: each candidate scored by how often it was the answer to training
    questions of the same type; no video, no question words."""

    config_class = PriorConfig

    def __init__(self, config: PriorConfig | None = None) -> None:
        super().__init__()
        self.config = config or PriorConfig()
        self.counts: dict[str, Counter] = defaultdict(Counter)

    def start_fit(self, train: QASplit) -> None:
        for i, qtype in enumerate(train.qtypes):
            if train.answer_index[i] >= 0:
                self.counts[qtype][train.candidate_texts(i)[train.answer_index[i]]] += 1

    def predict(self, split: QASplit, batch_size: int = 64) -> np.ndarray:
        return np.array([[self.counts[q][c] + 0.5 * _tie_break(c) for c in split.candidate_texts(i)]
                         for i, q in enumerate(split.qtypes)], dtype=np.float64)


@dataclass
class ZeroShotConfig:
    pass


@register_method("zero_shot", task="videoqa", paradigm=None, display="Zero-shot ILFM")
class ZeroShot(TrainingFree, QAMethod):
    """Training-free baseline: cosine of the mean frame embedding with the ILFM's embedding of
    "question candidate" (the video against each option, or each vocabulary answer)."""

    config_class = ZeroShotConfig
    needs = frozenset({"pooled", "text_tokens"})

    def __init__(self, config: ZeroShotConfig | None = None) -> None:
        super().__init__()
        self.config = config or ZeroShotConfig()

    def forward(self, b: QABatch) -> torch.Tensor:
        video = F.normalize(b.raw_frames.mean(1), dim=-1)
        return (F.normalize(b.joint, dim=-1) @ video.unsqueeze(-1)).squeeze(-1)
