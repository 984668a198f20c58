"""Two captioners that generate nothing: what a trained captioner has to beat.

- :class:`NearestCaption`: the frozen ILFM as a retrieval model (zero-shot): the training caption
  whose embedding is closest to the mean of the video's frame embeddings.
- :class:`ConsensusCaption`: one sentence for every video: the training caption with the highest
  mean CIDEr consensus with all training captions (how typical a sentence is of the corpus).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from i2vbench.methods.captioning.base import CaptionSplit, make_batch
from i2vbench.methods.captioning.decoder import words
from i2vbench.methods.registry import register_method
from i2vbench.methods.trainable import TrainableMethod, TrainingFree


@dataclass
class BaselineConfig:
    pass


class _Retrieved(TrainingFree, TrainableMethod):
    config_class = BaselineConfig

    def __init__(self, config: BaselineConfig | None = None) -> None:
        super().__init__()
        self.config = config or BaselineConfig()


@register_method("nearest_caption", task="captioning", paradigm=None, display="Nearest training caption (zero-shot ILFM)")
class NearestCaption(_Retrieved):
    """The training caption nearest to the video by the frozen ILFM's cosine similarity."""

    needs = frozenset({"pooled"})

    def start_fit(self, train: CaptionSplit) -> None:
        if train.text_pooled is None:
            raise ValueError("nearest_caption needs the frozen ILFM's embeddings of the training captions")
        self.texts = list(train.texts)
        t = train.text_pooled
        self.text = t / np.linalg.norm(t, axis=1, keepdims=True).clip(1e-8)

    def captions(self, split: CaptionSplit) -> list[str]:
        v = make_batch(split, np.arange(len(split)), False, False, False).pooled.mean(1).numpy()
        v = v / np.linalg.norm(v, axis=1, keepdims=True).clip(1e-8)
        return [self.texts[i] for i in (v @ self.text.T).argmax(1)]


def consensus_scores(captions: list[str], groups: np.ndarray, n: int = 4) -> np.ndarray:
    """Each caption's mean CIDEr-style consensus with all ``captions``: for every n-gram order,
    the cosine of its tf-idf vector (document frequency over the ``groups``, one per video, as
    CIDEr counts it over an image's references) with each caption's, averaged over captions and
    orders. The mean of cosines is the cosine with the mean of the unit vectors, so each caption
    costs one dot product."""
    toks = [[w for w in words(c) if w.isalnum()] for c in captions]
    n_docs = len(set(groups.tolist()))
    out = np.zeros(len(captions))
    for k in range(1, n + 1):
        grams = [Counter(tuple(t[i:i + k]) for i in range(len(t) - k + 1)) for t in toks]
        df: Counter = Counter()
        for g in {(gram, int(d)) for c, d in zip(grams, groups, strict=True) for gram in c}:
            df[g[0]] += 1
        vecs = []
        for c in grams:
            vec = {g: tf * math.log(n_docs / df[g]) for g, tf in c.items()}
            norm = math.sqrt(sum(x * x for x in vec.values())) or 1.0
            vecs.append({g: x / norm for g, x in vec.items()})
        mean: Counter = Counter()
        for vec in vecs:
            mean.update(vec)
        out += np.array([sum(x * mean[g] for g, x in vec.items()) / len(vecs) for vec in vecs])
    return out / n


@register_method("consensus_caption", task="captioning", paradigm=None, display="Consensus caption")
class ConsensusCaption(_Retrieved):
    """The single most typical training caption (highest mean consensus with the rest), for every video."""

    def start_fit(self, train: CaptionSplit) -> None:
        self.caption = train.texts[int(np.argmax(consensus_scores(train.texts, train.text_video)))]

    def captions(self, split: CaptionSplit) -> list[str]:
        return [self.caption] * len(split)
